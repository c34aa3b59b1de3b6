#!/usr/bin/env bash
# Provision the reference Python environment used by tests/real_files/compare.py:
# a venv at .venv-ref/ (ignored by git) holding numpy, pydicom, nibabel, SimpleITK and the
# morphometry references (scikit-image, porespy, localthickness) and highdicom (DICOM out),
# installed from PyPI wheels only (no source builds, no other downloads).
#
# Idempotent: when .venv-ref/.ok-<hash of the requirement list> exists the script exits
# at once. Changing the pins below changes the hash and rebuilds the venv from scratch.
# Set PYTHON to choose the interpreter that creates the venv (default: python3).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SRRD_REFVENV_DIR:-$root/.venv-ref}"

requirements=(
  "numpy==2.4.6"
  "pydicom==3.0.2"
  "nibabel==5.4.2"
  "SimpleITK==2.5.7"
  "scikit-image==0.26.0"
  "porespy==3.2.0"
  "localthickness==0.1.3"
  "highdicom==0.28.2"
)
hash="$(printf '%s\n' "${requirements[@]}" | sha256sum | cut -c1-16)"
marker="$venv/.ok-$hash"

if [ -f "$marker" ] && [ -x "$venv/bin/python" ]; then
  exit 0
fi

echo "setup-refvenv: creating $venv (${requirements[*]})" >&2
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --only-binary=:all: "${requirements[@]}"
# Sanity check: every package imports (SimpleITK's native library loads).
"$venv/bin/python" -c 'import numpy, pydicom, nibabel, SimpleITK, skimage, porespy, localthickness, edt, highdicom'
touch "$marker"
echo "setup-refvenv: done" >&2
