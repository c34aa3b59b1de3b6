//! MR-to-CT registration: similarity metrics with analytic gradients, the rigid
//! transform being optimized, and multi-resolution rigid registration (coarse step).
//! Transforms follow ITK's direction: fixed (CT) points to moving (MR) points.

pub mod landmark_fit;
pub mod manual;
pub mod metric;
pub mod refined;
pub mod review_maps;
pub mod rigid;
pub mod transform;
pub mod tre;

pub use metric::{Metric, mask_moving};
pub use refined::{RefinedResult, register_refined};
pub use rigid::{LevelReport, RigidOptions, RigidResult, register_rigid};
pub use transform::EulerRigid;
