#!/usr/bin/env bash
# The whole test suite: provisions libtorch and the reference venv (idempotent), runs the
# comparison against SimpleITK/nibabel on real files shipped by pydicom and nibabel, then
# cargo test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
scripts/setup-libtorch.sh
scripts/setup-refvenv.sh
cargo build --bin srrd
.venv-ref/bin/python tests/real_files/compare.py --srrd target/debug/srrd
.venv-ref/bin/python tests/real_files/resample_check.py --srrd target/debug/srrd
.venv-ref/bin/python tests/real_files/morph_check.py --srrd target/debug/srrd
cargo test
