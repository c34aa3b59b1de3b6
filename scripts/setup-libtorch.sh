#!/usr/bin/env bash
# Provision a CPU-only libtorch 2.13.0 for tch 0.26 from PyPI wheels, into .libtorch/
# (ignored by git). Idempotent: a second run returns in well under a second.
# See ../shared/notes/libtorch.md for why it is laid out this way.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dest="${SRRD_LIBTORCH_DIR:-$root/.libtorch}"
version=2.13.0
if [ -f "$dest/build-version" ] && [ "$(cat "$dest/build-version")" = "$version" ] \
   && [ -f "$dest/lib/libtorch.so" ] && [ -f "$dest/lib/libcudart.so.13" ]; then
  exit 0
fi
echo "setup-libtorch: provisioning libtorch $version (CPU) into $dest" >&2
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
pipdl() {
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_25_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    -d "$work/wheels" "$@"
}
pipdl "torch==$version"
pipdl "nvidia-cuda-runtime==13.0.96"
pipdl "nvidia-cuda-cupti==13.0.85"
tmp="$dest.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp/lib" "$work/x"
( cd "$work/x" && python3 - "$work/wheels" <<'PY'
import sys, zipfile, glob, os
wheels = sys.argv[1]
want_lib = {"libtorch_cpu.so", "libc10.so", "libgomp.so.1", "libtorch_global_deps.so"}
for w in glob.glob(os.path.join(wheels, "*.whl")):
    with zipfile.ZipFile(w) as z:
        for n in z.namelist():
            base = os.path.basename(n)
            if n.startswith("torch/include/") or \
               (n.startswith("torch/lib/") and base in want_lib) or \
               base in ("libcudart.so.13", "libcupti.so.13"):
                z.extract(n, ".")
PY
)
mv "$work/x/torch/include" "$tmp/include"
cp "$work/x/torch/lib/"* "$tmp/lib/"
find "$work/x/nvidia" -name 'libcudart.so.13' -exec cp {} "$tmp/lib/" \;
find "$work/x/nvidia" -name 'libcupti.so.13' -exec cp {} "$tmp/lib/" \;
# libgomp in the wheel carries a hashed name in some builds; keep whatever torch_cpu needs.
echo '' > "$work/stub.c"
gcc -shared -fPIC -o "$tmp/lib/libtorch.so" "$work/stub.c" -Wl,-soname,libtorch.so \
  -L"$tmp/lib" -Wl,--no-as-needed -ltorch_cpu -lc10 -Wl,-rpath,'$ORIGIN'
echo "$version" > "$tmp/build-version"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "setup-libtorch: done ($(du -sh "$dest" | cut -f1))" >&2
