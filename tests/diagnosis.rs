//! Diagnosis on phantoms: the image-derived subregions agree with the phantom's own
//! anatomical subregions, whatever the knee's pose.

use srrd::diagnosis::subregions::subregions;
use srrd::phantom::{Config, Grade, Phantom, Preset, generate_with, scan_specs, truth_sampling};
use srrd::progress::Progress;
use srrd::segmentation::bones::{CT_BONE_HU, segment_bones};
use srrd::segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};

fn phantom(seed: u64) -> Phantom {
    let (ct, _) = scan_specs(Preset::Paper);
    let (_, mr) = scan_specs(Preset::Small);
    generate_with(
        Config {
            seed,
            grade: Grade::Mild,
            preset: Preset::Small,
        },
        ct,
        mr,
        truth_sampling(Preset::Small),
        &Progress::new(),
    )
    .expect("phantom")
}

#[test]
fn subregions_agree_with_the_phantom_anatomy() {
    for seed in [2, 11] {
        let p = phantom(seed);
        let bones = segment_bones(&p.ct, CT_BONE_HU).expect("bones");
        let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
        let (labels, frame) = subregions(&bones, &regions);
        assert!(
            frame.assumed.is_empty(),
            "fibula and patella found: {}",
            frame.assumed
        );
        // The subregions partition the trabecular regions exactly: no gap, no overlap (one
        // label per voxel), femur labels on the femoral region, tibia on the tibial.
        for (l, r) in labels.iter().zip(&regions) {
            match r {
                0 => assert_eq!(*l, 0),
                1 => assert!((1..=6).contains(l), "femoral voxel labelled {l}"),
                _ => assert!((7..=12).contains(l), "tibial voxel labelled {l}"),
            }
        }
        let (mut both, mut same) = (0usize, 0usize);
        let mut side_agree = (0usize, 0usize);
        for (a, b) in labels.iter().zip(&p.ct_subregions) {
            if *a > 0 && *b > 0 {
                both += 1;
                same += usize::from(a == b);
                // Medial (1-3, 7-9) vs lateral (4-6, 10-12).
                let medial = |l: u8| (l - 1) % 6 < 3;
                side_agree.0 += usize::from(medial(*a) == medial(*b));
                side_agree.1 += 1;
            }
        }
        assert!(both > 1000, "the two definitions overlap: {both} voxels");
        let side = side_agree.0 as f64 / side_agree.1 as f64;
        let agreement = same as f64 / both as f64;
        eprintln!("seed {seed}: medial/lateral {side:.3}, all six {agreement:.3}");
        assert!(side > 0.9, "medial/lateral agree on {side:.3} of voxels");
        assert!(
            agreement > 0.7,
            "subregions agree on {agreement:.3} of voxels"
        );
    }
}

/// The partition holds on other CT grids too (the small preset's 2 mm CT and a finer
/// 1.25x paper grid): every trabecular voxel gets exactly one of its bone's six labels,
/// nothing outside is labelled, and all twelve subregions are present.
#[test]
fn subregions_partition_on_other_ct_grids() {
    use srrd::phantom::scan_specs_scaled;
    let (_, mr) = scan_specs(Preset::Small);
    let (small_ct, _) = scan_specs(Preset::Small);
    let (fine_ct, _) = scan_specs_scaled(1.25);
    for (seed, ct) in [(4, small_ct), (9, fine_ct)] {
        let size = ct.geometry.size;
        let p = generate_with(
            Config {
                seed,
                grade: Grade::Normal,
                preset: Preset::Small,
            },
            ct,
            mr.clone(),
            truth_sampling(Preset::Small),
            &Progress::new(),
        )
        .expect("phantom");
        let bones = segment_bones(&p.ct, CT_BONE_HU).expect("bones");
        let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
        let (labels, _) = subregions(&bones, &regions);
        assert_eq!(labels.len(), regions.len());
        let mut count = [0usize; 13];
        for (l, r) in labels.iter().zip(&regions) {
            match r {
                0 => assert_eq!(*l, 0, "outside the regions on {size:?}"),
                1 => assert!(
                    (1..=6).contains(l),
                    "femoral voxel labelled {l} on {size:?}"
                ),
                _ => assert!(
                    (7..=12).contains(l),
                    "tibial voxel labelled {l} on {size:?}"
                ),
            }
            count[*l as usize] += 1;
        }
        let in_regions = regions.iter().filter(|r| **r > 0).count();
        assert_eq!(
            count[1..].iter().sum::<usize>(),
            in_regions,
            "no gap on {size:?}"
        );
        assert!(
            count[1..].iter().all(|c| *c > 0),
            "all twelve subregions on {size:?}: {count:?}"
        );
    }
}
