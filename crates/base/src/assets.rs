//! Where the shipped models and their cards live: `$SRRD_ASSETS`, else the source tree's
//! `assets/` (the workspace root, two folders above this crate).

use std::path::{Path, PathBuf};

/// The assets folder: `$SRRD_ASSETS` when set, else the source tree's `assets`.
pub fn assets_dir() -> PathBuf {
    std::env::var_os("SRRD_ASSETS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("assets"))
}

/// The workspace's root folder (where `Cargo.lock`, `assets/` and `shaders/` are).
fn workspace_root() -> &'static Path {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest.ancestors().nth(2).unwrap_or(manifest)
}
