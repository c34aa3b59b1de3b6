//! The pipeline: runs the stages in order with progress and cancellation, for the GUI and
//! the CLI alike. Stages talk through volumes and transforms; this is where they meet.

pub mod analyze;
pub mod by_acquisition;
pub mod cohort_table;
pub mod dicom_export;
pub mod knee;
pub mod patches;
pub mod quality;
pub mod registration;
pub mod robustness;
pub mod study_list;
pub mod worklist;
