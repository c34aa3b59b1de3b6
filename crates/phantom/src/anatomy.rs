//! The knee's anatomy as implicit surfaces in millimetres: a right knee in the *knee frame*
//! (x toward the patient's left = medial, y posterior, z superior: LPS axes; origin at the
//! middle of the joint space). Each bone has a rest frame; the tibia's (with fibula) is
//! the knee frame, the femur's (with patella) is rotated about the flexion axis (along x,
//! through the condyles' centres of curvature) by the scan's flexion angle. Every tissue
//! is evaluated at any point: no grid, so any scanner geometry can sample it.
//! This file holds the shapes (tissues, bone shapes, landmarks); `posed` places a knee in
//! a scanner (pose, flexion, the CT room) and samples it.

use nalgebra::{Point3, Vector3};
use serde::Serialize;

use super::sdf::{
    capsule, ellipsoid, elliptic_cylinder_z, rounded_cylinder_x, smax, smin, smoothstep, sphere,
};
use super::trabecular::RegionCoords;
use srrd_base::rng::Rng;

mod posed;
pub use posed::{Interior, PosedKnee, Room, Sample, knee_from_femur};

/// Tissue classes, the values of the label maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[repr(u8)]
pub enum Tissue {
    Air = 0,
    Femur = 1,
    Tibia = 2,
    Patella = 3,
    Fibula = 4,
    Cartilage = 5,
    Fluid = 6,
    Meniscus = 7,
    Tendon = 8,
    Muscle = 9,
    Fat = 10,
    Skin = 11,
    Table = 12,
    TableCore = 13,
    Clothing = 14,
}

impl Tissue {
    /// All classes, in label order.
    pub const ALL: [Tissue; 15] = [
        Tissue::Air,
        Tissue::Femur,
        Tissue::Tibia,
        Tissue::Patella,
        Tissue::Fibula,
        Tissue::Cartilage,
        Tissue::Fluid,
        Tissue::Meniscus,
        Tissue::Tendon,
        Tissue::Muscle,
        Tissue::Fat,
        Tissue::Skin,
        Tissue::Table,
        Tissue::TableCore,
        Tissue::Clothing,
    ];

    /// Lower-case name used in files.
    pub fn name(self) -> &'static str {
        match self {
            Tissue::Air => "air",
            Tissue::Femur => "femur",
            Tissue::Tibia => "tibia",
            Tissue::Patella => "patella",
            Tissue::Fibula => "fibula",
            Tissue::Cartilage => "cartilage",
            Tissue::Fluid => "fluid",
            Tissue::Meniscus => "meniscus",
            Tissue::Tendon => "tendon",
            Tissue::Muscle => "muscle",
            Tissue::Fat => "fat",
            Tissue::Skin => "skin",
            Tissue::Table => "table",
            Tissue::TableCore => "table_core",
            Tissue::Clothing => "clothing",
        }
    }

    fn bone(b: usize) -> Tissue {
        [
            Tissue::Femur,
            Tissue::Tibia,
            Tissue::Patella,
            Tissue::Fibula,
        ][b]
    }
}

/// Bone indices.
pub const FEMUR: usize = 0;
pub const TIBIA: usize = 1;
pub const PATELLA: usize = 2;
pub const FIBULA: usize = 3;

/// Subregion names, label order within a bone (femur 1-6, tibia 7-12).
pub const SUBREGIONS: [&str; 6] = [
    "medial_anterior",
    "medial_central",
    "medial_posterior",
    "lateral_anterior",
    "lateral_central",
    "lateral_posterior",
];

/// Shape parameters of one subject's knee (mm). Index 0 medial, 1 lateral.
#[derive(Clone, Debug, Serialize)]
pub struct Shape {
    /// Sagittal radius of each femoral condyle.
    pub condyle_radius_mm: [f64; 2],
    /// |x| of the condyles' centres.
    pub condyle_x_mm: f64,
    /// Half-width of each condyle.
    pub condyle_half_width_mm: f64,
    /// y of the condyles' centres of curvature.
    pub condyle_y_mm: f64,
    /// Femoral and tibial cartilage thickness per compartment.
    pub femoral_cartilage_mm: [f64; 2],
    pub tibial_cartilage_mm: [f64; 2],
    /// Synovial fluid film between the cartilages.
    pub fluid_mm: f64,
    /// Half-width of the intercondylar notch.
    pub notch_half_width_mm: f64,
    pub femur_shaft_radius_mm: f64,
    pub tibia_shaft_radius_mm: f64,
    /// Tibial plateau semi-axes (x, y) and the y of its centre.
    pub plateau_semi_x_mm: f64,
    pub plateau_semi_y_mm: f64,
    pub plateau_y_mm: f64,
    /// Cortex of the diaphyses, and the subchondral plate per compartment.
    pub cortex_shaft_mm: f64,
    pub subchondral_plate_mm: [f64; 2],
    /// Skin and subcutaneous fat thickness.
    pub skin_mm: f64,
    pub fat_mm: f64,
    /// Thigh and shank semi-axes (x, y) and the limb axis y.
    pub thigh_semi_mm: [f64; 2],
    pub shank_semi_mm: [f64; 2],
    pub limb_y_mm: f64,
    /// Kellgren-Lawrence grade (0-4): cartilage loss and osteophytes.
    pub kl_grade: u8,
}

impl Shape {
    /// A random knee of grade `kl` (sizes vary about an adult average).
    pub fn random(rng: &mut Rng, kl: u8) -> Self {
        let s = (1.0 + 0.06 * rng.normal()).clamp(0.88, 1.12);
        let mut n = |mean: f64, sd: f64| mean + sd * rng.normal().clamp(-2.5, 2.5);
        let cart = n(2.4, 0.2);
        let loss_m = 1.0 - 0.14 * kl as f64;
        let loss_l = 1.0 - 0.04 * kl as f64;
        let plate = n(1.1, 0.1);
        Shape {
            condyle_radius_mm: [s * n(24.0, 1.0), s * n(22.5, 1.0)],
            condyle_x_mm: s * n(21.0, 0.8),
            condyle_half_width_mm: s * n(13.5, 0.6),
            condyle_y_mm: s * n(5.0, 1.0),
            femoral_cartilage_mm: [cart * loss_m, cart * loss_l],
            tibial_cartilage_mm: [0.9 * cart * loss_m, 0.9 * cart * loss_l],
            fluid_mm: n(0.5, 0.05),
            notch_half_width_mm: s * n(10.0, 0.5),
            femur_shaft_radius_mm: s * n(13.0, 0.7),
            tibia_shaft_radius_mm: s * n(12.0, 0.7),
            plateau_semi_x_mm: s * n(38.0, 1.2),
            plateau_semi_y_mm: s * n(25.0, 1.0),
            plateau_y_mm: s * n(6.0, 0.8),
            cortex_shaft_mm: n(3.8, 0.3),
            subchondral_plate_mm: [
                plate * (1.0 + 0.15 * kl as f64),
                plate * (1.0 + 0.05 * kl as f64),
            ],
            skin_mm: n(1.6, 0.15),
            fat_mm: n(7.0, 2.0).max(3.0),
            thigh_semi_mm: [s * n(54.0, 3.0), s * n(50.0, 3.0)],
            shank_semi_mm: [s * n(47.0, 2.5), s * n(45.0, 2.5)],
            limb_y_mm: n(9.0, 1.5),
            kl_grade: kl,
        }
    }

    /// z of each condyle's centre of curvature (femur frame).
    pub fn condyle_z_mm(&self) -> [f64; 2] {
        std::array::from_fn(|s| {
            0.5 * self.fluid_mm + self.femoral_cartilage_mm[s] + self.condyle_radius_mm[s]
        })
    }

    /// Mean condyle centre height: the flexion axis passes through (0, condyle_y, this).
    pub fn condyle_zm_mm(&self) -> f64 {
        let z = self.condyle_z_mm();
        0.5 * (z[0] + z[1])
    }

    /// The flexion axis: a point on it (femur and knee frames agree there) and its direction.
    pub fn flexion_axis(&self) -> (Point3<f64>, Vector3<f64>) {
        (
            Point3::new(0.0, self.condyle_y_mm, self.condyle_zm_mm()),
            Vector3::x(),
        )
    }

    /// Tibial bone surface height per compartment (knee frame, negative).
    pub fn plateau_z_mm(&self) -> [f64; 2] {
        std::array::from_fn(|s| -(0.5 * self.fluid_mm + self.tibial_cartilage_mm[s]))
    }

    fn plateau_base_mm(&self) -> f64 {
        let z = self.plateau_z_mm();
        z[0].min(z[1])
    }

    /// Blend between medial (x > 0) and lateral values.
    fn by_side(&self, x: f64, v: [f64; 2]) -> f64 {
        let m = smoothstep(-4.0, 4.0, x);
        m * v[0] + (1.0 - m) * v[1]
    }

    // ---- bones, each in its own rest frame ----

    /// The intercondylar notch: an arch (elliptic cylinder along y, roof at zm + 6 mm)
    /// open posteriorly from y = yc - 14 mm.
    fn notch(&self, p: &Point3<f64>) -> f64 {
        let (yc, zm) = (self.condyle_y_mm, self.condyle_zm_mm());
        let (a, b) = (self.notch_half_width_mm, 20.0);
        let (x, z) = (p.x, p.z - (zm - 14.0));
        let k0 = ((x / a).powi(2) + (z / b).powi(2)).sqrt();
        let k1 = ((x / (a * a)).powi(2) + (z / (b * b)).powi(2)).sqrt();
        let arch = if k1 < 1e-12 { -a } else { k0 * (k0 - 1.0) / k1 };
        smax(arch, (yc - 14.0) - p.y, 2.0)
    }

    /// Femur signed distance (femur frame).
    pub fn femur(&self, p: &Point3<f64>) -> f64 {
        let (yc, zm) = (self.condyle_y_mm, self.condyle_zm_mm());
        let zc = self.condyle_z_mm();
        let (cx, hw) = (self.condyle_x_mm, self.condyle_half_width_mm);
        if p.z > zm + 60.0 {
            return capsule(
                p,
                &Point3::new(0.0, yc - 6.0, zm + 20.0),
                &Point3::new(0.0, yc - 6.0, zm + 400.0),
                self.femur_shaft_radius_mm,
            );
        }
        let r = self.condyle_radius_mm;
        let cond_m = rounded_cylinder_x(p, &Point3::new(cx, yc, zc[0]), r[0], hw, 9.0);
        let cond_l = rounded_cylinder_x(p, &Point3::new(-cx, yc, zc[1]), r[1], hw, 9.0);
        let troch = ellipsoid(
            p,
            &Point3::new(0.0, yc - 12.0, zm + 2.0),
            &Vector3::new(cx + hw - 5.0, 15.0, 17.0),
        );
        let meta = ellipsoid(
            p,
            &Point3::new(0.0, yc - 4.0, zm + 16.0),
            &Vector3::new(cx + hw - 4.0, 20.0, 28.0),
        );
        let shaft = capsule(
            p,
            &Point3::new(0.0, yc - 6.0, zm + 20.0),
            &Point3::new(0.0, yc - 6.0, zm + 400.0),
            self.femur_shaft_radius_mm,
        );
        let ex = cx + hw - 5.0;
        let epi_m = sphere(p, &Point3::new(ex, yc - 1.0, zm + 4.0), 7.0);
        let epi_l = sphere(p, &Point3::new(-ex, yc - 1.0, zm + 4.0), 7.0);
        let mut d = smin(cond_m, cond_l, 4.0);
        d = smin(d, troch, 6.0);
        d = smin(d, meta, 8.0);
        d = smin(d, shaft, 14.0);
        d = smin(d, epi_m.min(epi_l), 3.0);
        if self.kl_grade >= 2 {
            let o = Point3::new(cx + hw - 1.5, yc + 4.0, zc[0] - 0.55 * r[0]);
            d = smin(d, sphere(p, &o, 0.7 * self.kl_grade as f64), 1.0);
        }
        let groove = capsule(
            p,
            &Point3::new(0.0, yc - 35.0, zm - 20.0),
            &Point3::new(0.0, yc - 35.0, zm + 40.0),
            11.0,
        );
        d = smax(d, -self.notch(p), 2.0);
        smax(d, -groove, 2.0)
    }

    /// Tibial plateau surface height at (x, y), with its medial dish and lateral dome.
    fn plateau_top(&self, x: f64, y: f64) -> f64 {
        let z = self.by_side(x, self.plateau_z_mm());
        let cx = self.condyle_x_mm;
        let dy = y - self.plateau_y_mm;
        let dish = -(-((x - cx).powi(2) + dy * dy) / (2.0 * 81.0)).exp();
        let dome = 0.5 * (-((x + cx).powi(2) + dy * dy) / (2.0 * 81.0)).exp();
        z + dish + dome - 0.08 * dy
    }

    fn plateau_radial(&self, p: &Point3<f64>) -> f64 {
        elliptic_cylinder_z(
            p,
            &Point3::new(0.0, self.plateau_y_mm, 0.0),
            self.plateau_semi_x_mm,
            self.plateau_semi_y_mm,
        )
    }

    /// Tibia signed distance (knee frame).
    pub fn tibia(&self, p: &Point3<f64>) -> f64 {
        let zb = self.plateau_base_mm();
        let (py, a, b) = (
            self.plateau_y_mm,
            self.plateau_semi_x_mm,
            self.plateau_semi_y_mm,
        );
        let shaft = capsule(
            p,
            &Point3::new(0.0, py + 3.0, zb - 20.0),
            &Point3::new(0.0, py + 3.0, zb - 400.0),
            self.tibia_shaft_radius_mm,
        );
        if p.z < zb - 65.0 {
            return shaft;
        }
        let slab = smax(
            smax(
                self.plateau_radial(p),
                p.z - self.plateau_top(p.x, p.y),
                2.0,
            ),
            (zb - 8.0) - p.z,
            3.0,
        );
        let spine = |x: f64| ellipsoid(p, &Point3::new(x, py, zb), &Vector3::new(3.2, 7.0, 7.5));
        let meta = ellipsoid(
            p,
            &Point3::new(0.0, py + 1.0, zb - 20.0),
            &Vector3::new(a - 3.0, b - 2.0, 20.0),
        );
        let tuber = ellipsoid(
            p,
            &Point3::new(0.0, py - b + 5.0, zb - 26.0),
            &Vector3::new(9.0, 6.0, 11.0),
        );
        let mut d = smin(slab, spine(4.5).min(spine(-4.5)), 2.0);
        d = smin(d, meta, 6.0);
        d = smin(d, shaft, 16.0);
        d = smin(d, tuber, 4.0);
        if self.kl_grade >= 2 {
            let o = Point3::new(a - 1.0, py, zb - 2.0);
            d = smin(d, sphere(p, &o, 0.7 * self.kl_grade as f64), 1.0);
        }
        d
    }

    fn fibula_head(&self) -> Point3<f64> {
        Point3::new(
            -(self.plateau_semi_x_mm - 2.0),
            self.plateau_y_mm + self.plateau_semi_y_mm - 8.0,
            self.plateau_base_mm() - 24.0,
        )
    }

    /// Fibula signed distance (knee frame).
    pub fn fibula(&self, p: &Point3<f64>) -> f64 {
        let h = self.fibula_head();
        let head = ellipsoid(p, &h, &Vector3::new(8.0, 8.0, 9.0));
        let shaft = capsule(p, &h, &Point3::new(h.x + 2.0, h.y + 2.0, h.z - 400.0), 6.5);
        smin(head, shaft, 5.0)
    }

    fn patella_center(&self) -> Point3<f64> {
        Point3::new(0.0, self.condyle_y_mm - 41.0, self.condyle_zm_mm() + 8.0)
    }

    /// Patella signed distance (femur frame).
    pub fn patella(&self, p: &Point3<f64>) -> f64 {
        ellipsoid(p, &self.patella_center(), &Vector3::new(20.0, 9.0, 19.0))
    }

    /// Cortex thickness of bone `b` at a point of its rest frame.
    pub fn cortex_mm(&self, b: usize, p: &Point3<f64>) -> f64 {
        let plate = self.by_side(p.x, self.subchondral_plate_mm);
        match b {
            FEMUR => {
                let zm = self.condyle_zm_mm();
                plate + (self.cortex_shaft_mm - plate) * smoothstep(zm + 10.0, zm + 60.0, p.z)
            }
            TIBIA => {
                let zb = self.plateau_base_mm();
                plate
                    + (self.cortex_shaft_mm - plate) * smoothstep(-(zb - 10.0), -(zb - 60.0), -p.z)
            }
            PATELLA => 1.2,
            _ => {
                let zb = self.plateau_base_mm();
                1.4 + 1.0 * smoothstep(-(zb - 25.0), -(zb - 60.0), -p.z)
            }
        }
    }

    /// Signed distance of bone `b` in its rest frame.
    pub fn bone(&self, b: usize, p: &Point3<f64>) -> f64 {
        match b {
            FEMUR => self.femur(p),
            TIBIA => self.tibia(p),
            PATELLA => self.patella(p),
            _ => self.fibula(p),
        }
    }

    /// Region coordinates of a point of bone `b` (rest frame) at `depth_mm` under the
    /// cortex, and its subregion label (0 outside the subchondral trabecular region).
    ///
    /// The rule (documented in `truth.json`): femur region = femoral interior below the
    /// condyles' centres of curvature (z < zc + 5 mm, femur frame); tibia region = tibial
    /// interior within 15 mm under the plateau. Medial: x > 0. Anterior / central /
    /// posterior: thirds of the antero-posterior extent (femur: condyles from
    /// y = yc - R - 4 to yc + R; tibia: the plateau, y = py -+ b).
    pub fn region(&self, b: usize, p: &Point3<f64>, depth_mm: f64) -> (RegionCoords, u8) {
        let medial = smoothstep(-3.0, 3.0, p.x);
        let (y0, y1, fade, inside) = match b {
            FEMUR => {
                let zm = self.condyle_zm_mm();
                let r = self.condyle_radius_mm[0].max(self.condyle_radius_mm[1]);
                (
                    self.condyle_y_mm - r - 4.0,
                    self.condyle_y_mm + r,
                    1.0 - smoothstep(zm + 35.0, zm + 70.0, p.z),
                    p.z < zm + 5.0,
                )
            }
            TIBIA => {
                let zb = self.plateau_base_mm();
                (
                    self.plateau_y_mm - self.plateau_semi_y_mm,
                    self.plateau_y_mm + self.plateau_semi_y_mm,
                    1.0 - smoothstep(35.0, 70.0, zb - p.z),
                    p.z > zb - 15.0,
                )
            }
            _ => (0.0, 1.0, 1.0, false),
        };
        let f = (p.y - y0) / (y1 - y0);
        let w = 0.05;
        let post = smoothstep(2.0 / 3.0 - w, 2.0 / 3.0 + w, f);
        let ant = 1.0 - smoothstep(1.0 / 3.0 - w, 1.0 / 3.0 + w, f);
        let coords = RegionCoords {
            medial: if b <= TIBIA { medial } else { 0.5 },
            ap: if b <= TIBIA {
                [ant, 1.0 - ant - post, post]
            } else {
                [0.0, 1.0, 0.0]
            },
            depth_mm,
            fade,
        };
        let label = if inside && b <= TIBIA {
            let third = if f < 1.0 / 3.0 {
                0
            } else if f < 2.0 / 3.0 {
                1
            } else {
                2
            };
            let side = if p.x > 0.0 { 0 } else { 1 };
            (b * 6 + side * 3 + third + 1) as u8
        } else {
            0
        };
        (coords, label)
    }
}

/// One anatomical landmark definition: a ray from inside bone `bone` (rest frame) whose
/// exit through the bone surface names the feature; the landmark sits `inset_mm` back
/// inside along the ray (in bone, so both scans label it as that bone).
pub struct LandmarkDef {
    pub label: &'static str,
    pub bone: usize,
    pub from: Point3<f64>,
    pub dir: Vector3<f64>,
}

/// How far inside the surface landmarks sit.
pub const LANDMARK_INSET_MM: f64 = 2.0;

impl Shape {
    /// The landmark definitions for this knee (22 points over the four bones).
    pub fn landmark_defs(&self) -> Vec<LandmarkDef> {
        let (yc, zm) = (self.condyle_y_mm, self.condyle_zm_mm());
        let zc = self.condyle_z_mm();
        let cx = self.condyle_x_mm;
        let (py, pb) = (self.plateau_y_mm, self.plateau_semi_y_mm);
        let zb = self.plateau_base_mm();
        let x = Vector3::x();
        let y = Vector3::y();
        let z = Vector3::z();
        let def = |label, bone, from: [f64; 3], dir: Vector3<f64>| LandmarkDef {
            label,
            bone,
            from: Point3::new(from[0], from[1], from[2]),
            dir,
        };
        let h = self.fibula_head();
        let pc = self.patella_center();
        vec![
            def("femur_medial_condyle_distal", FEMUR, [cx, yc, zc[0]], -z),
            def("femur_lateral_condyle_distal", FEMUR, [-cx, yc, zc[1]], -z),
            def("femur_medial_condyle_posterior", FEMUR, [cx, yc, zc[0]], y),
            def(
                "femur_lateral_condyle_posterior",
                FEMUR,
                [-cx, yc, zc[1]],
                y,
            ),
            def(
                "femur_medial_epicondyle",
                FEMUR,
                [cx, yc - 1.0, zm + 4.0],
                x,
            ),
            def(
                "femur_lateral_epicondyle",
                FEMUR,
                [-cx, yc - 1.0, zm + 4.0],
                -x,
            ),
            def("femur_notch_roof", FEMUR, [0.0, yc + 4.0, zm + 20.0], -z),
            def(
                "femur_trochlear_groove",
                FEMUR,
                [0.0, yc - 16.0, zm + 8.0],
                -y,
            ),
            def(
                "femur_medial_trochlear_ridge",
                FEMUR,
                [14.0, yc - 10.0, zm + 4.0],
                -y,
            ),
            def(
                "femur_lateral_trochlear_ridge",
                FEMUR,
                [-14.0, yc - 10.0, zm + 4.0],
                -y,
            ),
            def(
                "femur_posterior_metaphysis",
                FEMUR,
                [0.0, yc - 3.0, zm + 14.0],
                y,
            ),
            def("tibia_medial_plateau", TIBIA, [cx, py, zb - 8.0], z),
            def("tibia_lateral_plateau", TIBIA, [-cx, py, zb - 8.0], z),
            def("tibia_medial_spine", TIBIA, [4.5, py, zb - 5.0], z),
            def("tibia_lateral_spine", TIBIA, [-4.5, py, zb - 5.0], z),
            def("tibia_anterior_rim", TIBIA, [12.0, py, zb - 6.0], -y),
            def("tibia_posterior_rim", TIBIA, [-12.0, py, zb - 6.0], y),
            def("tibia_medial_rim", TIBIA, [10.0, py, zb - 6.0], x),
            def("tibia_lateral_rim", TIBIA, [-10.0, py, zb - 6.0], -x),
            def(
                "tibia_tuberosity",
                TIBIA,
                [0.0, py - pb + 10.0, zb - 26.0],
                -y,
            ),
            def("fibula_head_apex", FIBULA, [h.x, h.y, h.z], z),
            def("fibula_head_lateral", FIBULA, [h.x, h.y, h.z], -x),
            def("patella_anterior", PATELLA, [pc.x, pc.y, pc.z], -y),
            def("patella_inferior_pole", PATELLA, [pc.x, pc.y, pc.z], -z),
            def("patella_lateral_edge", PATELLA, [pc.x, pc.y, pc.z], -x),
        ]
    }

    /// The landmark of a definition, in the bone's rest frame.
    pub fn landmark(&self, d: &LandmarkDef) -> Point3<f64> {
        let f = |t: f64| self.bone(d.bone, &(d.from + d.dir * t));
        debug_assert!(f(0.0) < 0.0, "{} starts outside its bone", d.label);
        let mut t = 0.0;
        while f(t) < 0.0 && t < 120.0 {
            t += 0.25;
        }
        let (mut lo, mut hi) = (t - 0.25, t);
        for _ in 0..50 {
            let mid = 0.5 * (lo + hi);
            if f(mid) < 0.0 {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        d.from + d.dir * (0.5 * (lo + hi) - LANDMARK_INSET_MM)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Femur and tibia never overlap and keep a joint space, at every grade and flexion.
    #[test]
    fn bones_keep_a_joint_space() {
        for seed in 0..6u64 {
            for kl in [0u8, 2, 4] {
                let shape = Shape::random(&mut Rng::new(seed, "shape"), kl);
                for deg in [0.0f64, 10.0, 20.0] {
                    let femur_from_knee = knee_from_femur(&shape, deg.to_radians()).inverse();
                    let mut closest = f64::MAX;
                    let mut at = Point3::origin();
                    for i in -40..=40 {
                        for j in -30..=30 {
                            for k in -10..=10 {
                                let pk = Point3::new(i as f64, j as f64, k as f64 * 0.5);
                                let (df, dt) =
                                    (shape.femur(&(femur_from_knee * pk)), shape.tibia(&pk));
                                if df < 0.0 && dt < closest {
                                    closest = dt;
                                    at = pk;
                                }
                            }
                        }
                    }
                    assert!(
                        closest > 1.0,
                        "seed {seed} KL {kl} flexion {deg}: femur {closest} mm from the tibia at {at:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn landmarks_start_inside_and_sit_inside_their_bone() {
        let shape = Shape::random(&mut Rng::new(3, "shape"), 2);
        for d in shape.landmark_defs() {
            assert!(
                shape.bone(d.bone, &d.from) < 0.0,
                "{} starts outside",
                d.label
            );
            let p = shape.landmark(&d);
            let depth = -shape.bone(d.bone, &p);
            assert!(
                depth > 1.0 && depth <= LANDMARK_INSET_MM + 1e-6,
                "{}: {depth} mm deep",
                d.label
            );
        }
    }
}
