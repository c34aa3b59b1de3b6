"""Join crate.jsonl and ref.jsonl: per file, outcome of the nifti crate vs nibabel, and nibabel vs srrd info."""
import json, math, os, re, sys
import numpy as np

crate = {d["path"]: d for d in map(json.loads, open("crate.jsonl"))}
ref = {d["path"]: d for d in map(json.loads, open("ref.jsonl"))}

def num(x):
    if isinstance(x, str): return float(x)
    if isinstance(x, list): return [num(v) for v in x]
    return x

def close(a, b, rel=1e-5, ab=1e-4):
    a, b = np.asarray(num(a), float), np.asarray(num(b), float)
    if a.shape != b.shape: return False
    return bool(np.all((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= ab + rel * np.abs(b))))

HF = ["dim", "pixdim", "datatype", "scl_slope", "scl_inter", "qform_code", "sform_code", "quatern", "qoffset",
      "srow_x", "srow_y", "srow_z", "vox_offset", "magic"]
rows = []
for p, r in ref.items():
    c = crate[p]
    name = re.sub(r".*/nibabel/tests/data/", "nib:", p).replace("data/", "")
    notes = []
    if "header" in c and "header" in r:
        ch, rh = c["header"], r["header"]
        bad = [k for k in HF if not (ch[k] == rh[k] if k == "magic" else close(ch[k], rh[k]))]
        # dim: nibabel int16 vs crate u16 -> compare only used entries
        if "dim" in bad:
            n = rh["dim"][0]
            if close(ch["dim"][:n + 1], rh["dim"][:n + 1]): bad.remove("dim")
        if "pixdim" in bad:
            n = rh["dim"][0]
            if close(ch["pixdim"][:n + 1], rh["pixdim"][:n + 1]): bad.remove("pixdim"); notes.append("pixdim beyond dim[0] differs")
        hdr = "hdr ok" if not bad else "hdr DIFF " + ",".join(bad)
        if "affine_panic" in c: hdr += "; affine() PANIC"
        elif r.get("affine") and c.get("affine") and not close(c["affine"], r["affine"], ab=1e-3):
            hdr += "; affine DIFF"
    elif "header" in r:
        hdr = "hdr REFUSED (" + c.get("header_error", c.get("header_panic", "?")) + ")"
    else:
        hdr = "nibabel cannot load either"
    if c.get("read_ok"):
        if r.get("read_ok"):
            bad = [k for k in ("shape", "min", "max", "sum", "nan", "first3", "v120") if k in r and not close(c.get(k), r[k], rel=1e-5, ab=1e-3)]
            if "shape" in bad and list(c["shape"]) == [x for x in r["shape"]]: bad.remove("shape")
            data = "data ok" if not bad else "data DIFF " + ",".join(f"{k}: crate {c.get(k)} vs nib {r[k]}" for k in bad)
        else:
            data = f"data read by crate (min {c['min']} max {c['max']}); nibabel get_fdata fails: {r.get('error','')[:60]}"
    elif "panic" in c:
        data = "data PANIC: " + c["panic"][:80]
    else:
        data = "data REFUSED: " + c.get("error", "")[:80] + (" (nibabel reads it)" if r.get("read_ok") else " (nibabel too)")
    # nibabel (LPS) vs srrd info
    if "srrd" in r and "lps" in r:
        s = r["srrd"]; l = r["lps"]
        bad = [k for k in ("spacing", "origin", "direction") if not close(s[k], l[k], rel=1e-4, ab=1e-3)]
        if list(s["size"]) != list(r["shape"][:3]) if r.get("shape") else False: bad.append("size")
        if r.get("read_ok") and r.get("shape") and len(r["shape"]) <= 4:
            if not close([s["min"], s["max"]], [r["min"], r["max"]], rel=1e-5, ab=1e-3): bad.append(f"range srrd {s['min']},{s['max']} vs nib {r['min']},{r['max']}")
        srrd = "srrd=nib" if not bad else "srrd DIFF " + ",".join(bad)
    elif "srrd_error" in r:
        srrd = "srrd refuses: " + r["srrd_error"][-90:]
    else:
        srrd = "srrd n/a"
    rows.append((name, hdr, data, srrd, notes))
for row in rows:
    print(" | ".join([row[0], row[1], row[2], row[3]] + row[4]))
