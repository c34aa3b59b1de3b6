#!/usr/bin/env python3
"""Check `srrd pacs echo|find|get|send` against a real PACS: a local Orthanc (Debian
package, started by scripts/pacs-local.sh in a temp folder and stopped by its PID), with
DCMTK's tools as the independent reference.

1. The demo knee (`srrd phantom --seed 7 --grade advanced --preset paper`, or the cached
   one) is written by pydicom as one study: the MR (120 sagittal slices 640x640) and the
   CT (90 axial slices 150x150); DCMTK's `storescu` stores it into Orthanc.
2. `srrd pacs echo` answers; a node that accepts TCP but never answers is an error within
   the configured timeout; an AE title Orthanc does not know is refused; a node missing
   from nodes.toml is named with the file.
3. `srrd pacs find --json` (study level by patient ID, by name wildcard + date range +
   modality; series level) gives the values `findscu` extracts for the same queries.
4. `srrd pacs get --json` retrieves the study: every instance, data set equal to the file
   stored, under CACHE/<study>/<series>/; `srrd analyze --ct` on the retrieved folder
   gives the same report values as on the original files. The same study by DCMTK's
   `getscu` and `movescu` in the same run: the retrieval rates are printed (MB/s,
   images/s) for the README.
5. A study whose UIDs are crafted (`../../x`) is retrieved without writing outside the
   cache.
6. `srrd analyze --dicom-out` results (SEG, parametric maps, SR) are sent with `srrd pacs
   send`: Orthanc's REST lists them in the CT's study, and highdicom reads the SEG and SR
   Orthanc gives back.

Skips (exit 0, with a message) when Orthanc cannot be installed or started (no apt).
Run with the reference venv:
    $HOME/.cache/srrd/venv-ref/bin/python tests/real_files/pacs_node_check.py --srrd target/debug/srrd
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import highdicom as hd
import nibabel as nib
import numpy as np
import pydicom
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pacs_export_check import lps, write_series  # noqa: E402  (the same pydicom writer)

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"SRRD_PACS_DICOM_PORT": "14252", "SRRD_PACS_HTTP_PORT": "18052",
         "SRRD_PACS_SRRD_PORT": "11122", "SRRD_PACS_SERVE_PORT": "11123",
         "SRRD_PACS_TOOLS_PORT": "11129"}
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(cmd: list[str], env=None, timeout=600, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)


def rest(http: str, path: str):
    with urllib.request.urlopen(http + path, timeout=10) as r:
        data = r.read()
    return json.loads(data) if path.split("/")[-1] != "file" else data


def demo_knee(srrd: str, tmp: Path) -> Path:
    cached = Path(os.environ.get("SRRD_DEMO_DIR") or Path.home() / ".cache/srrd/demo-knee")
    if (cached / "truth.json").is_file() and (cached / "mr.nii.gz").is_file():
        return cached
    out = tmp / "demo-knee"
    p = run([srrd, "phantom", "--out", str(out), "--seed", "7", "--grade", "advanced", "--preset", "paper"])
    assert p.returncode == 0, p.stderr
    return out


def files_by_uid(folder: Path) -> dict:
    out = {}
    for f in folder.rglob("*"):
        if f.is_file():
            try:
                ds = pydicom.dcmread(f)
            except Exception:
                continue
            out[str(ds.SOPInstanceUID)] = (f, ds)
    return out


def findscu(port: str, keys: list[str], out: Path) -> list[pydicom.Dataset]:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    args = ["findscu", "-aet", "FINDSCU", "-aec", "ORTHANC", "-S", "-X", "-od", str(out)]
    for k in keys:
        args += ["-k", k]
    p = run(args + ["127.0.0.1", port])
    assert p.returncode == 0, p.stderr
    return [pydicom.dcmread(f) for f in sorted(out.glob("rsp*.dcm"))]


def rate(bytes_: int, files: int, seconds: float) -> str:
    return f"{bytes_ / 1e6 / seconds:.1f} MB/s, {files / seconds:.0f} images/s ({files} images, {seconds:.2f} s)"


def silent_server() -> tuple[socket.socket, int]:
    """A TCP server that accepts and never says a word (a peer that stopped answering)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(4)
    conns = []

    def serve():
        while True:
            try:
                c, _ = s.accept()
                conns.append(c)
            except OSError:
                return
    threading.Thread(target=serve, daemon=True).start()
    return s, s.getsockname()[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--keep", help="work folder to keep (default: a temp folder, removed)")
    a = ap.parse_args()
    srrd = str(Path(a.srrd).resolve())
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="srrd-pacs-node-"))
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **PORTS)
    pacs_dir = tmp / "orthanc"
    start = run([str(ROOT / "scripts/pacs-local.sh"), "start", str(pacs_dir)], env=env, timeout=900)
    if start.returncode == 3 or (start.returncode != 0 and shutil.which("Orthanc") is None):
        print(f"SKIP pacs_node_check: no local Orthanc ({start.stderr.strip()[-300:]})")
        return 0
    if start.returncode != 0:
        print(start.stderr)
        check(False, "scripts/pacs-local.sh start")
        return 1
    info = dict(line.split("=", 1) for line in start.stdout.split() if "=" in line)
    try:
        return checks(srrd, tmp, env, info)
    finally:
        stop = run([str(ROOT / "scripts/pacs-local.sh"), "stop", str(pacs_dir)], env=env)
        print(stop.stderr.strip())
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def checks(srrd: str, tmp: Path, env0: dict, info: dict) -> int:
    port, http = info["PACS_DICOM_PORT"], info["PACS_HTTP"]
    silent, silent_port = silent_server()
    cfg = tmp / "config"
    cfg.mkdir(exist_ok=True)
    (cfg / "nodes.toml").write_text(f"""
[local]
ae_title = "SRRD"
port = {info['PACS_SRRD_PORT']}
timeout_s = 20

[nodes.orthanc]
ae_title = "ORTHANC"
host = "127.0.0.1"
port = {port}

[nodes.mute]
ae_title = "MUTE"
host = "127.0.0.1"
port = {silent_port}
""")
    env = dict(env0, SRRD_CONFIG_DIR=str(cfg))

    def srrd_json(args: list[str], what: str, e=None):
        p = run([srrd, *args, "--json"], env=e or env)
        check(p.returncode == 0, f"{what} (exit {p.returncode}) {p.stderr.strip()[-300:] if p.returncode else ''}")
        return json.loads(p.stdout) if p.returncode == 0 else None

    # 1. The demo knee as a DICOM study, stored by storescu.
    knee = demo_knee(srrd, tmp)
    ct_img, mr_img = nib.load(str(knee / "ct.nii.gz")), nib.load(str(knee / "mr.nii.gz"))
    study_dir = tmp / "study"
    study_dir.mkdir(exist_ok=True)
    study = {"uid": generate_uid(), "for": generate_uid()}
    mr_uid = write_series(study_dir, 2, np.asarray(mr_img.dataobj, dtype=np.float64), lps(mr_img), study,
                          {"Modality": "MR", "SeriesDescription": "PD SPACE SAG", "AccessionNumber": "ACC77"})
    ct_uid = write_series(study_dir, 3, np.asarray(ct_img.dataobj, dtype=np.float64), lps(ct_img), study,
                          {"Modality": "CT", "SeriesDescription": "KNEE BONE", "ConvolutionKernel": "BONE",
                           "AccessionNumber": "ACC77"})
    originals = files_by_uid(study_dir)
    total_bytes = sum(f.stat().st_size for f, _ in originals.values())
    t = time.monotonic()
    p = run(["storescu", "-aet", "STORESCU", "-aec", "ORTHANC", "+sd", "127.0.0.1", port, str(study_dir)])
    check(p.returncode == 0, f"storescu stores the demo knee study ({len(originals)} files, {total_bytes / 1e6:.0f} MB, "
          f"{time.monotonic() - t:.1f} s) {p.stderr[-200:]}")
    stats = rest(http, "/statistics")
    check(stats["CountInstances"] == len(originals) and stats["CountStudies"] == 1,
          f"Orthanc holds {stats['CountInstances']} instances in {stats['CountStudies']} study")

    # 2. Echo, a mute node, an unknown AE, an unknown node.
    v = srrd_json(["pacs", "echo", "--node", "orthanc"], "srrd pacs echo answers")
    check(v is not None and v["ok"] and v["ae_title"] == "ORTHANC", "echo JSON names ORTHANC")
    (cfg / "nodes.toml").write_text((cfg / "nodes.toml").read_text().replace("timeout_s = 20", "timeout_s = 1.5"))
    t = time.monotonic()
    p = run([srrd, "pacs", "echo", "--node", "mute"], env=env, timeout=60)
    took = time.monotonic() - t
    check(p.returncode == 1 and "node mute" in p.stderr and "no answer within 1.5 s" in p.stderr and took < 10,
          f"a node that never answers: error in {took:.1f} s: {p.stderr.strip()}")
    (cfg / "nodes.toml").write_text((cfg / "nodes.toml").read_text().replace("timeout_s = 1.5", "timeout_s = 20"))
    silent.close()
    stranger = tmp / "stranger"
    stranger.mkdir(exist_ok=True)
    (stranger / "nodes.toml").write_text((cfg / "nodes.toml").read_text().replace('ae_title = "SRRD"', 'ae_title = "NOBODY"'))
    p = run([srrd, "pacs", "find", "--node", "orthanc", "--patient-id", "*"], env=dict(env, SRRD_CONFIG_DIR=str(stranger)))
    check(p.returncode == 1 and "node orthanc" in p.stderr and "does not know our AE title" in p.stderr,
          f"an AE title Orthanc does not know is refused (Orthanc aborts), said so: {p.stderr.strip()[:200]}")
    p = run([srrd, "pacs", "echo", "--node", "nope"], env=env)
    check(p.returncode == 1 and "nodes.toml" in p.stderr and 'no node named "nope" (known: mute, orthanc)' in p.stderr,
          f"an unknown node names the file and the known ones: {p.stderr.strip()}")

    # 3. find against findscu.
    v = srrd_json(["pacs", "find", "--node", "orthanc", "--patient-id", "KNEE-0077"], "srrd pacs find by patient ID")
    ref = findscu(port, ["QueryRetrieveLevel=STUDY", "PatientID=KNEE-0077", "StudyInstanceUID", "PatientName",
                         "StudyDate", "StudyTime", "AccessionNumber", "ModalitiesInStudy",
                         "NumberOfStudyRelatedSeries", "NumberOfStudyRelatedInstances"], tmp / "f1")
    check(len(ref) == 1 and v is not None and len(v["studies"]) == 1, f"one study each (findscu {len(ref)})")
    if ref and v and v["studies"]:
        s, r = v["studies"][0], ref[0]
        pairs = [(s["study_instance_uid"], str(r.StudyInstanceUID)), (s["patient_id"], str(r.PatientID)),
                 (s["patient_name"], str(r.PatientName)), (s["study_date"], str(r.StudyDate)),
                 (s["study_time"], str(r.StudyTime)), (s["accession_number"], str(r.AccessionNumber)),
                 (s["modalities_in_study"], list(r.ModalitiesInStudy)),
                 (s["number_of_series"], int(r.NumberOfStudyRelatedSeries)),
                 (s["number_of_instances"], int(r.NumberOfStudyRelatedInstances))]
        check(all(x == y for x, y in pairs) and s["study_instance_uid"] == study["uid"]
              and s["number_of_instances"] == len(originals),
              f"study values equal findscu's: {[x for x, _ in pairs][2:]}")
    v2 = srrd_json(["pacs", "find", "--node", "orthanc", "--name", "Knee*", "--date", "20261101-20261231",
                    "--modality", "CT", "--accession", "ACC77"], "find by name wildcard, date range, modality, accession")
    check(v2 is not None and [s["study_instance_uid"] for s in v2["studies"]] == [study["uid"]], "that query finds the study")
    v3 = srrd_json(["pacs", "find", "--node", "orthanc", "--date", "20250101-20251231"], "find by another date range")
    check(v3 is not None and v3["studies"] == [], "a date range outside the study finds nothing")
    v4 = srrd_json(["pacs", "find", "--node", "orthanc", "--study", study["uid"], "--series"], "find --series")
    ref = findscu(port, ["QueryRetrieveLevel=SERIES", f"StudyInstanceUID={study['uid']}", "SeriesInstanceUID",
                         "Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances"], tmp / "f2")
    if v4 is not None:
        mine = sorted((r["series_instance_uid"], r["modality"], r["series_number"], r["series_description"],
                       r["number_of_instances"]) for r in v4["series"])
        theirs = sorted((str(r.SeriesInstanceUID), str(r.Modality), int(r.SeriesNumber), str(r.SeriesDescription),
                         int(r.NumberOfSeriesRelatedInstances)) for r in ref)
        check(mine == theirs and len(mine) == 2, f"series values equal findscu's: {[m[1:] for m in mine]}")

    # 4. get: every instance back, equal; analysis equal; rates beside DCMTK's.
    cache = tmp / "cache"
    t = time.monotonic()
    g = srrd_json(["pacs", "get", "--node", "orthanc", "--study", study["uid"], "--out", str(cache)], "srrd pacs get the study")
    t_srrd = time.monotonic() - t
    got = files_by_uid(cache)
    check(g is not None and g["instances"] == len(originals) == len(got), f"{len(got)} of {len(originals)} instances retrieved")
    same = sum(1 for uid, (f, ds) in got.items() if uid in originals and ds == originals[uid][1]
               and f.parent.name == str(ds.SeriesInstanceUID) and f.parent.parent.name == study["uid"])
    check(same == len(originals), f"{same} retrieved data sets equal the stored files, in CACHE/<study>/<series>/")
    folders = {Path(x["folder"]).name: x["files"] for x in (g or {}).get("series_folders", [])}
    check(folders == {ct_uid: 90, mr_uid: 120}, f"series folders: {sorted(folders.values())}")
    reports = []
    for name, folder in [("original", study_dir), ("retrieved", cache / study["uid"])]:
        r = srrd_json(["analyze", "--ct", str(folder), "--out", str(tmp / f"an-{name}")], f"analyze --ct on the {name} files")
        reports.append(r)
    if all(reports):
        keys = ["subregions_ct", "koa", "checks", "knee", "status"]
        check(all(reports[0].get(k) == reports[1].get(k) for k in keys),
              "analyze on the retrieved files gives the same subregion parameters, KOA score and checks")

    # Wall time of each command, process start included, for all four.
    figures = {"srrd pacs get": rate(g["bytes"] if g else 0, len(got), t_srrd)}
    g_dir = tmp / "getscu"
    g_dir.mkdir()
    t = time.monotonic()
    p = run(["getscu", "-aet", "GETSCU", "-aec", "ORTHANC", "-S", "-k", "QueryRetrieveLevel=STUDY",
             "-k", f"StudyInstanceUID={study['uid']}", "-od", str(g_dir), "127.0.0.1", port])
    t_get = time.monotonic() - t
    n = len(list(g_dir.iterdir()))
    check(p.returncode == 0 and n == len(originals), f"getscu retrieves {n} files")
    figures["DCMTK getscu"] = rate(sum(f.stat().st_size for f in g_dir.iterdir()), n, t_get)
    # getscu again with its largest PDU (DCMTK's default is 16 KB, ours 256 KB).
    g2 = tmp / "getscu-pdu"
    g2.mkdir()
    t = time.monotonic()
    p = run(["getscu", "-aet", "GETSCU", "-aec", "ORTHANC", "-S", "-pdu", "131072", "-k", "QueryRetrieveLevel=STUDY",
             "-k", f"StudyInstanceUID={study['uid']}", "-od", str(g2), "127.0.0.1", port])
    t_get2 = time.monotonic() - t
    n = len(list(g2.iterdir()))
    check(p.returncode == 0 and n == len(originals), f"getscu -pdu 131072 retrieves {n} files")
    figures["getscu -pdu 128K"] = rate(sum(f.stat().st_size for f in g2.iterdir()), n, t_get2)
    m_dir = tmp / "movescu"
    m_dir.mkdir()
    t = time.monotonic()
    p = run(["movescu", "-aet", "MOVESCU", "-aec", "ORTHANC", "-aem", "MOVESCU", "--port", info["PACS_TOOLS_PORT"],
             "-S", "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study['uid']}", "-od", str(m_dir),
             "127.0.0.1", port])
    t_move = time.monotonic() - t
    n = len(list(m_dir.iterdir()))
    check(p.returncode == 0 and n == len(originals), f"movescu retrieves {n} files")
    figures["DCMTK movescu"] = rate(sum(f.stat().st_size for f in m_dir.iterdir()), n, t_move)
    for k, v in figures.items():
        print(f"      retrieval, same study, same run: {k:16} {v}")

    # By query: the CT series of the patient, without UIDs.
    q = srrd_json(["pacs", "get", "--node", "orthanc", "--patient-id", "KNEE-0077", "--modality", "CT",
                   "--out", str(tmp / "by-query")], "srrd pacs get --patient-id --modality CT")
    check(q is not None and q["instances"] == 90 and [Path(x["folder"]).name for x in q["series_folders"]] == [ct_uid],
          f"get by query brings the CT series only ({q and q['instances']} images)")

    # 5. Crafted UIDs stay inside the cache.
    evil_dir = tmp / "evil"
    evil_dir.mkdir()
    ds = pydicom.dcmread(sorted(study_dir.glob("IM-0003-*.dcm"))[0])
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "../../evil-study", "../evil-series"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "../../x"
    ds.PatientID = "EVIL"
    ds.save_as(evil_dir / "evil.dcm", enforce_file_format=True)
    p = run(["storescu", "-aet", "STORESCU", "-aec", "ORTHANC", "127.0.0.1", port, str(evil_dir / "evil.dcm")])
    if p.returncode == 0 and rest(http, "/statistics")["CountStudies"] == 2:
        jail = tmp / "jail" / "cache"
        jail.mkdir(parents=True)
        before = {x for x in (tmp / "jail").rglob("*")} | set(tmp.iterdir())
        ge = srrd_json(["pacs", "get", "--node", "orthanc", "--study", "../../evil-study", "--out", str(jail)],
                       "get the study with crafted UIDs")
        inside = [f for f in jail.rglob("*") if f.is_file()]
        outside = [x for x in set(tmp.iterdir()) | {x for x in (tmp / "jail").rglob("*")} if x not in before
                   and not x.resolve().is_relative_to(jail.resolve())]
        check(ge is not None and ge["instances"] == 1 and len(inside) == 1 and not outside
              and all(".." not in part for part in inside[0].relative_to(jail).parts)
              and inside[0].name == "____x.dcm",
              f"crafted UIDs: written as {inside[0].relative_to(jail) if inside else None}, nothing outside the cache")
    else:
        print(f"      (Orthanc did not store the crafted UIDs: {p.stderr.strip()[-200:]}; the unit test covers names)")

    # 6. send: SEG, parametric maps, SR into the CT's study.
    out = tmp / "an-dicom"
    p = run([srrd, "analyze", "--ct", str(study_dir), "--out", str(out), "--dicom-out", str(out / "dicom")], env=env)
    check(p.returncode == 0, f"analyze --dicom-out on the study ({p.stderr.strip()[-200:] if p.returncode else ''})")
    s = srrd_json(["pacs", "send", "--node", "orthanc", str(out / "dicom")], "srrd pacs send the results")
    sent = sorted(x.name for x in (out / "dicom").glob("*.dcm"))
    check(s is not None and s["sent"] == len(sent) == 6 and s["failed"] == [], f"sent {s and s['sent']} objects: {sent}")
    found = rest(http, "/studies")
    ours = [st for st in found if rest(http, f"/studies/{st}")["MainDicomTags"]["StudyInstanceUID"] == study["uid"]]
    check(len(ours) == 1, "the study is still one study in Orthanc")
    if ours:
        series = rest(http, f"/studies/{ours[0]}/series")
        modalities = sorted(x["MainDicomTags"].get("Modality", "") for x in series)
        check(modalities.count("SEG") == 1 and modalities.count("SR") == 1 and len(series) == 2 + 6,
              f"Orthanc lists the study's series: {modalities}")
        for x in series:
            mod = x["MainDicomTags"].get("Modality")
            if mod in ("SEG", "SR"):
                raw = rest(http, f"/instances/{x['Instances'][0]}/file")
                path = tmp / f"back-{mod}.dcm"
                path.write_bytes(raw)
                if mod == "SEG":
                    seg = hd.seg.segread(str(path))
                    check(len(seg.SegmentSequence) >= 14 and seg.StudyInstanceUID == study["uid"],
                          f"highdicom reads the SEG Orthanc gives back ({len(seg.SegmentSequence)} segments)")
                else:
                    sr = hd.sr.srread(str(path))
                    check(sr.StudyInstanceUID == study["uid"], "highdicom reads the SR Orthanc gives back")

    print(f"{len(failures)} failures" if failures else "all checks passed", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
