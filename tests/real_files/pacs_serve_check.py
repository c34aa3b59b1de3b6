#!/usr/bin/env python3
"""Check `srrd serve` against a real PACS: a local Orthanc (scripts/pacs-local.sh, in a
temp folder, stopped by its PID) sends knee CTs to the service, which must send the SEG,
parametric maps and SR back into each CT's study without a person touching anything.

1. The demo knee's CT (pydicom, 90 slices) is stored into Orthanc with `storescu`; the
   service (`srrd serve --config`, settle 2 s) is started; Orthanc sends the study to it
   (REST `/modalities/SRRDSERVE/store`). Within 120 s Orthanc's study holds exactly one
   SEG and one SR (and the 4 parametric maps); the time from the last instance sent to
   the results in Orthanc is printed. `srrd serve status --json` says 1 sent.
2. An AE title not in allowed_callers is rejected at association (storescu fails) and the
   log says so in one line; garbage bytes, a truncated A-ASSOCIATE-RQ and a PDU claiming
   4 GB do not stop the service (echoscu still answers).
3. SIGKILL mid-analysis: a second copy of the CT (new UIDs) is sent; when `srrd serve
   status` says analyzing, the service is killed with SIGKILL (its PID, nothing else) and
   started again; the study ends with exactly one SEG and one SR, and the log says the
   analysis was interrupted and run again.
4. SIGKILL mid-receive: a third CT is stored straight to the service (storescu as ORTHANC);
   after 10 or more instances the service is killed, started again, and the sender sends
   the series again: the series is analyzed once from all 90 instances, one SEG, one SR.

Skips (exit 0, with a message) when Orthanc cannot be installed or started.
    $HOME/.cache/srrd/venv-ref/bin/python tests/real_files/pacs_serve_check.py --srrd target/debug/srrd
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nibabel as nib
import numpy as np
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pacs_export_check import lps, write_series  # noqa: E402
from pacs_node_check import demo_knee  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PORTS = {"SRRD_PACS_DICOM_PORT": "14262", "SRRD_PACS_HTTP_PORT": "18062",
         "SRRD_PACS_SRRD_PORT": "11132", "SRRD_PACS_SERVE_PORT": "11133",
         "SRRD_PACS_TOOLS_PORT": "11139"}
failures: list[str] = []


def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what, flush=True)
    if not ok:
        failures.append(what)


def run(cmd, env=None, timeout=600):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def rest(http: str, path: str, body: str | None = None):
    req = urllib.request.Request(http + path, data=body.encode() if body is not None else None,
                                 method="POST" if body is not None else "GET")
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def study_modalities(http: str, study_uid: str) -> list[str]:
    for sid in rest(http, "/studies"):
        if rest(http, f"/studies/{sid}")["MainDicomTags"]["StudyInstanceUID"] == study_uid:
            out = []
            for s in rest(http, f"/studies/{sid}/series"):
                out += [s["MainDicomTags"].get("Modality", "")] * len(s["Instances"])
            return sorted(out)
    return []


def orthanc_id(http: str, study_uid: str) -> str:
    r = rest(http, "/tools/lookup", study_uid)
    return [x["ID"] for x in r if x["Type"] == "Study"][0]


class Service:
    def __init__(self, srrd: str, config: Path, env: dict, log: Path):
        self.args, self.env, self.log = [srrd, "serve", "--config", str(config)], env, log
        self.proc = None

    def start(self):
        self.out = open(self.log, "a")
        self.proc = subprocess.Popen(self.args, stdout=self.out, stderr=self.out, env=self.env)
        time.sleep(1.0)

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)  # exactly the process this check started
            self.proc.wait(timeout=30)
        self.out.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--srrd", required=True)
    ap.add_argument("--keep")
    a = ap.parse_args()
    srrd = str(Path(a.srrd).resolve())
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="srrd-serve-"))
    tmp.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, **PORTS)
    pacs_dir = tmp / "orthanc"
    start = run([str(ROOT / "scripts/pacs-local.sh"), "start", str(pacs_dir)], env=env, timeout=900)
    if start.returncode == 3 or (start.returncode != 0 and shutil.which("Orthanc") is None):
        print(f"SKIP pacs_serve_check: no local Orthanc ({start.stderr.strip()[-300:]})")
        return 0
    if start.returncode != 0:
        print(start.stderr)
        return 1
    info = dict(line.split("=", 1) for line in start.stdout.split() if "=" in line)
    service = None
    try:
        service = checks(srrd, tmp, env, info)
    finally:
        if service is not None:
            service.kill(signal.SIGTERM)
        print(run([str(ROOT / "scripts/pacs-local.sh"), "stop", str(pacs_dir)], env=env).stderr.strip())
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"{len(failures)} failures" if failures else "all checks passed", file=sys.stderr)
    return 1 if failures else 0


def write_ct(knee: Path, folder: Path) -> str:
    img = nib.load(str(knee / "ct.nii.gz"))
    folder.mkdir(parents=True)
    study = {"uid": generate_uid(), "for": generate_uid()}
    write_series(folder, 3, np.asarray(img.dataobj, dtype=np.float64), lps(img), study,
                 {"Modality": "CT", "SeriesDescription": "KNEE BONE", "ConvolutionKernel": "BONE"})
    return study["uid"]


def wait_results(http: str, study_uid: str, timeout: float) -> tuple[list[str], float]:
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        mods = study_modalities(http, study_uid)
        if "SEG" in mods and "SR" in mods:
            time.sleep(1.0)  # let the last objects land
            return study_modalities(http, study_uid), time.monotonic() - t
        time.sleep(0.25)
    return study_modalities(http, study_uid), time.monotonic() - t


def status(srrd: str, config: Path, env: dict) -> dict:
    p = run([srrd, "serve", "status", "--config", str(config), "--json"], env=env)
    return json.loads(p.stdout) if p.returncode == 0 else {}


def checks(srrd: str, tmp: Path, env: dict, info: dict):
    port, http, serve_port = info["PACS_DICOM_PORT"], info["PACS_HTTP"], info["PACS_SERVE_PORT"]
    config = tmp / "serve.toml"
    config.write_text(f"""
ae_title = "SRRDSERVE"
bind = "127.0.0.1"
port = {serve_port}
allowed_callers = ["ORTHANC"]
queue = "queue"
settle_s = 2
timeout_s = 10
retry_s = 2

[destination]
ae_title = "ORTHANC"
host = "127.0.0.1"
port = {port}
""")
    log = tmp / "serve.out"
    service = Service(srrd, config, env, log)
    service.start()
    knee = demo_knee(srrd, tmp)

    # 1. Orthanc sends a CT; the results come back into its study.
    uid1 = write_ct(knee, tmp / "ct1")
    p = run(["storescu", "-aet", "STORESCU", "-aec", "ORTHANC", "+sd", "127.0.0.1", port, str(tmp / "ct1")])
    check(p.returncode == 0, "storescu stores the demo CT into Orthanc")
    rest(http, "/modalities/SRRDSERVE/store", json.dumps({"Resources": [orthanc_id(http, uid1)], "Synchronous": True}))
    mods, took = wait_results(http, uid1, 120)
    check(mods.count("SEG") == 1 and mods.count("SR") == 1 and mods.count("CT") == 90 + 4,
          f"the study holds the CT, 1 SEG, 1 SR and 4 maps {took:.1f} s after Orthanc sent the CT: "
          f"{sorted(set(mods))}")
    print(f"      service latency, demo CT (90 slices): results in Orthanc {took:.1f} s after the last instance")
    st = status(srrd, config, env)
    check(st.get("running") is True and st.get("sent") == 1 and st.get("failed") == 0, f"serve status: {st.get('sent')} sent, running")

    # 2. A stranger is rejected; malformed PDUs do not stop the service.
    p = run(["storescu", "-aet", "STRANGER", "-aec", "SRRDSERVE", "127.0.0.1", serve_port,
             str(sorted((tmp / "ct1").iterdir())[0])])
    time.sleep(0.5)
    text = log.read_text()
    check(p.returncode != 0 and "Calling AE Title Not Recognized" in p.stderr
          and text.count('association rejected: calling AE title "STRANGER" is not allowed') == 1,
          "an unknown calling AE title is rejected at association, one log line")
    for junk in [b"\x00" * 3, b"GET / HTTP/1.1\r\n\r\n", b"\x01\x00\x00\x00\x00\x40\x00\x01\x00\x00",
                 b"\x04\x00\xff\xff\xff\xff" + b"\x00" * 64]:
        with socket.create_connection(("127.0.0.1", int(serve_port)), timeout=5) as s:
            s.sendall(junk)
            s.settimeout(3)
            try:
                s.recv(64)
            except (socket.timeout, ConnectionError):
                pass
    p = run(["echoscu", "-aet", "ORTHANC", "-aec", "SRRDSERVE", "127.0.0.1", serve_port])
    check(p.returncode == 0 and service.proc.poll() is None, "after 4 malformed PDUs the service still answers C-ECHO")

    # 3. SIGKILL mid-analysis, restart: one result set.
    uid2 = write_ct(knee, tmp / "ct2")
    run(["storescu", "-aet", "STORESCU", "-aec", "ORTHANC", "+sd", "127.0.0.1", port, str(tmp / "ct2")])
    rest(http, "/modalities/SRRDSERVE/store", json.dumps({"Resources": [orthanc_id(http, uid2)], "Synchronous": True}))
    t = time.monotonic()
    killed = False
    while time.monotonic() - t < 60:
        if status(srrd, config, env).get("analyzing", 0) > 0:
            time.sleep(1.0)
            service.kill(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.2)
    check(killed, "the service was killed (SIGKILL) while analyzing")
    check(study_modalities(http, uid2).count("SEG") == 0, "no results in Orthanc yet")
    service.start()
    mods, took = wait_results(http, uid2, 120)
    time.sleep(3)
    mods = study_modalities(http, uid2)
    text = log.read_text()
    check(mods.count("SEG") == 1 and mods.count("SR") == 1 and mods.count("CT") == 90 + 4,
          f"after the restart the study holds exactly 1 SEG, 1 SR and 4 maps ({took:.1f} s)")
    check("analysis was interrupted; analyzing again" in text, "the log says the analysis was run again")
    st = status(srrd, config, env)
    check(st.get("sent") == 2 and st.get("analyzing") == 0, f"serve status: {st.get('sent')} sent")

    # 4. SIGKILL mid-receive, restart, the sender sends again: one job of 90, one result set.
    uid3 = write_ct(knee, tmp / "ct3")
    incoming = tmp / "queue" / "incoming"
    sender = subprocess.Popen(["storescu", "-aet", "ORTHANC", "-aec", "SRRDSERVE", "+sd", "127.0.0.1", serve_port,
                               str(tmp / "ct3")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t, got = time.monotonic(), 0
    while time.monotonic() - t < 30:
        got = sum(1 for f in incoming.rglob("*.dcm")) if incoming.exists() else 0
        if got >= 10:
            break
        time.sleep(0.02)
    service.kill(signal.SIGKILL)
    sender.wait(timeout=60)
    check(10 <= got < 90, f"the service was killed (SIGKILL) mid-receive, {got} of 90 instances in")
    service.start()
    p = run(["storescu", "-aet", "ORTHANC", "-aec", "SRRDSERVE", "+sd", "127.0.0.1", serve_port, str(tmp / "ct3")])
    check(p.returncode == 0, "after the restart the sender stores the series again")
    mods, took = wait_results(http, uid3, 120)
    time.sleep(3)
    mods = study_modalities(http, uid3)
    st = status(srrd, config, env)
    jobs = {j["id"]: j for j in st.get("jobs", [])}
    n3 = [j["instances"] for j in jobs.values() if j["state"] == "sent"]
    check(mods.count("SEG") == 1 and mods.count("SR") == 1 and st.get("sent") == 3 and sorted(n3) == [90, 90, 90],
          f"one result set for the series, analyzed once from all 90 instances ({n3})")
    text = log.read_text()
    print("      log:\n" + "\n".join("        " + line for line in text.splitlines()[-10:]))
    return service


if __name__ == "__main__":
    sys.exit(main())
