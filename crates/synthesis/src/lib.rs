//! Structure-preserving MR -> CT synthesis (SPSNet, the paper's second step): crMR in,
//! sCT out, so the refined registration can compare CT with CT. `nets` builds the
//! generators, discriminators and edge network; `mi` the soft-histogram MI loss; `edges`
//! the edge maps; `data` the training store and slice sampling; `train` the training
//! loops; `model` the model card and inference. The paper's Table 2 on held-out
//! phantoms is a cohort experiment, above the stages (`srrd_pipeline::experiments`).

pub mod data;
pub mod edges;
pub mod mi;
pub mod model;
pub mod nets;
pub mod train;
