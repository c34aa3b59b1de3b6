//! The bones part: the knee's bone surfaces for the 3D view from the segmentation alone
//! (`pipeline::knee::bones_on_ct`, then meshed), before any analysis. Runs on a worker
//! thread with a `Progress` the pipeline panel shows and can cancel; started by the
//! "Bones (3D)" button, and by itself once a CT small enough to segment in about a second
//! is loaded. An analysis replaces the surfaces with its own, coloured by subregion.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, channel};

use srrd_base::progress::Progress;
use srrd_base::volume::{Geometry, Volume};

use super::view3d::{KneeSurfaces, auto_step};

/// Voxels of the segmentation grid up to which the bones are computed by themselves
/// after loading (the demo knee's 2 M take under a second in a release build).
pub const AUTO_MAX_VOXELS: f64 = 8e6;

/// The grid the bones are segmented on when the viewer decides alone (mm): the paper's
/// CT grid, which the demo models were trained on.
const AUTO_GRID_MM: [f64; 3] = srrd_regression::model::PAPER_CT_SPACING_MM;

/// The surfaces, or why not ("cancelled" when cancelled).
pub type BonesResult = Result<Arc<KneeSurfaces>, String>;

/// The bone surfaces being computed, if they are.
#[derive(Default)]
pub struct Bones {
    /// The result to come, its progress, and whether the user asked (the status line
    /// then says what came; bones started by themselves keep it for the case's line).
    job: Option<(Receiver<BonesResult>, Arc<Progress>, bool)>,
}

/// Whether the bones of a CT on `geometry` are quick enough to compute after every load:
/// its extent in voxels of the grid the analysis segments on.
pub fn quick_enough(geometry: &Geometry) -> bool {
    let voxels: f64 = (0..3)
        .map(|a| geometry.size[a] as f64 * geometry.spacing_mm[a] / AUTO_GRID_MM[a])
        .product();
    voxels <= AUTO_MAX_VOXELS
}

/// Segments (on the analysis' grid, `grid_mm`) and meshes the bones of `ct` (on the
/// worker thread).
pub fn bone_surfaces(ct: &Volume, grid_mm: [f64; 3], progress: &Progress) -> BonesResult {
    let bones = srrd_pipeline::knee::bones_on_ct(ct, grid_mm, progress).map_err(|e| match e {
        srrd_base::error::Error::Cancelled => "cancelled".to_string(),
        e => format!("bones: {e}"),
    })?;
    progress.check().map_err(|_| "cancelled".to_string())?;
    progress.start("meshing the bone surfaces", 1);
    let surfaces = KneeSurfaces::from_bones(&bones, auto_step(&ct.geometry));
    progress.advance(1);
    Ok(Arc::new(surfaces))
}

impl Bones {
    /// Starts computing the bones of `ct` on the grid of the models in `models_dir`
    /// (one running for another CT is cancelled); `asked`: by the user.
    pub fn start(&mut self, ct: Arc<Volume>, models_dir: std::path::PathBuf, asked: bool) {
        self.cancel();
        let (tx, rx) = channel();
        let progress = Arc::new(Progress::new());
        let worker = progress.clone();
        std::thread::spawn(move || {
            let grid_mm = srrd_pipeline::knee::models_grid_mm(&models_dir);
            let _ = tx.send(bone_surfaces(&ct, grid_mm, &worker));
        });
        self.job = Some((rx, progress, asked));
    }

    /// Whether the bones are being computed.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    /// Cancels and forgets the computation (new images, or the user).
    pub fn cancel(&mut self) {
        if let Some((_, p, _)) = self.job.take() {
            p.cancel();
        }
    }

    /// The result once it arrived, and whether the user asked for it.
    pub fn poll(&mut self) -> Option<(BonesResult, bool)> {
        let (rx, _, asked) = self.job.as_ref()?;
        let result = rx.try_recv().ok()?;
        let asked = *asked;
        self.job = None;
        Some((result, asked))
    }

    /// The computation's stage, bar and Cancel, while it runs.
    pub fn ui(&self, ui: &mut eframe::egui::Ui) {
        if let Some((_, progress, _)) = &self.job {
            ui.label("Bones for the 3D view");
            super::jobs::progress_ui(ui, progress);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_enough_counts_the_segmentation_grid() {
        // The paper's CT ROI: 150 x 150 x 90 at ~1 mm, 2 M voxels.
        assert!(quick_enough(&Geometry::new(
            [150, 150, 90],
            [0.977, 0.977, 1.0],
            [0.0; 3]
        )));
        // A 512 x 512 x 300 CT at 0.4 x 0.4 x 0.5 mm: 210 x 210 x 150 on that grid, 6.6 M.
        assert!(quick_enough(&Geometry::new(
            [512, 512, 300],
            [0.4, 0.4, 0.5],
            [0.0; 3]
        )));
        // At 0.7 x 0.7 x 1 mm: 367 x 367 x 300, 40 M.
        assert!(!quick_enough(&Geometry::new(
            [512, 512, 300],
            [0.7, 0.7, 1.0],
            [0.0; 3]
        )));
    }
}
