//! SRRD workstation: knee CT (and MR) to subchondral trabecular bone parameters and a KOA
//! score, following the SRRD method. Data flows base (volume, io) -> stages -> pipeline ->
//! app/cli, one crate per layer (see docs/architecture.md). This crate is the top: the
//! command line, with the layers below re-exported under their module names.

pub mod cli;

pub use srrd_app as app;
pub use srrd_base::{Error, Result, assets, error, io, progress, rng, volume};
pub use srrd_diagnosis as diagnosis;
pub use srrd_morphometry as morphometry;
pub use srrd_phantom as phantom;
pub use srrd_pipeline as pipeline;
pub use srrd_registration as registration;
pub use srrd_regression as regression;
pub use srrd_segmentation as segmentation;
pub use srrd_stats as stats;
pub use srrd_synthesis as synthesis;
