//! The pipeline: runs the stages in order with progress and cancellation, for the GUI and
//! the CLI alike. Stages talk through volumes and transforms; this is where they meet.
//! Cohort experiments (evaluations over many knees) live in `experiments`, above it.

pub mod analyze;
pub mod dicom_export;
pub mod experiments;
pub mod knee;
pub mod knee_input;
pub mod models;
pub mod overlays;
pub mod quality;
pub mod registration;
pub mod report;
pub mod study_list;
pub mod study_run;
pub mod worklist;
