//! SRRD workstation: knee CT (and MR) to subchondral trabecular bone parameters and a KOA
//! score, following the SRRD method. Data flows io -> volume -> stages -> pipeline -> app/cli.

pub mod error;
pub mod volume;

pub use error::{Error, Result};
pub mod app;
pub mod cli;
pub mod diagnosis;
pub mod io;
pub mod morphometry;
pub mod phantom;
pub mod pipeline;
pub mod progress;
pub mod registration;
pub mod regression;
pub mod segmentation;
pub mod stats;
pub mod synthesis;
