//! Femur and tibia from CT intensities against the phantom's true labels, on the paper's
//! CT grid (0.977 x 0.977 x 1 mm), at every grade (advanced knees have narrow joints).

use srrd::phantom::{Config, Grade, Preset, generate_with, scan_specs, truth_sampling};
use srrd::progress::Progress;
use srrd::segmentation::bones::{CT_BONE_HU, FEMUR, TIBIA, dice, segment_bones};
use srrd::segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};

#[test]
fn femur_and_tibia_dice_at_least_095() {
    for (seed, grade) in [(2, Grade::Normal), (3, Grade::Advanced)] {
        let (ct, _) = scan_specs(Preset::Paper);
        let (_, mr) = scan_specs(Preset::Small);
        let config = Config {
            seed,
            grade,
            preset: Preset::Paper,
        };
        let p = generate_with(
            config,
            ct,
            mr,
            truth_sampling(Preset::Small),
            &Progress::new(),
        )
        .expect("phantom");
        let labels = segment_bones(&p.ct, CT_BONE_HU).expect("segment");
        let df = dice(&labels, &p.ct_labels, FEMUR);
        let dt = dice(&labels, &p.ct_labels, TIBIA);
        eprintln!("{grade:?}: Dice femur {df:.4} tibia {dt:.4}");
        assert!(
            df >= 0.95 && dt >= 0.95,
            "{grade:?}: Dice femur {df:.4} tibia {dt:.4}"
        );
        // The subchondral regions lie in their bone's trabecular interior, mostly where the
        // phantom's own (differently defined) region is.
        let regions = subchondral_regions(&labels, DEPTH_MM, CORTEX_MM);
        for (r, bone, lo, hi) in [(1u8, FEMUR, 1u8, 6u8), (2, TIBIA, 7, 12)] {
            let ours: Vec<usize> = (0..regions.len()).filter(|&n| regions[n] == r).collect();
            let in_bone = ours.iter().filter(|&&n| p.ct_labels[n] == bone).count();
            let in_truth = ours
                .iter()
                .filter(|&&n| (lo..=hi).contains(&p.ct_subregions[n]))
                .count();
            let voxel_cm3 = p.ct.geometry.spacing_mm.product() / 1000.0;
            let (f_bone, f_truth) = (
                in_bone as f64 / ours.len() as f64,
                in_truth as f64 / ours.len() as f64,
            );
            eprintln!(
                "region {r}: {:.1} cm3, {f_bone:.3} in bone, {f_truth:.3} in the phantom's region",
                ours.len() as f64 * voxel_cm3
            );
            assert!(ours.len() as f64 * voxel_cm3 > 10.0, "region {r} too small");
            assert!(
                f_bone > 0.99 && f_truth > 0.6,
                "region {r}: {f_bone} {f_truth}"
            );
        }
    }
}
