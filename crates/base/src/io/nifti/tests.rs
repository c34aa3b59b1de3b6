//! Round trips and refusals of the NIfTI reader and writer.

use super::read::parse_nifti;
use super::*;
use crate::volume::{DisplacementField, Geometry, Volume};
use nalgebra::Rotation3;

fn oblique_volume() -> Volume {
    let rot = Rotation3::from_euler_angles(0.2, -0.4, 0.9).into_inner();
    let g = Geometry::new([7, 5, 4], [0.5, 0.8, 1.5], [12.0, -33.5, 7.25]).with_direction(rot);
    Volume::from_fn(g, |i, j, k| {
        (i as f32 - 3.0) * 10.0 + j as f32 * 0.25 + k as f32 * 100.0
    })
}

#[test]
fn round_trip_geometry_and_values() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = oblique_volume();
    for (name, dt) in [
        ("a.nii", WriteDtype::F32),
        ("b.nii.gz", WriteDtype::F32),
        ("c.nii.gz", WriteDtype::I16),
    ] {
        let p = dir.path().join(name);
        write_nifti(&p, &v, dt).expect("write");
        let back = read_nifti(&p).expect("read");
        let g = &back.volume.geometry;
        assert_eq!(g.size, v.geometry.size);
        assert!((g.spacing_mm - v.geometry.spacing_mm).norm() < 1e-5);
        assert!((g.origin_mm - v.geometry.origin_mm).norm() < 1e-4);
        assert!((g.direction - v.geometry.direction).norm() < 1e-5, "{name}");
        let tol = if dt == WriteDtype::I16 { 0.5 } else { 1e-5 };
        for (a, b) in back.volume.data.iter().zip(v.data.iter()) {
            assert!((a - b).abs() <= tol);
        }
    }
}

#[test]
fn reflected_direction_round_trips_through_qfac() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut v = oblique_volume();
    let col = -v.geometry.direction.column(2);
    v.geometry.direction.set_column(2, &col);
    let p = dir.path().join("r.nii");
    write_nifti(&p, &v, WriteDtype::F32).expect("write");
    // Force the reader onto the qform by zeroing the sform code.
    let mut bytes = std::fs::read(&p).expect("read back");
    bytes[254] = 0;
    bytes[255] = 0;
    let back = parse_nifti(&bytes).expect("parse");
    assert!((back.volume.geometry.direction - v.geometry.direction).norm() < 1e-5);
}

#[test]
fn bad_headers_are_refused_not_panicking() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = oblique_volume();
    let p = dir.path().join("x.nii");
    write_nifti(&p, &v, WriteDtype::F32).expect("write");
    let good = std::fs::read(&p).expect("read");
    // Truncated data.
    let e = parse_nifti(&good[..good.len() - 10])
        .unwrap_err()
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    // Zero spacing.
    let mut z = good.clone();
    z[80..84].copy_from_slice(&0f32.to_le_bytes());
    assert!(parse_nifti(&z).unwrap_err().to_string().contains("spacing"));
    // NaN spacing.
    let mut n = good.clone();
    n[84..88].copy_from_slice(&f32::NAN.to_le_bytes());
    assert!(parse_nifti(&n).is_err());
    // Complex data.
    let mut c = good.clone();
    c[70..72].copy_from_slice(&32i16.to_le_bytes());
    assert!(parse_nifti(&c).unwrap_err().to_string().contains("complex"));
    // Not an image at all.
    assert!(
        parse_nifti(b"hello world")
            .unwrap_err()
            .to_string()
            .contains("not a NIfTI")
    );
    // Dims larger than the data.
    let mut d = good.clone();
    d[46..48].copy_from_slice(&400i16.to_le_bytes());
    assert!(parse_nifti(&d).unwrap_err().to_string().contains("need"));
}

#[test]
fn displacement_field_round_trips() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = oblique_volume().geometry;
    let mut f = DisplacementField::zeros(g.clone());
    for ((k, j, i, c), v) in f.vectors_mm.indexed_iter_mut() {
        *v = (i as f32 - j as f32 * 0.5 + k as f32 * 0.25) * (c as f32 + 1.0);
    }
    let p = dir.path().join("f.nii.gz");
    write_displacement_field(&p, &f).expect("write");
    let back = read_displacement_field(&p).expect("read");
    assert!((back.geometry.direction - g.direction).norm() < 1e-5);
    assert!((back.geometry.origin_mm - g.origin_mm).norm() < 1e-4);
    assert_eq!(back.vectors_mm, f.vectors_mm);
    // A scalar image is not a field, and says so.
    let s = dir.path().join("s.nii");
    write_nifti(&s, &oblique_volume(), WriteDtype::F32).expect("write");
    let e = read_displacement_field(&s).unwrap_err().to_string();
    assert!(e.contains("not a 3D displacement field"), "{e}");
}

#[test]
fn scaling_follows_itk() {
    let dir = tempfile::tempdir().expect("tempdir");
    let v = oblique_volume();
    let p = dir.path().join("s.nii");
    write_nifti(&p, &v, WriteDtype::I16).expect("write");
    let mut bytes = std::fs::read(&p).expect("read");
    bytes[112..116].copy_from_slice(&2f32.to_le_bytes());
    bytes[116..120].copy_from_slice(&(-5f32).to_le_bytes());
    let s = parse_nifti(&bytes).expect("parse");
    assert_eq!(s.pixel_type, "float32");
    let expect = v.data[[1, 2, 3]].round() * 2.0 - 5.0;
    assert!((s.volume.data[[1, 2, 3]] - expect).abs() < 1e-4);
    // Slope 0 counts as 1, the intercept still applies.
    bytes[112..116].copy_from_slice(&0f32.to_le_bytes());
    let z = parse_nifti(&bytes).expect("parse");
    assert!((z.volume.data[[1, 2, 3]] - (v.data[[1, 2, 3]].round() - 5.0)).abs() < 1e-4);
}
