//! The screenshot part (`srrd view --screenshot`): once everything asked for is shown,
//! a few frames later, a screenshot is asked for, written as PNG, and the window closed.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use eframe::egui;

/// Where the screenshot goes, and how far it got.
#[derive(Default)]
pub struct Screenshot {
    path: Option<PathBuf>,
    frames: u32,
    done: Arc<AtomicBool>,
}

impl Screenshot {
    /// Writes a screenshot to `path` once everything is shown, then closes the window.
    pub fn new(path: Option<PathBuf>) -> Self {
        Screenshot {
            path,
            ..Default::default()
        }
    }

    /// Whether a screenshot is still to be taken.
    pub fn pending(&self) -> bool {
        self.path.is_some()
    }

    /// Takes the path, leaving none (a fresh start keeps the path, counting again).
    pub fn take(&mut self) -> Screenshot {
        Screenshot::new(self.path.take())
    }

    /// One frame: `ready` when everything asked for is shown; `how` says which renderer
    /// drew (for the line written when the file is there).
    pub fn step(&mut self, ctx: &egui::Context, ready: bool, how: &'static str) {
        let Some(path) = self.path.clone() else {
            return;
        };
        if self.done.load(Ordering::Acquire) {
            self.path = None;
            ctx.send_viewport_cmd(egui::ViewportCommand::Close);
            return;
        }
        if ready {
            self.frames += 1;
            if self.frames == 5 {
                let done = self.done.clone();
                let repaint = ctx.clone();
                let callback = egui::ScreenshotCallback::new(move |image| {
                    let [w, h] = image.size;
                    let rgb: Vec<u8> = image
                        .pixels
                        .iter()
                        .flat_map(|c| [c.r(), c.g(), c.b()])
                        .collect();
                    match srrd_base::io::raster::write_rgb_png(&path, w as u32, h as u32, &rgb) {
                        Ok(()) => eprintln!("screenshot written to {} ({how})", path.display()),
                        Err(e) => eprintln!("cannot write the screenshot {}: {e}", path.display()),
                    }
                    done.store(true, Ordering::Release);
                    repaint.request_repaint();
                });
                ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(callback));
            }
        }
        ctx.request_repaint_after(std::time::Duration::from_millis(50));
    }
}
