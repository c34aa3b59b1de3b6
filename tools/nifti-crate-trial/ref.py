"""nibabel + `srrd info --json` reference: one JSON line per file."""
import json, os, subprocess, sys
import numpy as np, nibabel as nib

SRRD = os.environ.get("SRRD", "../../target/debug/srrd")

def tolist(x):
    return np.asarray(x).tolist()

def raw_header(img):
    """The header as stored (nibabel's img.header has scl_* and vox_offset reset after load)."""
    from nibabel.openers import ImageOpener
    fm = img.file_map.get("header") or img.file_map["image"]
    with ImageOpener(fm.filename) as fo:
        return type(getattr(img, 'nifti_header', img.header)).from_fileobj(fo, check=False)

def probe(path):
    out = {"path": path}
    try:
        img = nib.load(path)
        h = raw_header(img)
        out["class"] = type(img).__name__
        f = lambda k: tolist(h[k]) if k in h else None
        out["header"] = {
            "sizeof_hdr": f("sizeof_hdr"), "dim": f("dim"), "pixdim": f("pixdim"),
            "datatype": f("datatype"), "bitpix": f("bitpix"),
            "scl_slope": f("scl_slope"), "scl_inter": f("scl_inter"),
            "qform_code": f("qform_code"), "sform_code": f("sform_code"),
            "quatern": [f("quatern_b"), f("quatern_c"), f("quatern_d")],
            "qoffset": [f("qoffset_x"), f("qoffset_y"), f("qoffset_z")],
            "srow_x": f("srow_x"), "srow_y": f("srow_y"), "srow_z": f("srow_z"),
            "vox_offset": f("vox_offset"), "magic": (h["magic"].item().decode() if "magic" in h else None),
            "endianness": h.endianness, "xyzt_units": f("xyzt_units"), "intent_code": f("intent_code"),
        }
        out["affine"] = tolist(img.affine) if img.affine is not None else None
        out["dtype"] = str(img.get_data_dtype())
        try:
            a = img.get_fdata()
            if a.ndim == 4:
                a = a[..., 0]
            out["read_ok"] = True
            out["shape"] = list(img.shape)
            out["min"] = float(np.nanmin(a)); out["max"] = float(np.nanmax(a)); out["sum"] = float(np.nansum(a))
            out["nan"] = int(np.isnan(a).sum())
            out["first3"] = [float(v) for v in a.ravel(order="F")[:3]]
            if a.ndim >= 3 and a.shape[0] > 1 and a.shape[1] > 2:
                out["v120"] = float(a[(1, 2, 0) + (0,) * (a.ndim - 3)])
        except Exception as e:
            out["read_ok"] = False; out["error"] = f"{type(e).__name__}: {e}"
        # geometry in LPS as ITK would see it from nibabel's best affine
        if img.affine is not None and len(img.shape) >= 3:
            A = np.diag([-1, -1, 1, 1.]) @ img.affine
            M = A[:3, :3]; sp = np.linalg.norm(M, axis=0)
            out["lps"] = {"spacing": sp.tolist(), "origin": A[:3, 3].tolist(), "direction": (M / sp).ravel().tolist()}
    except Exception as e:
        out["load_error"] = f"{type(e).__name__}: {e}"
    try:
        r = subprocess.run([SRRD, "info", path, "--json"], capture_output=True, text=True, timeout=120)
        if r.returncode == 0:
            out["srrd"] = json.loads(r.stdout)
        else:
            out["srrd_error"] = (r.stderr.strip().splitlines() or ["rc=%d" % r.returncode])[-1]
    except Exception as e:
        out["srrd_error"] = str(e)
    return out

for p in sys.argv[1:]:
    print(json.dumps(probe(p)), flush=True)
