#!/usr/bin/env bash
# Provision dciodvfy (Debian's dicom3tools), the DICOM validator that
# tests/real_files/dicom_out_check.py runs on every object `srrd analyze --dicom-out`
# writes. Idempotent: returns at once when dciodvfy is there. Without apt (or root) it says
# so and the check skips the validator; highdicom and pydicom still check the objects.
set -euo pipefail
if command -v dciodvfy >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-dicom-tools: no apt-get; dciodvfy will be skipped" >&2
  exit 0
fi
echo "setup-dicom-tools: installing dicom3tools (apt)" >&2
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq --no-install-recommends dicom3tools >/dev/null
