//! A folder's image files grouped into series, and a series into the volumes it holds.
//!
//! As Slicer's DICOM plugin and dcm2niix do, one SeriesInstanceUID is split into parts
//! when its files cannot form one volume: different slice orientations (a three-plane
//! localizer, radial projections), different image sizes, each multi-frame file, and
//! positions that repeat the same number of times (several volumes of one scan, told
//! apart by InstanceNumber). Parts are named `UID#1`, `UID#2`, ... largest first.

use std::path::Path;

use serde::Serialize;

use super::header::SliceHeader;

/// One series, or one part of a series, found in a folder.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SeriesInfo {
    /// Its number in the folder's list (1 = the largest), which `--series` also takes.
    pub index: usize,
    /// What `--series` takes: the SeriesInstanceUID, or `UID#k` for part k of a series
    /// that had to be split.
    pub id: String,
    /// SeriesInstanceUID.
    pub uid: String,
    /// SeriesDescription (may be empty).
    pub description: String,
    /// Modality (CT, MR, ...).
    pub modality: String,
    /// Number of image files.
    pub files: usize,
    /// Number of images (frames of multi-frame files counted one by one).
    pub slices: usize,
    /// ConvolutionKernel of its first file (CT; empty when absent).
    pub kernel: String,
    /// ImageType of its first file (e.g. `ORIGINAL\PRIMARY\AXIAL`).
    pub image_type: String,
    /// Image columns x rows.
    pub size: [usize; 2],
    /// Slice plane from ImageOrientationPatient: axial, coronal, sagittal or oblique.
    pub plane: String,
    /// Why the series was split (empty when it was not).
    pub split: String,
    /// The files, relative to the folder.
    pub file_names: Vec<String>,
}

/// A series (or part) and the indices of its headers.
pub(crate) struct Group {
    pub info: SeriesInfo,
    pub members: Vec<usize>,
}

/// The plane a slice orientation lies in (the largest component of its normal).
pub(crate) fn plane_name(iop: Option<[f64; 6]>) -> &'static str {
    let Some(v) = iop else {
        return "unknown";
    };
    let n = [
        v[1] * v[5] - v[2] * v[4],
        v[2] * v[3] - v[0] * v[5],
        v[0] * v[4] - v[1] * v[3],
    ];
    let norm = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
    if norm < 1e-6 {
        return "unknown";
    }
    let (axis, largest) =
        n.iter()
            .map(|x| x.abs() / norm)
            .enumerate()
            .fold(
                (0, 0.0),
                |best, (i, x)| if x > best.1 { (i, x) } else { best },
            );
    if largest < 0.95 {
        "oblique"
    } else {
        ["sagittal", "coronal", "axial"][axis]
    }
}

fn same_orientation(a: Option<[f64; 6]>, b: Option<[f64; 6]>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().zip(b.iter()).all(|(x, y)| (x - y).abs() < 1e-4),
        (None, None) => true,
        _ => false,
    }
}

/// Position of a slice along its own normal.
fn depth(h: &SliceHeader) -> Option<f64> {
    let (v, p) = (h.iop?, h.ipp?);
    let n =
        nalgebra::Vector3::new(v[0], v[1], v[2]).cross(&nalgebra::Vector3::new(v[3], v[4], v[5]));
    (n.norm() > 1e-6).then(|| n.normalize().dot(&p))
}

/// Splits members that repeat every position the same number of times into that many
/// volumes (the j-th instance at each position goes to volume j). Other members stay whole.
fn split_repeats(headers: &[SliceHeader], members: Vec<usize>) -> Vec<Vec<usize>> {
    let mut at: Vec<(f64, usize)> = members
        .iter()
        .filter_map(|&m| depth(&headers[m]).map(|d| (d, m)))
        .collect();
    if at.len() != members.len() || members.len() < 2 {
        return vec![members];
    }
    at.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut clusters: Vec<Vec<usize>> = Vec::new();
    let mut last = f64::NEG_INFINITY;
    for (d, m) in at {
        if d - last > 1e-4 {
            clusters.push(Vec::new());
        }
        last = d;
        if let Some(c) = clusters.last_mut() {
            c.push(m);
        }
    }
    let k = clusters[0].len();
    if k < 2 || clusters.iter().any(|c| c.len() != k) {
        return vec![members];
    }
    let mut parts = vec![Vec::new(); k];
    for mut c in clusters {
        c.sort_by_key(|&m| (headers[m].instance_number.unwrap_or(i64::MAX), m));
        for (j, m) in c.into_iter().enumerate() {
            parts[j].push(m);
        }
    }
    parts
}

/// Groups headers into series and parts, largest first.
pub(crate) fn group_series(folder: &Path, headers: &[SliceHeader]) -> Vec<Group> {
    // 1. By SeriesInstanceUID, in the order first seen.
    let mut by_uid: Vec<(String, Vec<usize>)> = Vec::new();
    for (n, h) in headers.iter().enumerate() {
        match by_uid.iter_mut().find(|(uid, _)| *uid == h.series_uid) {
            Some((_, members)) => members.push(n),
            None => by_uid.push((h.series_uid.clone(), vec![n])),
        }
    }
    let mut groups = Vec::new();
    for (uid, members) in by_uid {
        // 2. By size and orientation; each multi-frame file alone.
        let mut parts: Vec<Vec<usize>> = Vec::new();
        let mut reasons: Vec<&str> = Vec::new();
        for m in members {
            let h = &headers[m];
            let fits = |p: &Vec<usize>| {
                let f = &headers[p[0]];
                h.frames == 1
                    && f.frames == 1
                    && (f.rows, f.cols) == (h.rows, h.cols)
                    && same_orientation(f.iop, h.iop)
            };
            match parts.iter_mut().find(|p| fits(p)) {
                Some(p) => p.push(m),
                None => {
                    if let Some(first) = parts.first().map(|p| &headers[p[0]]) {
                        let reason = if h.frames > 1 || first.frames > 1 {
                            "multi-frame files"
                        } else if (first.rows, first.cols) != (h.rows, h.cols) {
                            "image sizes"
                        } else {
                            "orientations"
                        };
                        if !reasons.contains(&reason) {
                            reasons.push(reason);
                        }
                    }
                    parts.push(vec![m]);
                }
            }
        }
        // 3. Repeated positions.
        let before = parts.len();
        let mut parts: Vec<Vec<usize>> = parts
            .into_iter()
            .flat_map(|p| split_repeats(headers, p))
            .collect();
        if parts.len() > before {
            reasons.push("repeated positions");
        }
        parts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        let split = if parts.len() > 1 {
            format!("mixes {}", reasons.join(" and "))
        } else {
            String::new()
        };
        let several = parts.len() > 1;
        for (k, p) in parts.into_iter().enumerate() {
            let first = &headers[p[0]];
            let file_names = p
                .iter()
                .map(|&m| {
                    let path = &headers[m].path;
                    path.strip_prefix(folder)
                        .unwrap_or(path)
                        .display()
                        .to_string()
                })
                .collect();
            groups.push(Group {
                info: SeriesInfo {
                    index: 0,
                    id: if several {
                        format!("{uid}#{}", k + 1)
                    } else {
                        uid.clone()
                    },
                    uid: uid.clone(),
                    description: first.description.clone(),
                    modality: first.modality.clone(),
                    files: p.len(),
                    slices: p.iter().map(|&m| headers[m].frames).sum(),
                    kernel: first.kernel.clone(),
                    image_type: first.image_type.clone(),
                    size: [first.cols, first.rows],
                    plane: plane_name(first.iop).to_string(),
                    split: split.clone(),
                    file_names,
                },
                members: p,
            });
        }
    }
    groups.sort_by(|a, b| {
        b.info
            .files
            .cmp(&a.info.files)
            .then_with(|| a.info.id.cmp(&b.info.id))
    });
    for (n, g) in groups.iter_mut().enumerate() {
        g.info.index = n + 1;
    }
    groups
}
