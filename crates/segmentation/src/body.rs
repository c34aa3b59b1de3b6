//! The paper's first preprocessing step: keep the body, remove the CT table/bed and
//! clothing, by thresholding and connected components.

use srrd_base::error::{Error, Result};
use srrd_base::volume::components::{fill_holes_2d, largest_component};
use srrd_base::volume::{Mask, Volume};

/// HU above which a voxel may be body (fat is about -100; foam, fabric and air are lower).
pub const BODY_THRESHOLD_HU: f32 = -200.0;

/// The body mask of a CT: voxels above `BODY_THRESHOLD_HU`, the largest 6-connected
/// component (the table and clothing are separate pieces), holes filled per axial slice.
pub fn ct_body_mask(ct: &Volume) -> Result<Mask> {
    let data = ct.data.as_standard_layout();
    let data = data
        .as_slice()
        .ok_or_else(|| Error::invalid("CT voxels are not contiguous"))?;
    let above: Vec<bool> = data.iter().map(|v| *v > BODY_THRESHOLD_HU).collect();
    let mut body = largest_component(&above, ct.geometry.size);
    if !body.iter().any(|b| *b) {
        return Err(Error::invalid(format!(
            "no body in the CT: no voxel above {BODY_THRESHOLD_HU} HU (is it in Hounsfield units?)"
        )));
    }
    fill_holes_2d(&mut body, ct.geometry.size);
    Mask::new(ct.geometry.clone(), body)
}

/// The CT with everything outside the body set to air (-1000 HU).
pub fn remove_outside_body(ct: &Volume, body: &Mask) -> Volume {
    let mut out = ct.clone();
    for (v, b) in out.data.iter_mut().zip(body.inside()) {
        if !*b {
            *v = -1000.0;
        }
    }
    out
}
