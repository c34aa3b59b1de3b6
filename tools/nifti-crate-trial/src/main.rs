//! Trial of the `nifti` crate: one JSON line per input file (header fields, f32 read, stats),
//! and a `write OUTDIR` mode that writes test volumes with WriterOptions.
use std::panic::{AssertUnwindSafe, catch_unwind};

use nalgebra::Matrix4;
use ndarray::{Array, Axis, IxDyn, ShapeBuilder};
use nifti::{IntoNdArray, NiftiHeader, NiftiObject, NiftiType, ReaderOptions};
use nifti::writer::WriterOptions;
use nifti::typedef::XForm;
use serde_json::{Value, json};

fn panic_msg(e: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = e.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = e.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic (non-string payload)".into()
    }
}

fn fnum(x: f32) -> Value {
    if x.is_finite() { json!(x) } else { json!(format!("{x}")) }
}

fn header_json(h: &NiftiHeader) -> Value {
    json!({
        "sizeof_hdr": h.sizeof_hdr,
        "dim": h.dim,
        "pixdim": h.pixdim.iter().map(|&x| fnum(x)).collect::<Vec<_>>(),
        "datatype": h.datatype,
        "bitpix": h.bitpix,
        "scl_slope": fnum(h.scl_slope),
        "scl_inter": fnum(h.scl_inter),
        "qform_code": h.qform_code,
        "sform_code": h.sform_code,
        "quatern": [h.quatern_b, h.quatern_c, h.quatern_d],
        "qoffset": [h.quatern_x, h.quatern_y, h.quatern_z],
        "srow_x": h.srow_x, "srow_y": h.srow_y, "srow_z": h.srow_z,
        "vox_offset": h.vox_offset,
        "magic": String::from_utf8_lossy(&h.magic).trim_end_matches('\0').to_string(),
        "endianness": format!("{:?}", h.endianness),
        "xyzt_units": h.xyzt_units,
        "intent_code": h.intent_code,
    })
}

fn affine_json(m: &Matrix4<f64>) -> Value {
    json!((0..4).map(|r| (0..4).map(|c| m[(r, c)]).collect::<Vec<_>>()).collect::<Vec<_>>())
}

fn probe(path: &str) -> Value {
    let mut out = json!({"path": path});
    // 1. Header alone.
    match catch_unwind(|| NiftiHeader::from_file(path)) {
        Ok(Ok(h)) => {
            out["header"] = header_json(&h);
            out["data_type"] = json!(format!("{:?}", h.data_type()));
            match catch_unwind(AssertUnwindSafe(|| h.affine::<f64>())) {
                Ok(a) => out["affine"] = affine_json(&a),
                Err(e) => out["affine_panic"] = json!(panic_msg(e)),
            }
        }
        Ok(Err(e)) => out["header_error"] = json!(e.to_string()),
        Err(e) => out["header_panic"] = json!(panic_msg(e)),
    }
    // 2. Whole object into f32 ndarray.
    let r = catch_unwind(|| -> Result<Array<f32, IxDyn>, String> {
        let obj = ReaderOptions::new().read_file(path).map_err(|e| format!("read_file: {e}"))?;
        obj.into_volume().into_ndarray::<f32>().map_err(|e| format!("into_ndarray: {e}"))
    });
    match r {
        Ok(Ok(a)) => {
            out["read_ok"] = json!(true);
            out["shape"] = json!(a.shape());
            let v = if a.ndim() == 4 { a.index_axis(Axis(3), 0).to_owned() } else { a.clone() };
            let (mut mn, mut mx, mut sum) = (f64::INFINITY, f64::NEG_INFINITY, 0f64);
            let mut nan = 0usize;
            for &x in v.iter() {
                let x = x as f64;
                if x.is_nan() { nan += 1; continue; }
                mn = mn.min(x); mx = mx.max(x); sum += x;
            }
            out["min"] = json!(mn); out["max"] = json!(mx); out["sum"] = json!(sum);
            out["nan"] = json!(nan);
            // value of first 3 voxels in file order (x fastest) to check ordering
            let first: Vec<f32> = v.t().iter().take(3).cloned().collect();
            out["first3"] = json!(first);
            // voxel [1,2,0] (x,y,z) if present
            if v.ndim() >= 3 && v.shape()[0] > 1 && v.shape()[1] > 2 {
                out["v120"] = json!(v[[1usize, 2, 0].as_slice().iter().chain(std::iter::repeat(&0usize).take(v.ndim()-3)).cloned().collect::<Vec<_>>().as_slice()]);
            }
        }
        Ok(Err(e)) => { out["read_ok"] = json!(false); out["error"] = json!(e); }
        Err(e) => { out["read_ok"] = json!(false); out["panic"] = json!(panic_msg(e)); }
    }
    out
}

fn write_tests(dir: &str) {
    std::fs::create_dir_all(dir).unwrap();
    // Affine (RAS): oblique rotation about z by 30 deg, spacing (0.5, 0.7, 2.0), reflection-free.
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    let aff = Matrix4::new(
        c * 0.5, -s * 0.7, 0.0, -10.5,
        s * 0.5, c * 0.7, 0.0, 20.25,
        0.0, 0.0, 2.0, -30.0,
        0.0, 0.0, 0.0, 1.0,
    );
    let (nx, ny, nz) = (5usize, 4usize, 3usize);
    // Arrays indexed [x, y, z] as the crate expects; value = x + 10 y + 100 z (+0.25 for f32).
    let f = Array::from_shape_fn((nx, ny, nz).f(), |(x, y, z)| (x + 10 * y + 100 * z) as f32 + 0.25);
    let u = Array::from_shape_fn((nx, ny, nz), |(x, y, z)| ((x + 10 * y + 60 * z) % 256) as u8);
    let mut h = NiftiHeader::default();
    h.set_sform(&aff, XForm::ScannerAnat);
    h.set_qform(&aff, XForm::ScannerAnat);
    h.xyzt_units = 10;
    h.set_description_str("nifti-crate trial").unwrap();
    let mut results = vec![];
    for (name, res) in [
        ("w_f32.nii", catch_unwind(AssertUnwindSafe(|| WriterOptions::new(format!("{dir}/w_f32.nii")).reference_header(&h).write_nifti(&f)))),
        ("w_f32.nii.gz", catch_unwind(AssertUnwindSafe(|| WriterOptions::new(format!("{dir}/w_f32.nii.gz")).reference_header(&h).compression_level(flate2_level()).write_nifti(&f)))),
        ("w_u8.nii.gz", catch_unwind(AssertUnwindSafe(|| WriterOptions::new(format!("{dir}/w_u8.nii.gz")).reference_header(&h).write_nifti(&u)))),
        ("w_u8_pair.hdr", catch_unwind(AssertUnwindSafe(|| WriterOptions::new(format!("{dir}/w_u8_pair.hdr")).reference_header(&h).write_nifti(&u)))),
        // default header: what does the writer put when no reference is given?
        ("w_f32_default.nii", catch_unwind(AssertUnwindSafe(|| WriterOptions::new(format!("{dir}/w_f32_default.nii")).write_nifti(&f)))),
        // set_affine helper (sform code 2, qform code 0)
        ("w_f32_setaffine.nii", catch_unwind(AssertUnwindSafe(|| { let mut h2 = NiftiHeader::default(); h2.set_affine(&aff); WriterOptions::new(format!("{dir}/w_f32_setaffine.nii")).reference_header(&h2).write_nifti(&f) }))),
        // scaled int16 attempt: header with scl_slope 2 -> writer overrides to 1
        ("w_i16_scaled.nii", catch_unwind(AssertUnwindSafe(|| { let mut h3 = h.clone(); h3.scl_slope = 2.0; h3.scl_inter = -5.0; h3.intent_code = 1002; WriterOptions::new(format!("{dir}/w_i16_scaled.nii")).reference_header(&h3).write_nifti_with_type(&f.mapv(|x| x as i16), NiftiType::Int16) }))),
    ] {
        let r = match res { Ok(Ok(())) => json!("ok"), Ok(Err(e)) => json!(format!("error: {e}")), Err(e) => json!(format!("panic: {}", panic_msg(e))) };
        results.push(json!({"file": name, "result": r}));
    }
    println!("{}", json!({"affine": affine_json(&aff), "writes": results}));
}

fn flate2_level() -> flate2::Compression { flate2::Compression::new(9) }

fn main() {
    std::panic::set_hook(Box::new(|_| {}));
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(|s| s.as_str()) == Some("write") {
        write_tests(&args[1]);
        return;
    }
    for p in &args {
        println!("{}", probe(p));
    }
}
