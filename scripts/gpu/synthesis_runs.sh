#!/usr/bin/env bash
# The four synthesis trainings of docs/results.md, side by side on one GPU: SPSNet and the
# plain CycleGAN, each in the small and the paper configuration. Each pair gets the same
# iteration count (SPSNet, the slower, sets it from SECONDS; CycleGAN follows). The paper
# models keep only the MR -> CT generator, in float16 (see train_synthesis.py).
#
# Usage: scripts/gpu/synthesis_runs.sh DATA.npz HED.safetensors OUT SECONDS [ITERATIONS]
set -uo pipefail
data=$1 hed=$2 out=$3 secs=$4 iters=${5:-1000000}
py="$(dirname "$0")/train_synthesis.py"
mkdir -p "$out"/{spsnet,cyclegan,spsnet_paper,cyclegan_paper}
rm -f "$out"/small.n "$out"/paper.n
SRRD_MATCH_WRITE="$out/small.n" python3 "$py" "$data" "$hed" "$out/spsnet" spsnet small "$iters" 16 "$secs" >"$out/spsnet.log" 2>&1 &
a=$!
SRRD_MATCH_READ="$out/small.n" python3 "$py" "$data" "$hed" "$out/cyclegan" cyclegan small "$iters" 16 "$secs" >"$out/cyclegan.log" 2>&1 &
b=$!
SRRD_INFER_ONLY=1 SRRD_MATCH_WRITE="$out/paper.n" python3 "$py" "$data" "$hed" "$out/spsnet_paper" spsnet paper "$iters" 4 "$secs" >"$out/spsnet_paper.log" 2>&1 &
c=$!
SRRD_INFER_ONLY=1 SRRD_MATCH_READ="$out/paper.n" python3 "$py" "$data" "$hed" "$out/cyclegan_paper" cyclegan paper "$iters" 4 "$secs" >"$out/cyclegan_paper.log" 2>&1 &
d=$!
status=0
for run in spsnet:$a cyclegan:$b spsnet_paper:$c cyclegan_paper:$d; do
    wait "${run#*:}" || { echo "${run%%:*} failed:"; tail -20 "$out/${run%%:*}.log"; status=1; }
done
for run in spsnet cyclegan spsnet_paper cyclegan_paper; do tail -1 "$out/$run.log"; done
exit $status
