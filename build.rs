//! Points tch at the project's own libtorch (scripts/setup-libtorch.sh) and bakes an rpath
//! into every binary and test executable, so nobody has to set LD_LIBRARY_PATH.
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let libtorch = std::env::var("LIBTORCH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".libtorch"));
    let lib = libtorch.join("lib");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
