//! ITK transform files (text "Insight Transform File V1.0", `.tfm`/`.txt`), readable by
//! SimpleITK, ANTs and 3D Slicer. Transforms keep ITK's direction: fixed -> moving points.
//!
//! Read: Euler3DTransform, VersorRigid3DTransform, AffineTransform,
//! MatrixOffsetTransformBase, TranslationTransform, and CompositeTransform of these.
//! Written: Euler3DTransform for rigid, AffineTransform for affine.

use std::path::Path;

use nalgebra::{Matrix3, Point3, Vector3};

use crate::error::{Error, Result};
use crate::volume::transform::euler_zxy_matrix;
use crate::volume::{AffineTransform, RigidTransform, Transform};

/// Reads an ITK transform file as a transform in application order.
pub fn read_transform(path: &Path) -> Result<Transform> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_transform(&text).map_err(|e| e.in_file(path))
}

/// Parses the text of an ITK transform file.
pub fn parse_transform(text: &str) -> Result<Transform> {
    if !text.trim_start().starts_with("#Insight Transform File") {
        return Err(Error::invalid(
            "not an ITK transform file (no '#Insight Transform File' line)",
        ));
    }
    let mut blocks: Vec<(String, Vec<f64>, Vec<f64>)> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(kind) = line.strip_prefix("Transform:") {
            blocks.push((kind.trim().to_string(), Vec::new(), Vec::new()));
        } else if let Some(p) = line.strip_prefix("Parameters:") {
            let last = blocks
                .last_mut()
                .ok_or_else(|| Error::invalid("Parameters before any Transform line"))?;
            last.1 = numbers(p)?;
        } else if let Some(p) = line.strip_prefix("FixedParameters:") {
            let last = blocks
                .last_mut()
                .ok_or_else(|| Error::invalid("FixedParameters before any Transform line"))?;
            last.2 = numbers(p)?;
        }
    }
    let mut list = Vec::new();
    for (kind, params, fixed) in &blocks {
        if kind.starts_with("CompositeTransform") {
            continue;
        }
        list.push(Transform::Affine(to_affine(kind, params, fixed)?));
    }
    if list.is_empty() {
        return Err(Error::invalid("the file holds no transform"));
    }
    // A composite lists its transforms in the order they were added; ITK applies the
    // last added first.
    list.reverse();
    Ok(if list.len() == 1 {
        list.remove(0)
    } else {
        Transform::Chain(list)
    })
}

fn numbers(s: &str) -> Result<Vec<f64>> {
    s.split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| Error::invalid(format!("'{t}' is not a finite number")))
        })
        .collect()
}

fn need(kind: &str, v: &[f64], n: usize, what: &str) -> Result<()> {
    if v.len() < n {
        return Err(Error::invalid(format!(
            "{kind}: {what} has {} numbers, expected {n}",
            v.len()
        )));
    }
    Ok(())
}

fn center_of(fixed: &[f64]) -> Point3<f64> {
    if fixed.len() >= 3 {
        Point3::new(fixed[0], fixed[1], fixed[2])
    } else {
        Point3::origin()
    }
}

fn to_affine(kind: &str, p: &[f64], fixed: &[f64]) -> Result<AffineTransform> {
    let base = kind.split('_').next().unwrap_or(kind);
    if !kind.ends_with("_3_3") {
        return Err(Error::invalid(format!(
            "{kind}: only 3D transforms are supported"
        )));
    }
    match base {
        "Euler3DTransform" => {
            need(kind, p, 6, "Parameters")?;
            let zyx = fixed.get(3).is_some_and(|v| *v != 0.0);
            let matrix = if zyx {
                let rx = euler_zxy_matrix([p[0], 0.0, 0.0]);
                let ry = euler_zxy_matrix([0.0, p[1], 0.0]);
                let rz = euler_zxy_matrix([0.0, 0.0, p[2]]);
                rz * ry * rx
            } else {
                euler_zxy_matrix([p[0], p[1], p[2]])
            };
            Ok(AffineTransform {
                matrix,
                translation_mm: Vector3::new(p[3], p[4], p[5]),
                center_mm: center_of(fixed),
            })
        }
        "VersorRigid3DTransform" => {
            need(kind, p, 6, "Parameters")?;
            Ok(RigidTransform::from_versor(
                Vector3::new(p[0], p[1], p[2]),
                Vector3::new(p[3], p[4], p[5]),
                center_of(fixed),
            )
            .to_affine())
        }
        "AffineTransform" | "MatrixOffsetTransformBase" => {
            need(kind, p, 12, "Parameters")?;
            let matrix = Matrix3::new(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8]);
            Ok(AffineTransform {
                matrix,
                translation_mm: Vector3::new(p[9], p[10], p[11]),
                center_mm: center_of(fixed),
            })
        }
        "TranslationTransform" => {
            need(kind, p, 3, "Parameters")?;
            Ok(AffineTransform::translation(Vector3::new(p[0], p[1], p[2])))
        }
        "IdentityTransform" => Ok(AffineTransform::identity()),
        _ => Err(Error::invalid(format!(
            "transform type {kind} is not supported"
        ))),
    }
}

fn write_block(path: &Path, kind: &str, params: &[f64], fixed: &[f64]) -> Result<()> {
    let text = block_text(kind, params, fixed);
    super::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

fn block_text(kind: &str, params: &[f64], fixed: &[f64]) -> String {
    let join = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!(
        "#Insight Transform File V1.0\n#Transform 0\nTransform: {kind}\nParameters: {}\nFixedParameters: {}\n",
        join(params),
        join(fixed)
    )
}

/// Writes a rigid transform as ITK's `Euler3DTransform_double_3_3`.
pub fn write_rigid(path: &Path, t: &RigidTransform) -> Result<()> {
    let text = rigid_text(t);
    super::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

/// The text of a `.tfm` holding `t` as ITK's `Euler3DTransform_double_3_3` (what
/// [`write_rigid`] writes; [`parse_transform`] reads it back).
pub fn rigid_text(t: &RigidTransform) -> String {
    let [ax, ay, az] = t.euler_zxy();
    let c = t.center_mm;
    let tr = t.translation_mm;
    block_text(
        "Euler3DTransform_double_3_3",
        &[ax, ay, az, tr.x, tr.y, tr.z],
        &[c.x, c.y, c.z, 0.0],
    )
}

/// Writes an affine transform as ITK's `AffineTransform_double_3_3`.
pub fn write_affine(path: &Path, t: &AffineTransform) -> Result<()> {
    let m = &t.matrix;
    let tr = t.translation_mm;
    let c = t.center_mm;
    let params = [
        m[(0, 0)],
        m[(0, 1)],
        m[(0, 2)],
        m[(1, 0)],
        m[(1, 1)],
        m[(1, 2)],
        m[(2, 0)],
        m[(2, 1)],
        m[(2, 2)],
        tr.x,
        tr.y,
        tr.z,
    ];
    write_block(
        path,
        "AffineTransform_double_3_3",
        &params,
        &[c.x, c.y, c.z],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::volume::PointTransform;

    #[test]
    fn rigid_and_affine_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = RigidTransform::from_euler_zxy(
            [0.1, -0.2, 0.3],
            Vector3::new(1.0, 2.0, -3.0),
            Point3::new(5.0, 6.0, 7.0),
        );
        let p = dir.path().join("r.tfm");
        write_rigid(&p, &r).expect("write");
        let back = read_transform(&p).expect("read");
        let a = AffineTransform {
            matrix: Matrix3::new(1.1, 0.1, 0.0, 0.0, 0.9, 0.2, 0.05, 0.0, 1.2),
            translation_mm: Vector3::new(-1.0, 0.5, 2.0),
            center_mm: Point3::new(1.0, 2.0, 3.0),
        };
        let q = dir.path().join("a.txt");
        write_affine(&q, &a).expect("write");
        let back_a = read_transform(&q).expect("read");
        for x in [Point3::new(0.0, 0.0, 0.0), Point3::new(10.0, -20.0, 30.0)] {
            assert!((back.transform_point(&x) - r.transform_point(&x)).norm() < 1e-9);
            assert!((back_a.transform_point(&x) - a.transform_point(&x)).norm() < 1e-9);
        }
    }

    #[test]
    fn composite_applies_last_listed_first() {
        let text = "#Insight Transform File V1.0\n#Transform 0\nTransform: CompositeTransform_double_3_3\n\
            #Transform 1\nTransform: TranslationTransform_double_3_3\nParameters: 1 0 0\nFixedParameters:\n\
            #Transform 2\nTransform: AffineTransform_double_3_3\nParameters: 2 0 0 0 2 0 0 0 2 0 0 0\nFixedParameters: 0 0 0\n";
        let t = parse_transform(text).expect("parse");
        // ITK: scale first (added last), then translate: (1,1,1) -> (2,2,2) -> (3,2,2).
        let y = t.transform_point(&Point3::new(1.0, 1.0, 1.0));
        assert!((y - Point3::new(3.0, 2.0, 2.0)).norm() < 1e-12, "{y}");
    }

    #[test]
    fn bad_files_are_refused() {
        assert!(parse_transform("hello").is_err());
        let short = "#Insight Transform File V1.0\nTransform: Euler3DTransform_double_3_3\nParameters: 1 2\n";
        assert!(
            parse_transform(short)
                .unwrap_err()
                .to_string()
                .contains("expected 6")
        );
        let nan = "#Insight Transform File V1.0\nTransform: TranslationTransform_double_3_3\nParameters: 1 nan 0\n";
        assert!(parse_transform(nan).is_err());
    }
}
