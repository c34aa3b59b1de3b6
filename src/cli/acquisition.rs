//! The acquisition options of `srrd phantom` and `srrd cohort`: how a knee is scanned.

use crate::phantom::{Acquisition, MrProtocol};

/// How the knee is scanned (`srrd phantom` and `srrd cohort`); every option defaults to
/// the preset's acquisition.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AcquisitionArgs {
    /// CT in-plane pixel size, mm (clinical 0.3-1.0).
    #[arg(long)]
    pub ct_pixel_mm: Option<f64>,
    /// CT slice spacing, mm (clinical 0.5-3).
    #[arg(long)]
    pub ct_slice_mm: Option<f64>,
    /// CT slice thickness, mm (default: the spacing).
    #[arg(long)]
    pub ct_thickness_mm: Option<f64>,
    /// CT coverage along the leg, mm, centred on the joint (a short scan: 60-80).
    #[arg(long)]
    pub ct_fov_z_mm: Option<f64>,
    /// Patient fed into the CT feet first (the image axes turned).
    #[arg(long)]
    pub feet_first: bool,
    /// The leg turned about its long axis in the CT scanner, degrees.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub leg_rotation_deg: f64,
    /// A left knee (the subject mirrored, truth included).
    #[arg(long)]
    pub left: bool,
    /// Both knees in the CT's field of view (the other one its own subject, in
    /// other_knee/).
    #[arg(long)]
    pub bilateral: bool,
    /// MR protocol: sagittal (the preset's 3D), thick2d (3 mm sagittal slices), coronal
    /// or axial (default: the preset's). With `srrd cohort --acquisitions clinical` it
    /// fixes every knee's MR while the CTs are drawn.
    #[arg(long, value_enum)]
    pub mr_protocol: Option<MrProtocolArg>,
}

impl AcquisitionArgs {
    /// The acquisition asked for (`psf_mm`: the CT's PSF option, shared with the cohort's).
    pub fn acquisition(&self, psf_mm: Option<f64>) -> anyhow::Result<Acquisition> {
        let a = Acquisition {
            ct_pixel_mm: self.ct_pixel_mm,
            ct_slice_mm: self.ct_slice_mm,
            ct_thickness_mm: self.ct_thickness_mm,
            ct_psf_mm: psf_mm,
            ct_fov_z_mm: self.ct_fov_z_mm,
            feet_first: self.feet_first,
            leg_rotation_deg: self.leg_rotation_deg,
            left: self.left,
            bilateral: self.bilateral,
            mr: match self.mr_protocol {
                Some(p) => p.protocol(),
                None => MrProtocol::Preset,
            },
        };
        a.validate()?;
        Ok(a)
    }
}

/// `--mr-protocol` (preset: a hidden old spelling of sagittal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MrProtocolArg {
    Sagittal,
    Thick2d,
    Coronal,
    Axial,
    #[value(hide = true)]
    Preset,
}

impl MrProtocolArg {
    /// The phantom's MR protocol.
    pub fn protocol(self) -> MrProtocol {
        match self {
            MrProtocolArg::Sagittal | MrProtocolArg::Preset => MrProtocol::Preset,
            MrProtocolArg::Thick2d => MrProtocol::Thick2d,
            MrProtocolArg::Coronal => MrProtocol::Coronal,
            MrProtocolArg::Axial => MrProtocol::Axial,
        }
    }
}
