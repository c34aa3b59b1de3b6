//! The shared volume model: geometry in LPS mm, scalar volumes, label maps and masks,
//! interpolation, resampling, rigid/affine transforms and dense displacement fields.

pub mod components;
pub mod field;
pub mod filter;
pub mod geometry;
pub mod image;
pub mod interpolate;
pub mod labels;
pub mod regrid;
pub mod resample;
pub mod surface;
pub mod transform;

pub use field::DisplacementField;
pub use geometry::{Geometry, voxel_ijk, voxel_index};
pub use image::Volume;
pub use interpolate::Interpolation;
pub use labels::{LabelMap, Mask};
pub use resample::resample;
pub use transform::{AffineTransform, PointTransform, RigidTransform, Transform};
