//! The knee placed in a scanner: its pose and flexion ([`PosedKnee`]), the CT room around
//! it ([`Room`]: table and clothing), and what is at any world point ([`Sample`]).

use nalgebra::{Isometry3, Point3, Translation3, UnitQuaternion, Vector3};
use serde::Serialize;

use super::{FEMUR, PATELLA, Shape, Tissue};
use crate::sdf::{capsule, ellipsoid, elliptic_cylinder_z, smin, smoothstep};
use crate::trabecular::RegionCoords;

/// Extra objects of the CT room: the patient table (world frame) and clothing.
#[derive(Clone, Debug, Serialize)]
pub struct Room {
    /// y of the table's top surface (world LPS mm) at x = 0.
    pub table_top_y_mm: f64,
    /// Curvature of the table top (mm per mm^2).
    pub table_curvature: f64,
    /// Thickness of the carbon shell and of the whole table.
    pub table_shell_mm: f64,
    pub table_thickness_mm: f64,
    /// Gap between skin and fabric, and fabric thickness.
    pub clothing_gap_mm: f64,
    pub clothing_mm: f64,
}

/// What is at a point.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub tissue: Tissue,
    /// Inside the cortical shell of a bone.
    pub cortex: bool,
    /// Inside the marrow cavity (trabecular bone and marrow).
    pub interior: Option<Interior>,
    /// A conservative distance (mm) to the nearest tissue boundary.
    pub margin_mm: f64,
}

/// A point in a bone's marrow cavity.
#[derive(Clone, Copy, Debug)]
pub struct Interior {
    pub bone: usize,
    pub p_bone: Point3<f64>,
    pub region: RegionCoords,
    pub subregion: u8,
}

/// A knee placed in a scanner: pose, flexion, and the room around it (CT only).
pub struct PosedKnee<'a> {
    pub shape: &'a Shape,
    /// World (scanner LPS mm) -> knee frame.
    pub knee_from_world: Isometry3<f64>,
    /// Knee frame -> femur rest frame.
    pub femur_from_knee: Isometry3<f64>,
    pub room: Option<&'a Room>,
    /// The patella's inferior pole in the knee frame (patellar tendon origin).
    patella_pole_knee: Point3<f64>,
    /// Cruciate ligaments (femoral end, tibial end) in the knee frame.
    cruciates: [(Point3<f64>, Point3<f64>); 2],
}

/// The femur rest frame -> knee frame isometry for flexion `angle_rad` about the axis.
pub fn knee_from_femur(shape: &Shape, angle_rad: f64) -> Isometry3<f64> {
    let (c, axis) = shape.flexion_axis();
    let r = UnitQuaternion::from_axis_angle(&nalgebra::Unit::new_normalize(axis), angle_rad);
    // p -> R (p - c) + c
    Isometry3::from_parts(Translation3::from(c.coords - r * c.coords), r)
}

impl<'a> PosedKnee<'a> {
    /// A knee placed by `knee_from_world`, flexed by `femur_from_knee`, in `room` (CT).
    pub fn new(
        shape: &'a Shape,
        knee_from_world: Isometry3<f64>,
        femur_from_knee: Isometry3<f64>,
        room: Option<&'a Room>,
    ) -> Self {
        let pc = shape.patella_center();
        let patella_pole_knee =
            femur_from_knee.inverse() * Point3::new(pc.x, pc.y - 1.0, pc.z - 16.0);
        let knee_from_femur = femur_from_knee.inverse();
        let (yc, zm) = (shape.condyle_y_mm, shape.condyle_zm_mm());
        let (nw, py, pb) = (
            shape.notch_half_width_mm,
            shape.plateau_y_mm,
            shape.plateau_semi_y_mm,
        );
        let zb = shape.plateau_base_mm();
        let cruciates = [
            // ACL: lateral condyle's notch wall, posterior -> in front of the spines.
            (
                knee_from_femur * Point3::new(-nw + 3.0, yc + 10.0, zm - 2.0),
                Point3::new(-2.0, py - 9.0, zb + 0.5),
            ),
            // PCL: medial condyle's notch wall, anterior -> posterior tibia below the rim.
            (
                knee_from_femur * Point3::new(nw - 3.0, yc - 2.0, zm - 4.0),
                Point3::new(0.0, py + pb - 5.0, zb - 5.0),
            ),
        ];
        PosedKnee {
            shape,
            knee_from_world,
            femur_from_knee,
            room,
            patella_pole_knee,
            cruciates,
        }
    }

    /// Rest-frame point of bone `b` for a knee-frame point.
    pub fn to_bone(&self, b: usize, p_knee: &Point3<f64>) -> Point3<f64> {
        if b == FEMUR || b == PATELLA {
            self.femur_from_knee * p_knee
        } else {
            *p_knee
        }
    }

    /// World -> rest frame of bone `b`.
    pub fn bone_from_world(&self, b: usize) -> Isometry3<f64> {
        if b == FEMUR || b == PATELLA {
            self.femur_from_knee * self.knee_from_world
        } else {
            self.knee_from_world
        }
    }

    /// The marrow-cavity description of world point `p`, known to lie inside bone `b`'s
    /// cavity (cheaper than `sample`: only that bone is evaluated).
    pub fn interior_at(&self, b: usize, p: &Point3<f64>) -> Interior {
        let pb = self.bone_from_world(b) * p;
        let depth = -self.shape.bone(b, &pb) - self.shape.cortex_mm(b, &pb);
        let (region, subregion) = self.shape.region(b, &pb, depth);
        Interior {
            bone: b,
            p_bone: pb,
            region,
            subregion,
        }
    }

    /// The limb envelope (skin surface) signed distance at a knee-frame point.
    fn envelope(&self, pk: &Point3<f64>, pf: &Point3<f64>) -> f64 {
        let s = self.shape;
        let c = Point3::new(0.0, s.limb_y_mm, 0.0);
        let thigh = elliptic_cylinder_z(pf, &c, s.thigh_semi_mm[0], s.thigh_semi_mm[1]);
        let shank = elliptic_cylinder_z(pk, &c, s.shank_semi_mm[0], s.shank_semi_mm[1]);
        let w = smoothstep(-25.0, 25.0, pk.z);
        // The patella and the tibial tuberosity lie under a thin soft-tissue cover.
        let limb = w * thigh + (1.0 - w) * shank;
        smin(limb, s.patella(pf) - 9.0, 12.0)
    }

    /// What lies at world point `p`.
    pub fn sample(&self, p: &Point3<f64>) -> Sample {
        let s = self.shape;
        let pk = self.knee_from_world * p;
        let pf = self.femur_from_knee * pk;
        let env = self.envelope(&pk, &pf);
        let mut margin = env.abs();
        if env > 0.0 {
            return self.outside(p, &pf, env, margin);
        }
        // Bones.
        let d = [s.femur(&pf), s.tibia(&pk), s.patella(&pf), s.fibula(&pk)];
        let mut inside: Option<usize> = None;
        for (b, db) in d.iter().enumerate() {
            margin = margin.min(db.abs());
            if *db < 0.0 && inside.is_none_or(|i| *db < d[i]) {
                inside = Some(b);
            }
        }
        if let Some(b) = inside {
            let pb = if b == FEMUR || b == PATELLA { pf } else { pk };
            let cortex = s.cortex_mm(b, &pb);
            let depth = -d[b] - cortex;
            margin = margin.min(depth.abs());
            let tissue = Tissue::bone(b);
            if depth <= 0.0 {
                return Sample {
                    tissue,
                    cortex: true,
                    interior: None,
                    margin_mm: margin,
                };
            }
            let (region, subregion) = s.region(b, &pb, depth);
            return Sample {
                tissue,
                cortex: false,
                interior: Some(Interior {
                    bone: b,
                    p_bone: pb,
                    region,
                    subregion,
                }),
                margin_mm: margin,
            };
        }
        let soft = |tissue, margin_mm| Sample {
            tissue,
            cortex: false,
            interior: None,
            margin_mm,
        };
        // Cartilage.
        let zm = s.condyle_zm_mm();
        let cf = s.by_side(pf.x, s.femoral_cartilage_mm);
        let ct = s.by_side(pk.x, s.tibial_cartilage_mm);
        let notch = s.notch(&pf);
        let femoral_zone = (pf.z < zm + 12.0 || (pf.y < s.condyle_y_mm - 15.0 && pf.z < zm + 30.0))
            && (notch > 1.0 || pf.y < s.condyle_y_mm - 16.0);
        let radial = s.plateau_radial(&pk);
        let tibial_zone = pk.z > s.plateau_base_mm() - 4.0 && radial < -1.5 && pk.x.abs() > 8.5;
        let pc = s.patella_center();
        let patellar_zone = pf.y > pc.y;
        margin = margin
            .min((d[0] - cf).abs())
            .min((d[1] - ct).abs())
            .min((d[2] - 3.0).abs());
        // The zones are hard cuts: near a cartilage shell, their planes are boundaries too.
        if d[0] < cf + 2.0 {
            let yc = s.condyle_y_mm;
            margin = margin
                .min((pf.z - zm - 12.0).abs())
                .min((pf.z - zm - 30.0).abs())
                .min((pf.y - yc + 15.0).abs())
                .min((pf.y - yc + 16.0).abs())
                .min((notch - 1.0).abs());
        }
        if d[1] < ct + 2.0 {
            margin = margin
                .min((pk.z - s.plateau_base_mm() + 4.0).abs())
                .min((radial + 1.5).abs())
                .min((pk.x.abs() - 8.5).abs());
        }
        if d[2] < 3.0 + 2.0 {
            margin = margin.min((pf.y - pc.y).abs());
        }
        if (femoral_zone && d[0] < cf)
            || (tibial_zone && d[1] < ct)
            || (patellar_zone && d[2] < 3.0)
        {
            return soft(Tissue::Cartilage, margin);
        }
        // Menisci: wedges on the plateau rim between the cartilages.
        let zt = s.plateau_top(pk.x, pk.y);
        let men = (pk.z - (zt + 5.0))
            .max(zt - pk.z)
            .max(radial)
            .max(-10.0 - radial)
            .max(8.5 - pk.x.abs());
        margin = margin.min(men.abs());
        if men < 0.0 {
            return soft(Tissue::Meniscus, margin);
        }
        // Joint fluid: a film over the articular surfaces inside the capsule.
        let capsule_d = ellipsoid(
            &pk,
            &Point3::new(0.0, s.condyle_y_mm - 4.0, zm - 6.0),
            &Vector3::new(s.plateau_semi_x_mm + 6.0, s.plateau_semi_y_mm + 12.0, 34.0),
        );
        let film = (d[0] - cf - 1.0).min(d[1] - ct - 1.0).min(d[2] - 3.8);
        margin = margin.min(capsule_d.abs()).min(film.abs());
        if capsule_d < 0.0 && film < 0.0 {
            return soft(Tissue::Fluid, margin);
        }
        // Tendons: patellar (patella's inferior pole to the tibial tuberosity) and
        // quadriceps (patella's superior pole upward), both fixed to the femur's pose above.
        let pole_lo = self.patella_pole_knee;
        let tub = Point3::new(
            0.0,
            s.plateau_y_mm - s.plateau_semi_y_mm - 1.0,
            s.plateau_base_mm() - 26.0,
        );
        let tendon = capsule(&pk, &pole_lo, &tub, 3.5)
            .min(capsule(
                &pk,
                &self.cruciates[0].0,
                &self.cruciates[0].1,
                3.5,
            ))
            .min(capsule(
                &pk,
                &self.cruciates[1].0,
                &self.cruciates[1].1,
                4.0,
            ))
            .min(capsule(
                &pf,
                &Point3::new(pc.x, pc.y, pc.z + 14.0),
                &Point3::new(0.0, pc.y + 4.0, pc.z + 120.0),
                4.5,
            ));
        margin = margin.min(tendon.abs());
        if tendon < 0.0 {
            return soft(Tissue::Tendon, margin);
        }
        // Skin, subcutaneous fat, fat pads, muscle.
        margin = margin
            .min((env + s.skin_mm).abs())
            .min((env + s.skin_mm + s.fat_mm).abs());
        if env > -s.skin_mm {
            return soft(Tissue::Skin, margin);
        }
        if env > -s.skin_mm - s.fat_mm {
            return soft(Tissue::Fat, margin);
        }
        let zb = s.plateau_base_mm();
        let hoffa = ellipsoid(
            &pk,
            &Point3::new(0.0, s.plateau_y_mm - s.plateau_semi_y_mm - 7.0, zb + 6.0),
            &Vector3::new(17.0, 8.0, 11.0),
        );
        let popliteal = ellipsoid(
            &pk,
            &Point3::new(0.0, s.plateau_y_mm + s.plateau_semi_y_mm + 14.0, zm - 4.0),
            &Vector3::new(20.0, 10.0, 32.0),
        );
        let pad = hoffa.min(popliteal);
        margin = margin.min(pad.abs());
        if pad < 0.0 {
            return soft(Tissue::Fat, margin);
        }
        soft(Tissue::Muscle, margin)
    }

    /// Outside the skin: clothing and the table (CT), else air.
    fn outside(&self, p: &Point3<f64>, pf: &Point3<f64>, env: f64, margin: f64) -> Sample {
        let mut margin = margin;
        let air = |tissue, margin_mm| Sample {
            tissue,
            cortex: false,
            interior: None,
            margin_mm,
        };
        let Some(room) = self.room else {
            return air(Tissue::Air, margin);
        };
        // Table, in the world frame: a curved carbon shell around a foam core.
        let top = room.table_top_y_mm + room.table_curvature * p.x * p.x;
        let below = p.y - top; // > 0 inside the table
        let shell = room.table_shell_mm;
        let depth = (below).min(room.table_thickness_mm - below);
        margin = margin.min(depth.abs()).min((depth - shell).abs());
        if depth > 0.0 {
            let t = if depth < shell {
                Tissue::Table
            } else {
                Tissue::TableCore
            };
            return air(t, margin);
        }
        // Clothing: a fabric layer with folds around the limb.
        let fold = 1.2 * ((pf.z * 0.15).sin() + (pf.x.atan2(pf.y) * 5.0).sin());
        let inner = env - room.clothing_gap_mm - fold;
        margin = margin
            .min(inner.abs())
            .min((inner - room.clothing_mm).abs());
        if inner > 0.0 && inner < room.clothing_mm {
            return air(Tissue::Clothing, margin);
        }
        air(Tissue::Air, margin)
    }
}
