//! One knee of a CT, as every consumer of the method sees it: the CT on the models' grid,
//! the knee chosen (the only one, or a side of a bilateral scan), its crop, bones,
//! subchondral regions, subregions and side. `analyze`, the patch store and the
//! classifier's features all start here, so training and inference cut the same knee.

use srrd_base::error::{Error, Result};
use srrd_base::progress::Progress;
use srrd_base::volume::filter::crop;
use srrd_base::volume::regrid::to_working_grid;
use srrd_base::volume::{LabelMap, Volume};
use srrd_diagnosis::subregions::{Frame, subregions_with_side};
use srrd_segmentation::bones::{CT_BONE_HU, segment_bones_detailed};
use srrd_segmentation::knees::{KneeBox, KneeLayout, Side, find_knees};
use srrd_segmentation::subchondral::{CORTEX_MM, DEPTH_MM, subchondral_regions};

/// Which knee of the CT to analyse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KneeChoice {
    /// The only knee; a bilateral CT is refused with the choices.
    Only,
    Side(Side),
}

/// The CT on the models' grid and the knees in it: done once per CT, shared by the knees
/// of a bilateral scan.
pub struct Prepared {
    pub working: Volume,
    pub layout: KneeLayout,
    pub ct_spacing_mm: [f64; 3],
}

/// Checks the CT, brings it to `spacing_mm` (the grid the student was trained on) and
/// finds its knees.
pub fn prepare_at(ct: &Volume, spacing_mm: [f64; 3], progress: &Progress) -> Result<Prepared> {
    check_is_ct(ct)?;
    progress.start("resampling to the models' grid", 1);
    let working = to_working_grid(ct, spacing_mm);
    progress.check()?;
    let layout = find_knees(&working, CT_BONE_HU)?;
    Ok(Prepared {
        working,
        layout,
        ct_spacing_mm: ct.geometry.spacing_mm.into(),
    })
}

/// The message for a bilateral CT analysed without a side.
pub fn bilateral_choices(layout: &KneeLayout) -> String {
    format!(
        "this CT holds both knees ({:.0} mm apart at the closest): choose one with --side left, \
         --side right, or --side both (one report per knee)",
        layout.gap_mm.unwrap_or(0.0)
    )
}

/// One knee on the models' grid with its labels (all on `ct`'s geometry).
pub struct Knee {
    /// The knee's part of the working grid (bone + 15 mm).
    pub ct: Volume,
    pub knee_box: Option<KneeBox>,
    pub bones: LabelMap,
    /// Erosion depth (mm) at which femur and tibia came apart (None: they never touched).
    pub split_depth_mm: Option<f64>,
    pub regions: LabelMap,
    /// Subregion labels 1-12.
    pub subregions: LabelMap,
    pub frame: Frame,
    /// The side the student and the report use.
    pub side: Side,
    /// The side the fibula gives, when it is in the image.
    pub anatomy_side: Option<Side>,
    /// The side the bilateral layout gives.
    pub layout_side: Option<Side>,
}

impl Knee {
    /// Where the side came from, for the report.
    pub fn side_from(&self) -> String {
        match (self.anatomy_side, self.layout_side) {
            (Some(a), Some(l)) if a != l => format!(
                "fibula ({}), against the bilateral layout ({})",
                a.name(),
                l.name()
            ),
            (Some(_), _) => "fibula (lateral)".to_string(),
            (None, Some(_)) => "bilateral layout (no fibula in the image)".to_string(),
            (None, None) => "assumed (no fibula in the image)".to_string(),
        }
    }

    /// The knee's whole part of the working grid (skin included): what registration sees.
    pub fn field(&self, prepared: &Prepared) -> Volume {
        match &self.knee_box {
            Some(b) => crop(&prepared.working, b.field_lo, b.field_hi),
            None => self.ct.clone(),
        }
    }
}

/// Chooses, crops and labels one knee of a prepared CT. Errors name the choices of a
/// bilateral CT without a side, and a side asked of a one-knee CT that the anatomy
/// contradicts.
pub fn knee(prepared: &Prepared, choice: KneeChoice, progress: &Progress) -> Result<Knee> {
    let layout = &prepared.layout;
    let knee_box = match (layout.is_bilateral(), choice) {
        (true, KneeChoice::Only) => return Err(Error::invalid(bilateral_choices(layout))),
        (true, KneeChoice::Side(s)) => layout.knee(s).cloned(),
        (false, _) => layout.knees.first().cloned(),
    };
    let ct = match &knee_box {
        Some(b) => crop(&prepared.working, b.lo, b.hi),
        None => prepared.working.clone(),
    };
    progress.start("segmenting the bones", 1);
    let seg = segment_bones_detailed(&ct, CT_BONE_HU)?;
    let bones = seg.labels;
    let regions = subchondral_regions(&bones, DEPTH_MM, CORTEX_MM);
    let layout_side = knee_box.as_ref().and_then(|b| b.side);
    let (subregions, frame) = subregions_with_side(&bones, &regions, layout_side);
    let anatomy_side = frame.side_from_anatomy().then(|| frame.side());
    let side = anatomy_side.or(layout_side).unwrap_or(Side::Right);
    if let (KneeChoice::Side(asked), false) = (choice, layout.is_bilateral())
        && anatomy_side.is_some_and(|s| s != asked)
    {
        return Err(Error::invalid(format!(
            "--side {}: this CT holds one knee, a {} knee (its fibula is on the {} side)",
            asked.name(),
            side.name(),
            side.name()
        )));
    }
    Ok(Knee {
        ct,
        knee_box,
        bones,
        split_depth_mm: seg.split_depth_mm,
        regions,
        subregions,
        frame,
        side,
        anatomy_side,
        layout_side,
    })
}

/// The grid the student of the models in `models_dir` was trained on (mm), where the
/// analysis segments; the paper's CT grid when the card cannot be read.
pub fn models_grid_mm(models_dir: &std::path::Path) -> [f64; 3] {
    srrd_regression::model::read_card(&models_dir.join("regression"))
        .map(|c| c.trained_range().spacing_mm)
        .unwrap_or(srrd_regression::model::PAPER_CT_SPACING_MM)
}

/// The bones (femur, tibia, patella, fibula labels) of every knee of `ct`, on the CT's
/// own grid, from the segmentation alone (no models, no registration): what a viewer
/// shows in 3D before an analysis. The CT is brought to `spacing_mm` (the analysis'
/// grid, [`models_grid_mm`]) and each knee cut and segmented as [`knee`] does.
pub fn bones_on_ct(ct: &Volume, spacing_mm: [f64; 3], progress: &Progress) -> Result<LabelMap> {
    let prepared = prepare_at(ct, spacing_mm, progress)?;
    let boxes: Vec<Option<&KneeBox>> = if prepared.layout.knees.is_empty() {
        vec![None]
    } else {
        prepared.layout.knees.iter().map(Some).collect()
    };
    let mut merged = vec![0u8; ct.geometry.num_voxels()];
    for (n, b) in boxes.iter().enumerate() {
        progress.check()?;
        progress.start(
            &format!("segmenting the bones (knee {} of {})", n + 1, boxes.len()),
            1,
        );
        let knee_ct = match b {
            Some(b) => crop(&prepared.working, b.lo, b.hi),
            None => prepared.working.clone(),
        };
        let labels = segment_bones_detailed(&knee_ct, CT_BONE_HU)?.labels;
        let on_ct = srrd_base::volume::regrid::labels_onto(&labels, &ct.geometry);
        for (m, l) in merged.iter_mut().zip(on_ct.labels()) {
            if *l != 0 {
                *m = *l;
            }
        }
    }
    LabelMap::new(ct.geometry.clone(), merged)
}

/// `data` (a `[k][j][i]` grid whose i rows hold `ni` values) reversed along i.
pub fn flip_i<T: Copy>(data: &[T], ni: usize) -> Vec<T> {
    let mut out = data.to_vec();
    for row in out.chunks_mut(ni.max(1)) {
        row.reverse();
    }
    out
}

/// Refuses images that are not CTs in Hounsfield units: a knee CT has air around the leg
/// (about -1000 HU); an MR, or a CT stored without its rescale, has nothing below -200.
pub fn check_is_ct(ct: &Volume) -> Result<()> {
    let min = ct
        .data
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(f32::INFINITY, f32::min);
    if min > -200.0 {
        return Err(Error::invalid(format!(
            "this does not look like a CT in Hounsfield units: its lowest value is {min:.0}, \
             but air around the knee should be near -1000 HU (is it an MR, or a CT without \
             its rescale slope/intercept?)"
        )));
    }
    Ok(())
}
