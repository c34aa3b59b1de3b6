//! Points tch at the project's own libtorch (scripts/setup-libtorch.sh) and bakes an rpath
//! into every binary and test executable, so nobody has to set LD_LIBRARY_PATH. Shared by
//! the workspace's crates that link tch (their `build = "../../build.rs"`).
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    let root = manifest
        .ancestors()
        .find(|p| p.join("Cargo.lock").exists())
        .unwrap_or(&manifest)
        .to_path_buf();
    let libtorch = std::env::var("LIBTORCH")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join(".libtorch"));
    let lib = libtorch.join("lib");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
}
