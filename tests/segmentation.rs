//! Femur and tibia from CT intensities against the phantom's true labels, on the paper's
//! CT grid (0.977 x 0.977 x 1 mm), at every grade (advanced knees have narrow joints).

use srrd::phantom::{Config, Grade, Preset, generate_with, scan_specs, truth_sampling};
use srrd::progress::Progress;
use srrd::segmentation::bones::{CT_BONE_HU, FEMUR, TIBIA, dice, segment_bones};

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
    }
}
