use super::*;

fn series(index: usize, modality: &str, slices: usize, kernel: &str, desc: &str) -> Group {
    Group {
        info: SeriesInfo {
            index,
            id: format!("1.2.{index}"),
            uid: format!("1.2.{index}"),
            description: desc.into(),
            modality: modality.into(),
            files: slices,
            slices,
            kernel: kernel.into(),
            image_type: "ORIGINAL\\PRIMARY\\AXIAL".into(),
            size: [512, 512],
            plane: "axial".into(),
            split: String::new(),
            file_names: Vec::new(),
        },
        members: Vec::new(),
    }
}

/// A PACS export of one knee: MR (largest), CT soft and bone kernels, a scout.
fn study() -> Vec<Group> {
    let mut scout = series(4, "CT", 2, "", "Topogram 0.6 T20s");
    scout.info.image_type = "ORIGINAL\\PRIMARY\\LOCALIZER".into();
    vec![
        series(1, "MR", 48, "", "PD SPACE sag"),
        series(2, "CT", 45, "B30f", "Knee 0.6 soft"),
        series(3, "CT", 45, "B70s", "Knee 0.6 bone"),
        scout,
    ]
}

#[test]
fn kernels_are_classed_by_name_and_siemens_number() {
    for (kernel, desc, want) in [
        ("BONE", "", KernelClass::Bone),
        ("STANDARD", "", KernelClass::Soft),
        ("B70s", "", KernelClass::Bone),
        ("Br40d", "", KernelClass::Soft),
        ("Hr64\\3", "", KernelClass::Bone),
        ("", "Knie Knochen 1mm", KernelClass::Bone),
        ("", "soft tissue 2 mm", KernelClass::Soft),
        ("FC30", "knee", KernelClass::Unknown),
    ] {
        let mut g = series(1, "CT", 40, kernel, desc);
        g.info.kernel = kernel.into();
        assert_eq!(kernel_class(&g.info), want, "{kernel:?} {desc:?}");
    }
}

#[test]
fn ct_is_the_bone_kernel_and_mr_the_mr_and_the_warning_says_why() {
    let groups = study();
    let folder = Path::new("/exports/knee");
    let (ct, w) = choose(folder, &groups, None, Some("CT")).expect("ct");
    assert_eq!(ct.info.index, 3);
    let w = w.expect("a warning");
    assert_eq!(
        w,
        "folder holds 4 series; reading [3] 1.2.3 (45 files, 512x512 axial, \"Knee 0.6 bone\", kernel B70s) \
         as the CT: Modality CT, bone kernel B70s; others: [1] MR, 48 images | \
         [2] CT, soft-tissue kernel B30f, 45 images | [4] CT, localizer, 2 images; \
         pick another with --series N or its UID (in a study list, the ct_series column)"
    );

    let (mr, w) = choose(folder, &groups, None, Some("mr")).expect("mr");
    assert_eq!(mr.info.index, 1);
    let w = w.expect("a warning");
    assert!(w.contains("as the mr: the only mr series"), "{w}");
    assert!(w.contains("--mr-series N"), "{w}");
}

#[test]
fn localizers_and_derived_images_lose_to_the_volume() {
    let mut groups = vec![
        series(1, "CT", 60, "", "Knee MPR cor"),
        series(2, "CT", 50, "", "Knee"),
    ];
    groups[0].info.image_type = "DERIVED\\SECONDARY\\MPR".into();
    let (g, w) = choose(Path::new("/f"), &groups, None, Some("CT")).expect("ct");
    assert_eq!(g.info.index, 2);
    assert!(
        w.expect("warning")
            .contains("original images ([1] is derived)")
    );
    // Equal in every way but size: the most images.
    let groups = vec![series(1, "CT", 60, "", ""), series(2, "CT", 50, "", "")];
    let (g, w) = choose(Path::new("/f"), &groups, None, Some("CT")).expect("ct");
    assert_eq!(g.info.index, 1);
    assert!(
        w.expect("warning")
            .contains("the most images (60 against 50)")
    );
    // Alike in every way: the first, and the warning says to check.
    let groups = vec![series(1, "CT", 50, "", ""), series(2, "CT", 50, "", "")];
    let (g, w) = choose(Path::new("/f"), &groups, None, Some("CT")).expect("ct");
    assert_eq!(g.info.index, 1);
    let w = w.expect("warning");
    assert!(
        w.contains("the first of two alike ([2] is as large: check which you want)"),
        "{w}"
    );
}

#[test]
fn a_named_series_wins_by_number_or_uid_and_a_wrong_name_lists_them() {
    let groups = study();
    let f = Path::new("/exports/knee");
    let (g, w) = choose(f, &groups, Some("2"), Some("CT")).expect("by number");
    assert_eq!((g.info.index, w), (2, None));
    let (g, _) = choose(f, &groups, Some("1.2.4"), Some("CT")).expect("by uid");
    assert_eq!(g.info.index, 4);
    let e = choose(f, &groups, Some("9"), Some("CT"))
        .map(|_| ())
        .expect_err("no series 9")
        .to_string();
    assert!(
        e.starts_with("/exports/knee: no series \"9\"; the folder holds: [1] 1.2.1, [2] 1.2.2"),
        "{e}"
    );
}

#[test]
fn no_series_of_the_modality_falls_back_to_the_best_with_a_warning() {
    let groups = vec![series(1, "MR", 48, "", ""), series(2, "MR", 20, "", "loc")];
    let (g, w) = choose(Path::new("/f"), &groups, None, Some("CT")).expect("fallback");
    assert_eq!(g.info.index, 1);
    let w = w.expect("warning");
    assert!(
        w.contains("no series has Modality CT (the folder holds MR)"),
        "{w}"
    );
    // One series and no choice: no warning.
    let one = vec![series(1, "CT", 40, "", "")];
    assert!(
        choose(Path::new("/f"), &one, None, Some("CT"))
            .expect("one")
            .1
            .is_none()
    );
}
