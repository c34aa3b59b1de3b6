#!/usr/bin/env bash
# Reproduces README.md's table: the `nifti` crate (0.18) against nibabel, on nibabel's own
# test files, edge cases written by nibabel (make_synth.py) and files written by srrd.
# Needs the reference venv (scripts/setup-refvenv.sh) and a built srrd (cargo build).
# Not part of the project's build or tests: a record of why src/io/nifti.rs stays.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="${PY:-$root/.venv-ref/bin/python}"
export SRRD="${SRRD:-$root/target/debug/srrd}"
cd "$here"
mkdir -p data/synth
"$py" make_synth.py
[ -f data/ph1/ct.nii.gz ] || "$SRRD" phantom --preset small --out data/ph1 >/dev/null
[ -f data/ph2/ct.nii.gz ] || "$SRRD" phantom --preset small --seed 2 --left --feet-first \
  --leg-rotation-deg 15 --out data/ph2 >/dev/null
nib="$("$py" -c 'import nibabel, os; print(os.path.dirname(nibabel.__file__) + "/tests/data")')"
{
  for f in anatomical.nii example4d.nii.gz functional.nii reoriented_anat_moved.nii \
    standard.nii.gz example_nifti2.nii.gz nifti2.hdr row_major.dconn.nii nifti1.hdr analyze.hdr; do
    [ -e "$nib/$f" ] && echo "$nib/$f"
  done
  ls data/synth/*.nii data/synth/*.nii.gz data/synth/*.hdr 2>/dev/null
  ls data/ph1/*.nii.gz data/ph2/*.nii.gz
} > files.txt
cargo build -q -j1
./target/debug/nifti-trial $(cat files.txt) > crate.jsonl
"$py" ref.py $(cat files.txt) > ref.jsonl
"$py" compare.py | tee compare.txt
