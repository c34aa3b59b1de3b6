#!/usr/bin/env bash
# Quick start: builds (first time: ~15 min on 2 cores) and opens the SRRD workstation.
# Arguments go to `srrd`, e.g. `scripts/app.sh info scan.nii.gz`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup-libtorch.sh"
exec cargo run --quiet --manifest-path "$root/Cargo.toml" --bin srrd -- "$@"
