//! The registration half of SRRD as one call, shared by `srrd register`, `srrd analyze`
//! and the GUI: CT preprocessing, coarse rigid MR -> CT (crMR), synthesis of an sCT from
//! crMR when a model is given, bone segmentation and subchondral regions, per-bone refined
//! registration (rrMR) on the sCT (mono-modal, NCC) or else on crMR (Mattes MI).

use srrd_base::error::Result;
use srrd_base::progress::Progress;
use srrd_base::volume::regrid::labels_onto;
use srrd_base::volume::{Interpolation, LabelMap, Mask, Transform, Volume, resample};
use srrd_registration::{
    Metric, RefinedResult, RigidOptions, RigidResult, register_refined, register_rigid,
};
use srrd_segmentation::body::{ct_body_mask, remove_outside_body};
use srrd_segmentation::bones::{CT_BONE_HU, segment_bones};
use srrd_synthesis::model::{SynthModel, synthesize};

/// What the coarse step produces.
pub struct Coarse {
    /// The CT's body mask (table and clothing excluded).
    pub body: Mask,
    /// The CT with air outside the body.
    pub ct_clean: Volume,
    pub result: RigidResult,
    /// The MR resampled on the CT grid through the coarse transform.
    pub cr_mr: Volume,
}

/// What the refined step adds.
pub struct Refined {
    /// Bone labels of the CT the refinement used (femur 1, tibia 2, patella 3, fibula 4).
    pub bones: LabelMap,
    pub result: RefinedResult,
    /// The MR warped by coarse then refined, on the CT grid.
    pub rr_mr: Volume,
}

/// Coarse rigid registration of `mr` (moving) to `ct` (fixed) with `metric`.
/// With `affine`, an affine (12-parameter) stage follows the rigid one.
pub fn coarse(
    ct: &Volume,
    mr: &Volume,
    metric: Metric,
    affine: bool,
    progress: &Progress,
) -> Result<Coarse> {
    coarse_from(ct, mr, metric, affine, None, progress)
}

/// [`coarse`] from a given start (`start_mr_from_ct`: ITK's fixed -> moving direction): a
/// landmark fit or a corrected transform, when the automatic start from the FOV centres
/// lands far off.
pub fn coarse_from(
    ct: &Volume,
    mr: &Volume,
    metric: Metric,
    affine: bool,
    start_mr_from_ct: Option<&srrd_base::volume::RigidTransform>,
    progress: &Progress,
) -> Result<Coarse> {
    let body = ct_body_mask(ct)?;
    let ct_clean = remove_outside_body(ct, &body);
    let mask = body.dilate([2, 2, 2]);
    // The MR cropped to its knee (signal above 10% of its robust maximum, largest piece,
    // 10 mm margin): less to smooth and sample, nothing lost.
    progress.start("cropping the MR to the knee", 1);
    let mr_roi = crop_to_signal(mr);
    let options = RigidOptions {
        metric,
        affine,
        ..Default::default()
    };
    let result = register_rigid(
        &ct_clean,
        &mr_roi,
        Some(&mask),
        start_mr_from_ct,
        &options,
        progress,
    )?;
    progress.start("resampling crMR", 1);
    let cr_mr = resample(
        mr,
        &ct.geometry,
        &result.transform,
        Interpolation::Linear,
        0.0,
    );
    Ok(Coarse {
        body,
        ct_clean,
        result,
        cr_mr,
    })
}

/// An MR whose air lies below 0 (standardized to mean 0 and SD 1, or stored with an
/// offset) shifted so its air (0.5th percentile) is 0, as a raw MR's is: the synthesis
/// network scales by the positive voxels. None when the MR's air is already at 0 or
/// above (mutual information does not care about a shift; the rest then sees the raw MR).
pub fn with_air_at_zero(mr: &Volume) -> Option<Volume> {
    let data = mr.data.as_slice()?;
    let (lo, _) = srrd_registration::metric::robust_range(data);
    (lo < 0.0).then(|| {
        let mut v = mr.clone();
        v.data.mapv_inplace(|x| x - lo);
        v
    })
}

/// `v` cropped to the bounding box (plus 10 mm) of its largest piece above 10% of the way
/// from its air (0, or its 0.5th percentile when that is negative) to its 99.5th
/// percentile; `v` itself when that finds nothing.
pub fn crop_to_signal(v: &Volume) -> Volume {
    use srrd_base::volume::filter::{block_mean, bounding_box, crop, shrink_factors};
    // Found on a 2 mm copy (cheap even for a 640x640x120 MR), applied to the original.
    let f = shrink_factors(&v.geometry, 2.0);
    let small = block_mean(v, f);
    let Some(data) = small.data.as_slice() else {
        return v.clone();
    };
    // Air is the image's low end: 0 on a raw MR, below 0 on a standardized one (mean 0,
    // SD 1) or on one stored with an offset.
    let (lo, hi) = srrd_registration::metric::robust_range(data);
    let air = lo.min(0.0);
    let level = air + 0.1 * (hi - air);
    let above: Vec<bool> = data.iter().map(|x| *x > level).collect();
    let piece = srrd_base::volume::components::largest_component(&above, small.geometry.size);
    let margin: [usize; 3] =
        std::array::from_fn(|a| (10.0 / small.geometry.spacing_mm[a]).ceil() as usize);
    match bounding_box(&piece, small.geometry.size, margin) {
        Some((lo, hi)) => {
            let lo: [usize; 3] = std::array::from_fn(|a| lo[a] * f[a]);
            let hi: [usize; 3] = std::array::from_fn(|a| ((hi[a] + 1) * f[a]).saturating_sub(1));
            crop(v, lo, hi)
        }
        None => v.clone(),
    }
}

/// The paper's "+ SPSNet" step (Table 2): the sCT synthesized from crMR (on the CT grid, in
/// crMR's pose) registered rigidly to the CT over the body, now a nearly mono-modal
/// problem, from where the coarse step left it. Returns `mr_from_ct`: the rigid step
/// (CT -> crMR's frame) followed by the coarse transform (crMR's frame -> MR).
pub fn rigid_on_sct(
    coarse: &Coarse,
    sct: &Volume,
    metric: Metric,
    progress: &Progress,
) -> Result<srrd_base::volume::AffineTransform> {
    let g = &coarse.ct_clean.geometry;
    let mask = coarse.body.dilate([2, 2, 2]);
    let options = RigidOptions {
        metric,
        levels_mm: vec![2.0, 1.0],
        multistart_deg: None,
        ..Default::default()
    };
    let identity = srrd_base::volume::RigidTransform {
        center_mm: g.center_mm(),
        ..Default::default()
    };
    let crmr_from_ct = register_rigid(
        &coarse.ct_clean,
        sct,
        Some(&mask),
        Some(&identity),
        &options,
        progress,
    )?;
    Ok(crmr_from_ct
        .final_transform()
        .then(&coarse.result.final_transform()))
}

/// Per-bone refinement after `coarse`, on crMR with `metric`.
pub fn refined(
    ct: &Volume,
    mr: &Volume,
    coarse: &Coarse,
    metric: Metric,
    progress: &Progress,
) -> Result<Refined> {
    refined_on(ct, mr, coarse, &coarse.cr_mr, None, metric, progress)
}

/// Per-bone refinement after `coarse`, comparing the CT with `moving_on_ct` (crMR, or an
/// sCT made from it: any image on the CT grid in crMR's pose) under `metric`. `bones` are
/// the CT's bone labels when the caller has them (an analysis segmented the knee already;
/// they are carried onto the CT's grid), else the CT is segmented here.
pub fn refined_on(
    ct: &Volume,
    mr: &Volume,
    coarse: &Coarse,
    moving_on_ct: &Volume,
    bones: Option<&LabelMap>,
    metric: Metric,
    progress: &Progress,
) -> Result<Refined> {
    let bones = match bones {
        Some(b) => labels_onto(b, &ct.geometry),
        None => {
            progress.start("segmenting femur and tibia", 1);
            segment_bones(ct, CT_BONE_HU)?
        }
    };
    let result = register_refined(
        &coarse.ct_clean,
        moving_on_ct,
        &bones,
        &coarse.result.final_transform(),
        metric,
        progress,
    )?;
    progress.start("resampling rrMR", 1);
    let field = Transform::Field(result.field.clone());
    let rr_mr = resample(mr, &ct.geometry, &field, Interpolation::Linear, 0.0);
    Ok(Refined {
        bones,
        result,
        rr_mr,
    })
}

/// The whole registration of one knee.
pub struct Registration {
    pub coarse: Coarse,
    /// The sCT synthesized from crMR (when a synthesis model was given).
    pub sct: Option<Volume>,
    pub refined: Refined,
    /// What the refined step compared with the CT, in words.
    pub refined_on: String,
}

/// Coarse (Mattes MI) -> synthesis of an sCT from crMR (when `synthesis` is given) ->
/// refined. With `refine_on_sct` the refined step compares the CT with the sCT (NCC, the
/// paper's mono-modal step); otherwise with crMR (Mattes MI), the sCT then being for
/// review. The demo sCT is not good enough to refine on: on 8 held-out phantoms the
/// refined TRE is 4.5 mm on it with NCC (1.9 mm with MI) against 0.35 mm on crMR with MI,
/// which even the ideal sCT only ties (docs/results.md).
pub fn register_knee(
    ct: &Volume,
    mr: &Volume,
    synthesis: Option<&SynthModel>,
    refine_on_sct: bool,
    progress: &Progress,
) -> Result<Registration> {
    register_knee_from(ct, mr, synthesis, refine_on_sct, None, None, progress)
}

/// [`register_knee`] with the CT's bone labels when the caller has them (see
/// [`refined_on`]) and the coarse step started from `start_mr_from_ct`: a
/// landmark fit or a corrected transform ("refine from here").
pub fn register_knee_from(
    ct: &Volume,
    mr: &Volume,
    synthesis: Option<&SynthModel>,
    refine_on_sct: bool,
    start_mr_from_ct: Option<&srrd_base::volume::RigidTransform>,
    bones: Option<&LabelMap>,
    progress: &Progress,
) -> Result<Registration> {
    let mi = Metric::MattesMi { bins: 32 };
    let shifted = with_air_at_zero(mr);
    let mr = shifted.as_ref().unwrap_or(mr);
    let coarse = coarse_from(ct, mr, mi, false, start_mr_from_ct, progress)?;
    let sct = match synthesis {
        Some(model) => Some((
            synthesize(model, &coarse.cr_mr, progress)?,
            &model.card.method,
        )),
        None => None,
    };
    let (refined, refined_on_text) = match &sct {
        Some((sct, method)) if refine_on_sct => (
            refined_on(ct, mr, &coarse, sct, bones, Metric::Ncc, progress)?,
            format!("sCT ({method}, NCC)"),
        ),
        _ => (
            refined_on(ct, mr, &coarse, &coarse.cr_mr, bones, mi, progress)?,
            "crMR (Mattes MI)".to_string(),
        ),
    };
    let sct = sct.map(|(v, _)| v);
    Ok(Registration {
        coarse,
        sct,
        refined,
        refined_on: refined_on_text,
    })
}
