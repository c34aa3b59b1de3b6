//! KOA diagnosis: subchondral subregions, per-subregion features, and the classifier.

pub mod attention;
pub mod classifier;
pub mod features;
pub mod platt;
pub mod subregions;
pub mod svm;
