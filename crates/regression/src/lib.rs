//! Distillation-learning regression (the paper's core): an MR teacher and a CT student
//! that regress BV/TV, Tb.Th, Tb.Sp and Tb.N per patch. `dataset` pairs CT and MR patches
//! through the registration and measures the ground truth on the MR; `nets` builds the
//! networks; `inputs` loads a store's patches as the networks' inputs; `train` trains the
//! teacher, then the student under the teacher's guidance.

pub mod dataset;
pub mod infer;
pub mod inputs;
pub mod model;
pub mod nets;
pub mod radiomics;
pub mod study_info;
pub mod train;
pub mod trained_range;
