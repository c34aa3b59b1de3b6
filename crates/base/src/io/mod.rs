//! Image files in and out: NIfTI-1/2, DICOM files and series folders. Every reader returns
//! a [`LoadedImage`]; every writer goes through [`atomic_write`].

pub mod dicom;
pub mod dicom_out;
pub mod landmarks;
pub mod nifti;
pub mod protocol;
pub mod raster;
pub mod transform_file;

use std::cell::Cell;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

use serde::Serialize;

pub use dicom::{DicomSource, ReadOptions, SeriesInfo, list_series, read_dicom, read_dicom_with};
pub use landmarks::{Landmark, pair_by_label, read_landmarks, write_landmarks};
pub use nifti::{
    WriteDtype, read_displacement_field, read_nifti, write_displacement_field, write_nifti,
};
pub use transform_file::{read_transform, write_affine, write_rigid};

use crate::error::{Error, Result};
use crate::volume::Volume;

/// A volume as read from disk, with what the file said about itself.
#[derive(Clone, Debug)]
pub struct LoadedImage {
    /// The voxels and their geometry (LPS mm).
    pub volume: Volume,
    /// Voxel type as SimpleITK would report it (numpy spelling, e.g. "int16").
    pub pixel_type: String,
    /// "nifti1", "nifti2" or "dicom".
    pub format: &'static str,
    /// For DICOM: the series that was read.
    pub series: Option<SeriesInfo>,
    /// Things the user should know (4D file, several series, ...).
    pub warnings: Vec<String>,
    /// For DICOM: the study, series and instances the volume came from.
    pub dicom: Option<DicomSource>,
}

/// Summary of an image file as `srrd info` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct ImageInfo {
    pub path: String,
    pub format: String,
    pub size: [usize; 3],
    pub spacing: [f64; 3],
    pub origin: [f64; 3],
    pub direction: [f64; 9],
    pub pixel_type: String,
    pub min: f64,
    pub max: f64,
    pub series: Option<SeriesInfo>,
    pub warnings: Vec<String>,
}

impl LoadedImage {
    /// The `srrd info` summary.
    pub fn info(&self, path: &Path) -> ImageInfo {
        let g = &self.volume.geometry;
        let (min, max) = self.volume.min_max().unwrap_or((f32::NAN, f32::NAN));
        let mut warnings = self.warnings.clone();
        let non_finite = self.volume.count_non_finite();
        if non_finite > 0 {
            warnings.push(format!(
                "{non_finite} voxels are NaN or infinite (min/max ignore them)"
            ));
        }
        ImageInfo {
            path: path.display().to_string(),
            format: self.format.to_string(),
            size: g.size,
            spacing: g.spacing_mm.into(),
            origin: g.origin_mm.coords.into(),
            direction: g.direction_row_major(),
            pixel_type: self.pixel_type.clone(),
            min: min as f64,
            max: max as f64,
            series: self.series.clone(),
            warnings,
        }
    }
}

/// Reads any supported image: a NIfTI file, a DICOM file, or a folder of DICOM files
/// (`series_uid` picks a series there). The format is found from the content, not the name.
pub fn read_image(path: &Path, series_uid: Option<&str>) -> Result<LoadedImage> {
    read_image_with(
        path,
        &ReadOptions {
            series: series_uid,
            ..Default::default()
        },
    )
}

/// [`read_image`] with every DICOM option (the series or part, uneven spacing).
pub fn read_image_with(path: &Path, opts: &ReadOptions) -> Result<LoadedImage> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return read_dicom_with(path, opts);
    }
    let mut head = [0u8; 348];
    let n = {
        let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        let mut filled = 0;
        loop {
            match f.read(&mut head[filled..]) {
                Ok(0) => break,
                Ok(k) => {
                    filled += k;
                    if filled == head.len() {
                        break;
                    }
                }
                Err(e) => return Err(Error::io(path, e)),
            }
        }
        filled
    };
    let head = &head[..n];
    if n == 0 {
        return Err(Error::file(path, "file is empty"));
    }
    if dicom::has_dicom_marker(head) {
        return read_dicom_with(path, opts);
    }
    if nifti::is_gzip(head) || looks_like_nifti(head) {
        return read_nifti(path);
    }
    Err(Error::file(
        path,
        "not a NIfTI (.nii/.nii.gz) or DICOM file (no NIfTI header and no DICM marker)",
    ))
}

fn looks_like_nifti(head: &[u8]) -> bool {
    if head.len() < 4 {
        return false;
    }
    let le = i32::from_le_bytes([head[0], head[1], head[2], head[3]]);
    let be = i32::from_be_bytes([head[0], head[1], head[2], head[3]]);
    matches!(le, 348 | 540) || matches!(be, 348 | 540)
}

/// Reads a transform (fixed -> moving): a displacement field for `.nii`/`.nii.gz`, an ITK
/// transform file otherwise; the identity when no path is given.
pub fn read_any_transform(path: Option<&Path>) -> Result<crate::volume::Transform> {
    use crate::volume::{AffineTransform, Transform};
    match path {
        Some(p) => {
            let name = p.to_string_lossy();
            if name.ends_with(".nii") || name.ends_with(".nii.gz") {
                Ok(Transform::Field(read_displacement_field(p)?))
            } else {
                read_transform(p)
            }
        }
        None => Ok(Transform::Affine(AffineTransform::identity())),
    }
}

/// Writes a file through a temporary name in the same folder, renamed into place only
/// when the whole content was written, so no reader ever sees a half-written file.
pub fn atomic_write(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| Error::file(path, "not a file name"))?
        .to_string_lossy()
        .to_string();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut w = BufWriter::with_capacity(1 << 20, file);
        write(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::io(path, e));
    }
    Ok(())
}

thread_local! {
    static QUIET_PANICS: Cell<bool> = const { Cell::new(false) };
}

/// Runs third-party decoding code that might panic on hostile input, turning a panic into
/// an error (and keeping the panic message off the user's terminal).
pub fn guard_panics<T>(f: impl FnOnce() -> T) -> Result<T> {
    install_quiet_hook();
    QUIET_PANICS.with(|q| q.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET_PANICS.with(|q| q.set(false));
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown".into());
        Error::invalid(format!("the decoder failed on this data ({msg})"))
    })
}

fn install_quiet_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET_PANICS.with(|q| q.get()) {
                default(info);
            }
        }));
    });
}
