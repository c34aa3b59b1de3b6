//! A knee's input images as a study names them: the CT and MR files or DICOM folders (in
//! a folder, the series of Modality CT, resp. MR, unless one is named), read with the
//! warnings a user should see. Shared by `analyze`, the batch and the experiments.

use std::path::Path;

use srrd_base::error::Result;
use srrd_base::io::{LoadedImage, ReadOptions, list_series, read_image_with};

/// Where one knee's CT and MR are and which series to read.
pub struct KneeInput<'a> {
    pub ct: &'a Path,
    pub mr: Option<&'a Path>,
    pub ct_series: Option<&'a str>,
    pub mr_series: Option<&'a str>,
    /// Read a CT series with gaps whole, resampled (as `--accept-uneven`; not the MR).
    pub accept_uneven: bool,
}

/// Reads a knee's CT and MR (files or DICOM folders; in a folder the series of Modality
/// CT, resp. MR, unless one is named). When both are one folder that holds no MR series,
/// the knee has no MR. Returns them and the warnings to show, each naming its path.
pub fn read_ct_mr(input: &KneeInput) -> Result<(LoadedImage, Option<LoadedImage>, Vec<String>)> {
    let mut warnings = Vec::new();
    let ct = read_image_with(
        input.ct,
        &ReadOptions {
            series: input.ct_series,
            accept_uneven: input.accept_uneven,
            modality: Some("CT"),
        },
    )?;
    warnings.extend(
        ct.warnings
            .iter()
            .map(|w| format!("{}: {w}", input.ct.display())),
    );
    let mut mr_path = input.mr;
    if let Some(p) = mr_path
        && p == input.ct
        && p.is_dir()
        && input.mr_series.is_none()
        && !list_series(p)?
            .iter()
            .any(|s| s.modality.trim().eq_ignore_ascii_case("MR"))
    {
        warnings.push(format!(
            "{}: no MR series in the folder; analysing the CT alone",
            p.display()
        ));
        mr_path = None;
    }
    let mr = match mr_path {
        Some(p) => {
            let mr = read_image_with(
                p,
                &ReadOptions {
                    series: input.mr_series,
                    accept_uneven: false,
                    modality: Some("MR"),
                },
            )?;
            warnings.extend(mr.warnings.iter().map(|w| format!("{}: {w}", p.display())));
            Some(mr)
        }
        None => None,
    };
    Ok((ct, mr, warnings))
}
