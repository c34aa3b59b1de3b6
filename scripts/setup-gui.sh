#!/usr/bin/env bash
# Provision what the real-window smoke test needs: an X server in memory (Xvfb) and
# xvfb-run. Mesa's software OpenGL (llvmpipe) is already on these machines; wgpu renders
# through it. Idempotent: returns at once when xvfb-run is there.
set -euo pipefail
if command -v xvfb-run >/dev/null 2>&1 && command -v Xvfb >/dev/null 2>&1; then
  exit 0
fi
echo "setup-gui: installing xvfb (apt)" >&2
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -qq
$sudo_cmd apt-get install -y -qq --no-install-recommends xvfb xauth libgl1-mesa-dri libegl-mesa0 >/dev/null
