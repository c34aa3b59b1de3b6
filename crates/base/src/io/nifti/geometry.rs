//! The header's spatial forms: qform/sform to [`Geometry`] with ITK's rules when reading,
//! and the matching qform and sform (RAS, qfac for reflections) when writing.

use nalgebra::{Matrix3, Matrix4, Point3, UnitQuaternion, Vector3};

use super::Header;
use crate::error::{Error, Result};
use crate::volume::Geometry;

/// The qform matrix (RAS, 4x4) as nifti1_io builds it.
fn qform_matrix(h: &Header) -> Matrix4<f64> {
    let [mut b, mut c, mut d] = h.quatern;
    let mut a = 1.0 - (b * b + c * c + d * d);
    if a < 1e-7 {
        a = 1.0 / (b * b + c * c + d * d).sqrt();
        b *= a;
        c *= a;
        d *= a;
        a = 0.0;
    } else {
        a = a.sqrt();
    }
    let pd = |n: usize| {
        let v = h.pixdim[n];
        if v > 0.0 && v.is_finite() { v } else { 1.0 }
    };
    let (xd, yd) = (pd(1), pd(2));
    let mut zd = pd(3);
    if h.pixdim[0] < 0.0 {
        zd = -zd;
    }
    let r = Matrix3::new(
        a * a + b * b - c * c - d * d,
        2.0 * (b * c - a * d),
        2.0 * (b * d + a * c),
        2.0 * (b * c + a * d),
        a * a + c * c - b * b - d * d,
        2.0 * (c * d - a * b),
        2.0 * (b * d - a * c),
        2.0 * (c * d + a * b),
        a * a + d * d - c * c - b * b,
    );
    let m = r * Matrix3::from_diagonal(&Vector3::new(xd, yd, zd));
    let mut out = m.to_homogeneous();
    out.fixed_view_mut::<3, 1>(0, 3)
        .copy_from(&Vector3::from(h.qoffset));
    out
}

fn normalized_columns(m: &Matrix3<f64>) -> Option<Matrix3<f64>> {
    let mut out = *m;
    for c in 0..3 {
        let n = m.column(c).norm();
        if !(n > 0.0 && n.is_finite()) {
            return None;
        }
        out.set_column(c, &(m.column(c) / n));
    }
    Some(out)
}

/// Whether the sform is a rotation (or reflection) times a scaling, as ITK requires.
fn sform_is_orthonormal(s: &Matrix4<f64>) -> bool {
    let m: Matrix3<f64> = s.fixed_view::<3, 3>(0, 0).into();
    if m.iter().any(|v| !v.is_finite()) || m.determinant().abs() < 1e-12 {
        return false;
    }
    match normalized_columns(&m) {
        Some(r) => (r * r.transpose() - Matrix3::identity()).abs().max() <= 1e-4,
        None => false,
    }
}

pub(super) fn nifti_geometry(h: &Header, ndim: usize) -> Result<Geometry> {
    let space_scale = match h.xyzt_units & 7 {
        1 => 1000.0,
        3 => 1e-3,
        _ => 1.0,
    };
    let mut spacing = [1f64; 3];
    let mut flip = [false; 3];
    for a in 0..3 {
        let p = h.pixdim[a + 1];
        let used = a < ndim;
        if used && (!p.is_finite() || p == 0.0) {
            return Err(Error::invalid(format!(
                "pixdim[{}] (voxel spacing along axis {a}) is {p}",
                a + 1
            )));
        }
        if p.is_finite() && p != 0.0 {
            spacing[a] = p.abs() * space_scale;
            flip[a] = p < 0.0;
        }
    }
    let mut geometry = Geometry::new([1, 1, 1], spacing, [0.0; 3]);
    geometry.size = [
        h.dim[1].max(1) as usize,
        if ndim >= 2 {
            h.dim[2].max(1) as usize
        } else {
            1
        },
        if ndim >= 3 {
            h.dim[3].max(1) as usize
        } else {
            1
        },
    ];
    let qcode = h.qform_code.max(0);
    let scode = h.sform_code.max(0);
    if qcode == 0 && scode == 0 {
        return Ok(geometry);
    }
    let q = if qcode > 0 {
        qform_matrix(h)
    } else {
        Matrix4::from_diagonal(&nalgebra::Vector4::new(
            h.pixdim[1],
            h.pixdim[2],
            h.pixdim[3],
            1.0,
        ))
    };
    let s = if scode > 0 {
        let mut m = Matrix4::identity();
        for row in 0..3 {
            for c in 0..4 {
                m[(row, c)] = h.srow[row][c];
            }
        }
        m
    } else {
        Matrix4::zeros()
    };
    let similar = (s.fixed_view::<3, 3>(0, 0) - q.fixed_view::<3, 3>(0, 0))
        .abs()
        .max()
        <= 1e-5
        && (s.fixed_view::<3, 1>(0, 3) - q.fixed_view::<3, 1>(0, 3))
            .abs()
            .sum()
            <= 1e-7;
    let mut use_s = similar;
    if !similar || scode != 0 {
        if sform_is_orthonormal(&s) {
            use_s = if qcode == 0 || scode == 1 {
                true
            } else {
                forms_agree(&s, &q)
            };
        } else {
            use_s = false;
        }
    }
    let m = if use_s {
        s
    } else if qcode > 0 {
        q
    } else {
        return Err(Error::invalid(
            "sform is not orthonormal (sheared or skewed axes) and there is no qform",
        ));
    };
    let lin: Matrix3<f64> = m.fixed_view::<3, 3>(0, 0).into();
    let mut lps = lin;
    for c in 0..3 {
        lps[(0, c)] = -lin[(0, c)];
        lps[(1, c)] = -lin[(1, c)];
    }
    let mut dir = normalized_columns(&lps)
        .ok_or_else(|| Error::invalid("spatial transform has a zero axis"))?;
    for (a, flipped) in flip.iter().enumerate() {
        if *flipped {
            let col = -dir.column(a);
            dir.set_column(a, &col);
        }
    }
    if ndim < 3 {
        // ITK keeps only the in-plane block for 2D images.
        for a in ndim..3 {
            for b in 0..3 {
                dir[(a, b)] = if a == b { 1.0 } else { 0.0 };
                dir[(b, a)] = if a == b { 1.0 } else { 0.0 };
            }
        }
    }
    geometry.origin_mm = Point3::new(-m[(0, 3)], -m[(1, 3)], m[(2, 3)]) * space_scale;
    if ndim < 3 {
        geometry.origin_mm.z = 0.0;
    }
    if ndim < 2 {
        geometry.origin_mm.y = 0.0;
    }
    geometry.direction = dir;
    Ok(geometry)
}

/// ITK's test for an sform that describes the same grid as the qform.
fn forms_agree(s: &Matrix4<f64>, q: &Matrix4<f64>) -> bool {
    let sl: Matrix3<f64> = s.fixed_view::<3, 3>(0, 0).into();
    let ql: Matrix3<f64> = q.fixed_view::<3, 3>(0, 0).into();
    let (Some(sd), Some(qd)) = (normalized_columns(&sl), normalized_columns(&ql)) else {
        return false;
    };
    let norms_agree = (0..3).all(|c| (sl.column(c).norm() - ql.column(c).norm()).abs() <= 1e-4);
    let offsets_agree = (s.fixed_view::<3, 1>(0, 3) - q.fixed_view::<3, 1>(0, 3))
        .abs()
        .max()
        <= 1e-4;
    norms_agree && offsets_agree && (sd - qd).abs().max() <= 1e-4
}

/// Writes the qform (pixdim[0] = qfac, quaternion, offset) and the sform of this grid
/// into a NIfTI-1 header, both with code 1 (scanner), converting LPS to RAS.
pub(super) fn put_forms(h: &mut [u8], g: &Geometry) {
    let put_i16 =
        |h: &mut [u8], off: usize, v: i16| h[off..off + 2].copy_from_slice(&v.to_le_bytes());
    let put_f32 = |h: &mut [u8], off: usize, v: f64| {
        h[off..off + 4].copy_from_slice(&(v as f32).to_le_bytes())
    };
    // RAS rotation from the LPS direction; a reflection goes into qfac.
    let mut ras = g.direction;
    for c in 0..3 {
        ras[(0, c)] = -ras[(0, c)];
        ras[(1, c)] = -ras[(1, c)];
    }
    let ras = orthonormalize(&ras);
    let mut rot = ras;
    let qfac = if ras.determinant() < 0.0 {
        let col = -rot.column(2);
        rot.set_column(2, &col);
        -1.0
    } else {
        1.0
    };
    let q = UnitQuaternion::from_matrix(&rot);
    let q = if q.w < 0.0 {
        -q.into_inner()
    } else {
        q.into_inner()
    };
    put_f32(h, 76, qfac);
    put_i16(h, 252, 1);
    put_i16(h, 254, 1);
    put_f32(h, 256, q.i);
    put_f32(h, 260, q.j);
    put_f32(h, 264, q.k);
    let o = [-g.origin_mm.x, -g.origin_mm.y, g.origin_mm.z];
    for (a, v) in o.iter().enumerate() {
        put_f32(h, 268 + 4 * a, *v);
    }
    let s = ras * Matrix3::from_diagonal(&g.spacing_mm);
    for row in 0..3 {
        for c in 0..3 {
            put_f32(h, 280 + 16 * row + 4 * c, s[(row, c)]);
        }
        put_f32(h, 280 + 16 * row + 12, o[row]);
    }
}

/// The nearest orthonormal matrix (polar decomposition), keeping the determinant's sign.
fn orthonormalize(m: &Matrix3<f64>) -> Matrix3<f64> {
    let svd = m.svd(true, true);
    match (svd.u, svd.v_t) {
        (Some(u), Some(vt)) => u * vt,
        _ => *m,
    }
}
