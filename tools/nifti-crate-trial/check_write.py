import json, os, subprocess
import numpy as np, nibabel as nib
w = json.load(open("write.json")); A = np.array(w["affine"])
x, y, z = np.meshgrid(np.arange(5), np.arange(4), np.arange(3), indexing="ij")
exp = {"f32": (x + 10*y + 100*z).astype(np.float32) + 0.25, "u8": ((x + 10*y + 60*z) % 256).astype(np.uint8)}
for f in ["w_f32.nii", "w_f32.nii.gz", "w_u8.nii.gz", "w_u8_pair.hdr", "w_f32_default.nii", "w_f32_setaffine.nii", "w_i16_scaled.nii"]:
    img = nib.load("data/written/" + f)
    from nibabel.openers import ImageOpener
    with ImageOpener((img.file_map.get('header') or img.file_map['image']).filename) as fo: h = type(img.header).from_fileobj(fo)
    key = "u8" if "u8" in f else "f32"
    a = np.asanyarray(img.dataobj)
    e = exp[key] if "i16" not in f else (exp["f32"].astype(np.int16) * 2 - 5)
    vals_ok = a.shape == e.shape and np.allclose(img.get_fdata(), e)
    qa, qc = img.get_qform(coded=True); sa, sc = img.get_sform(coded=True)
    r = subprocess.run([os.environ.get("SRRD", "../../target/debug/srrd"), "info", "data/written/" + f, "--json"], capture_output=True, text=True)
    print(json.dumps({"file": f, "dtype": str(img.get_data_dtype()), "shape": a.shape, "values_ok": bool(vals_ok),
        "sform_code": int(sc), "qform_code": int(qc),
        "sform_err": None if sa is None else float(np.abs(sa - A).max()),
        "qform_err": None if qa is None else float(np.abs(qa - A).max()),
        "pixdim": h["pixdim"].tolist()[:4], "xyzt_units": int(h["xyzt_units"]), "descrip": h["descrip"].item().decode(errors="replace"),
        "scl": [float(h["scl_slope"]), float(h["scl_inter"])], "intent": int(h["intent_code"]), "vox_offset": float(h["vox_offset"]), "magic": h["magic"].item().decode(),
        "srrd_info": (json.loads(r.stdout) if r.returncode == 0 else r.stderr.strip()[-200:])}, default=str))
