//! What the 3D view shows, as plain data (no egui or wgpu here): the knee's bone surfaces
//! with per-vertex values sampled from the subregion and parameter maps
//! ([`KneeSurfaces`], built once per analysis, off the UI thread for big CTs), and the
//! per-frame [`Scene3d`] (surfaces, landmarks, crosshair).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use srrd_base::io::Landmark;
use srrd_base::volume::surface::{SurfaceMesh, label_surface, sample_at_vertices};
use srrd_base::volume::{Geometry, LabelMap, Volume};
use srrd_segmentation::bones::{FEMUR, FIBULA, PATELLA, TIBIA};

/// The bone labels meshed for the 3D view.
pub const KNEE_BONES: [u8; 4] = [FEMUR, TIBIA, PATELLA, FIBULA];

/// How deep inside the bone surface (mm) subregion and parameter maps are sampled: the
/// subchondral regions start 2 mm inside the cortex (`segmentation::subchondral`).
pub const SAMPLE_DEPTH_MM: f64 = 3.0;

/// Voxels meshed at most, per `step`: bigger grids are meshed in blocks (see
/// [`auto_step`]).
const MAX_MESHED_VOXELS: f64 = 16e6;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// The block size for meshing a grid: 1 up to 16 M voxels (the paper's 150 x 150 x 90 CT
/// is meshed voxel by voxel), 2 for a 512 x 512 x 300 CT, and so on.
pub fn auto_step(geometry: &Geometry) -> usize {
    let blocks = geometry.num_voxels() as f64 / MAX_MESHED_VOXELS;
    blocks.cbrt().ceil().max(1.0) as usize
}

/// The surfaces of femur, tibia, patella and fibula from bone labels (`bones` in
/// `[k][j][i]` order on `geometry`, see `segmentation::bones`).
pub fn knee_scene_mesh(bones: &LabelMap, step: usize) -> SurfaceMesh {
    label_surface(bones, &KNEE_BONES, step)
}

/// A scalar map sampled at the surface's vertices (NaN where it has no value).
#[derive(Clone, Debug)]
pub struct VertexMap {
    /// What the map is (e.g. "Tb.Th"), shown in the view's colour menu and legend.
    pub name: String,
    /// One value per mesh vertex; NaN where the map has none.
    pub values: Vec<f32>,
    /// The values coloured from the ramp's first to its last colour.
    pub range: (f32, f32),
}

/// The knee's bone surfaces and what the 3D view can colour them by. Each build (and
/// each `with_*`) takes a new [`id`](Self::id), which is how the GPU knows to upload.
#[derive(Clone, Debug)]
pub struct KneeSurfaces {
    /// Identifies this mesh and its values (unique within the process).
    pub id: u64,
    /// The surfaces, each vertex tagged with its bone label.
    pub mesh: SurfaceMesh,
    /// Subregion label (1-12, `diagnosis::subregions`) just inside each vertex, NaN where
    /// none; None until [`with_subregions`](Self::with_subregions).
    pub subregions: Option<Vec<f32>>,
    /// Parameter maps sampled at the vertices, in the order added.
    pub maps: Vec<VertexMap>,
    /// Bounding box of the mesh (min, max corner), world LPS mm; zero when empty.
    pub bounds_mm: ([f32; 3], [f32; 3]),
}

impl KneeSurfaces {
    /// Meshes the bones (`step` as in [`label_surface`]; [`auto_step`] picks one).
    pub fn from_bones(bones: &LabelMap, step: usize) -> Self {
        Self::from_mesh(knee_scene_mesh(bones, step))
    }

    /// Wraps a mesh made elsewhere.
    pub fn from_mesh(mesh: SurfaceMesh) -> Self {
        let bounds_mm = mesh.bounds_mm().unwrap_or(([0.0; 3], [0.0; 3]));
        KneeSurfaces {
            id: next_id(),
            mesh,
            subregions: None,
            maps: Vec::new(),
            bounds_mm,
        }
    }

    /// Adds the subregion labels (a label volume, NaN or 0 outside the subregions, on
    /// any grid), sampled [`SAMPLE_DEPTH_MM`] inside the surface.
    pub fn with_subregions(mut self, subregions: &Volume) -> Self {
        self.subregions = Some(sample_at_vertices(&self.mesh, subregions, SAMPLE_DEPTH_MM));
        self.id = next_id();
        self
    }

    /// Adds the subregion labels (0 outside), as `pipeline::analyze::Analysis::subregions`
    /// holds them.
    pub fn with_subregion_labels(self, subregions: &LabelMap) -> Self {
        self.with_subregions(&subregions.to_volume())
    }

    /// Adds a parameter map (NaN or 0 where it has no value, on any grid) sampled
    /// [`SAMPLE_DEPTH_MM`] inside the surface, coloured over the range of the values
    /// found at the vertices. A map of the same name is replaced.
    pub fn with_map(mut self, name: &str, map: &Volume) -> Self {
        let values = sample_at_vertices(&self.mesh, map, SAMPLE_DEPTH_MM);
        let (lo, hi) = values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(*v), hi.max(*v))
            });
        let range = if lo.is_finite() {
            (lo, hi.max(lo + 1e-6))
        } else {
            (0.0, 1.0)
        };
        self.maps.retain(|m| m.name != name);
        self.maps.push(VertexMap {
            name: name.to_string(),
            values,
            range,
        });
        self.id = next_id();
        self
    }

    /// The map of this name.
    pub fn map(&self, name: &str) -> Option<&VertexMap> {
        self.maps.iter().find(|m| m.name == name)
    }

    /// Centre of the bounding box and half its diagonal (at least 1 mm).
    pub fn centre_and_radius(&self) -> ([f32; 3], f32) {
        let (lo, hi) = self.bounds_mm;
        let centre = std::array::from_fn(|n| (lo[n] + hi[n]) / 2.0);
        let r = (0..3).map(|n| (hi[n] - lo[n]).powi(2)).sum::<f32>().sqrt() / 2.0;
        (centre, r.max(1.0))
    }
}

/// One frame's input to the 3D view (cheap to build every frame).
#[derive(Clone, Debug)]
pub struct Scene3d {
    /// The surfaces (shared; uploaded to the GPU once per `surfaces.id`).
    pub surfaces: Arc<KneeSurfaces>,
    /// Landmarks drawn as small spheres: world LPS mm and colour (sRGB, alpha unused).
    pub landmarks: Vec<([f64; 3], [u8; 4])>,
    /// The linked crosshair (world LPS mm): the axial, coronal and sagittal planes
    /// through it are outlined.
    pub crosshair_mm: [f64; 3],
}

impl Scene3d {
    /// The surfaces alone, crosshair at their centre.
    pub fn new(surfaces: Arc<KneeSurfaces>) -> Self {
        let (c, _) = surfaces.centre_and_radius();
        Scene3d {
            surfaces,
            landmarks: Vec::new(),
            crosshair_mm: c.map(f64::from),
        }
    }

    /// Adds landmarks in one colour.
    pub fn with_landmarks(mut self, marks: &[Landmark], colour: [u8; 4]) -> Self {
        self.landmarks
            .extend(marks.iter().map(|m| (m.position_mm, colour)));
        self
    }

    /// Sets the crosshair.
    pub fn with_crosshair(mut self, crosshair_mm: [f64; 3]) -> Self {
        self.crosshair_mm = crosshair_mm;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knee_surfaces_sample_subregions_and_maps() {
        // A "femur" block above a "tibia" block; subregion 4 in the femur's lower part.
        let g = Geometry::new([30, 30, 40], [1.0, 1.0, 1.0], [0.0; 3]);
        let inside = |i: usize, j: usize| (5..25).contains(&i) && (5..25).contains(&j);
        let bones = LabelMap::from_fn(g.clone(), |i, j, k| match k {
            _ if !inside(i, j) => 0,
            22..36 => FEMUR,
            4..18 => TIBIA,
            _ => 0,
        });
        let sub = LabelMap::from_fn(g.clone(), |i, j, k| {
            u8::from(inside(i, j) && (22..29).contains(&k)) * 4
        });
        assert_eq!(auto_step(&g), 1);
        let map = Volume::from_fn(g.clone(), |_, _, k| if k >= 22 { 2.0 } else { f32::NAN });
        let s = KneeSurfaces::from_bones(&bones, 1)
            .with_subregion_labels(&sub)
            .with_map("Tb.Th", &map);
        assert!(!s.mesh.is_empty());
        let subs = s.subregions.as_ref().expect("subregions");
        let m = s.map("Tb.Th").expect("map");
        assert_eq!(m.range, (2.0, 2.0 + 1e-6));
        for (n, p) in s.mesh.positions_mm.iter().enumerate() {
            match s.mesh.labels[n] {
                TIBIA => assert!(subs[n].is_nan() && m.values[n].is_nan()),
                FEMUR if p[2] < 26.0 => assert_eq!(subs[n], 4.0),
                _ => {}
            }
        }
        let (c, r) = s.centre_and_radius();
        assert!((c[2] - 19.5).abs() < 1.5 && r > 20.0, "{c:?} {r}");
        let big = Geometry::new([512, 512, 300], [0.3, 0.3, 0.6], [0.0; 3]);
        assert_eq!(auto_step(&big), 2);
    }
}
