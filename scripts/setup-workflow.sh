#!/usr/bin/env bash
# Provision the cohort workflow's Python environment: a venv (default .venv-workflow/,
# ignored by git; SRRD_WORKFLOW_VENV to move it) with pinned Snakemake and its executor
# plugins (Slurm, generic cluster, Kubernetes), from PyPI (wheels where they exist; connection_pool, a pure-Python dependency, is source only).
# Idempotent: a marker named after the pins' hash makes a second run exit at once.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="${SRRD_WORKFLOW_VENV:-$root/.venv-workflow}"
requirements=(
  "snakemake==9.27.1"
  "snakemake-executor-plugin-cluster-generic==1.0.9"
  "snakemake-executor-plugin-slurm==2.8.0"
  "snakemake-executor-plugin-kubernetes==0.5.1"
)
hash="$(printf '%s\n' "${requirements[@]}" | sha256sum | cut -c1-16)"
marker="$venv/.ok-$hash"
if [ -f "$marker" ] && [ -x "$venv/bin/snakemake" ]; then
  exit 0
fi
echo "setup-workflow: creating $venv (${requirements[*]})" >&2
rm -rf "$venv"
"${PYTHON:-python3}" -m venv "$venv"
"$venv/bin/pip" install --quiet --prefer-binary "${requirements[@]}"
touch "$marker"
