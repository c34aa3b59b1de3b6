//! Cohort experiments: evaluations and training stores over many knees, above the stages
//! and beside the pipeline's one-knee composition. Each reads a cohort (or a store built
//! from one) and writes tables; none is used by `analyze`.

pub mod by_acquisition;
pub mod cohort_table;
pub mod diagnosis_eval;
pub mod patches;
pub mod registration_eval;
pub mod registration_landmarks;
pub mod regression_eval;
pub mod regression_held_out;
pub mod robustness;
pub mod study_knees;
pub mod study_models;
pub mod synthesis_data;
pub mod synthesis_eval;
