//! The base layer every other crate stands on: volumes and their geometry, file readers and
//! writers, errors a user sees, progress and cancellation, the seeded random numbers and
//! where the shipped assets are. It knows nothing of the method's stages.

pub mod assets;
pub mod error;
pub mod hash;
pub mod io;
pub mod progress;
pub mod rng;
pub mod volume;

pub use error::{Error, Result};
