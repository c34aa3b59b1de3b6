//! Segmentation: connected components and morphology, the CT body mask (table and clothing
//! removed), femur/tibia labels and their subchondral trabecular regions.

pub mod body;
pub mod bones;
pub mod knees;
pub mod subchondral;
