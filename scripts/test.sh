#!/usr/bin/env bash
# The whole test suite: provisions libtorch and the reference venv (idempotent), checks the
# readers on real files shipped by pydicom and nibabel against SimpleITK/nibabel, resampling
# against SimpleITK, morphometry against porespy/localthickness/scikit-image, the phantom's
# files and true transforms with SimpleITK/nibabel, the registration outputs read by
# SimpleITK, the DICOM objects written by --dicom-out against highdicom, pydicom and dciodvfy,
# a PACS export folder (CT kernels, scout, MR) written by pydicom, query/retrieve/send
# against a local Orthanc, a clinic's study trained
# and evaluated by srrd study, the cohort workflow under Snakemake, then cargo test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-libtorch.sh
scripts/setup-refvenv.sh
scripts/setup-gui.sh
scripts/setup-workflow.sh
scripts/setup-dicom-tools.sh
py="${SRRD_REFVENV_DIR:-$root/.venv-ref}/bin/python"
cargo build --bin srrd
srrd="${CARGO_TARGET_DIR:-$root/target}/debug/srrd"
"$py" tests/real_files/compare.py --srrd "$srrd"
"$py" tests/real_files/resample_check.py --srrd "$srrd"
"$py" tests/real_files/morph_check.py --srrd "$srrd"
"$py" tests/real_files/phantom_check.py --srrd "$srrd"
"$py" tests/real_files/register_check.py --srrd "$srrd"
"$py" tests/real_files/delong_check.py --srrd "$srrd"
"$py" tests/real_files/dicom_out_check.py --srrd "$srrd"
"$py" tests/real_files/pacs_export_check.py --srrd "$srrd"
# The DICOM node (srrd pacs echo/find/get/send) against a local Orthanc started by
# scripts/pacs-local.sh, DCMTK as the reference; skipped with a message without apt.
"$py" tests/real_files/pacs_node_check.py --srrd "$srrd"
# The analysis service (srrd serve): Orthanc sends CTs, SEG/SR come back; SIGKILL mid-analysis.
"$py" tests/real_files/pacs_serve_check.py --srrd "$srrd"
# A clinic's own study (DICOM exports by pydicom, KL grades, two readers) through srrd study.
"$py" tests/real_files/own_study_check.py --srrd "$srrd"
# The cohort workflow (Snakemake, local profile) on 4 small knees, one broken.
wf="${SRRD_WORKFLOW_VENV:-$root/.venv-workflow}"
"$wf/bin/python" tests/workflow/check_workflow.py --srrd "$srrd" --snakemake "$wf/bin/snakemake"
# Library, binary and integration tests (benches are run by hand: see README).
cargo test --workspace --lib --bins --tests
