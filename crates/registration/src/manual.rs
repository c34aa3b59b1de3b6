//! Manual correction of a rigid registration start: moving the displayed moving image
//! (shift and turn, as a reader nudges it) expressed as the fixed -> moving transform,
//! with undo and redo.

use nalgebra::{Point3, Unit, UnitQuaternion, Vector3};

use srrd_base::volume::{PointTransform, RigidTransform};

/// `t` (fixed -> moving) after the image it shows is moved by `shift_mm` and turned by
/// `angle_rad` about `axis` through `about` (world mm): the content that was shown at p
/// is shown at `R (p - about) + about + shift` afterwards. Keeps `t`'s centre.
pub fn move_content(
    t: &RigidTransform,
    shift_mm: Vector3<f64>,
    axis: Unit<Vector3<f64>>,
    angle_rad: f64,
    about: Point3<f64>,
) -> RigidTransform {
    let r = UnitQuaternion::from_axis_angle(&axis, angle_rad);
    // The new transform is t after the inverse of the content's motion.
    let undo_motion = |p: Point3<f64>| about + r.inverse() * (p - about - shift_mm);
    let rotation = t.rotation * r.inverse();
    let at_centre = t.transform_point(&undo_motion(t.center_mm));
    RigidTransform {
        rotation,
        translation_mm: at_centre - t.center_mm,
        center_mm: t.center_mm,
    }
}

/// A rigid start being edited: the current transform, with undo and redo.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManualStart {
    pub current: RigidTransform,
    undo: Vec<RigidTransform>,
    redo: Vec<RigidTransform>,
}

impl ManualStart {
    /// Starts editing from `t`.
    pub fn new(t: RigidTransform) -> Self {
        ManualStart {
            current: t,
            undo: Vec::new(),
            redo: Vec::new(),
        }
    }

    /// Replaces the current transform (undoable).
    pub fn set(&mut self, t: RigidTransform) {
        self.undo.push(std::mem::replace(&mut self.current, t));
        self.redo.clear();
    }

    /// Moves the shown image (see [`move_content`]); undoable.
    pub fn nudge(
        &mut self,
        shift_mm: Vector3<f64>,
        axis: Unit<Vector3<f64>>,
        angle_rad: f64,
        about: Point3<f64>,
    ) {
        let next = move_content(&self.current, shift_mm, axis, angle_rad, about);
        self.set(next);
    }

    /// Starts a drag: the whole drag is one undo step.
    pub fn begin_drag(&mut self) {
        self.undo.push(self.current.clone());
        self.redo.clear();
    }

    /// Moves the shown image during a drag (see [`move_content`]; no undo step of its
    /// own, [`begin_drag`](Self::begin_drag) made it).
    pub fn drag(
        &mut self,
        shift_mm: Vector3<f64>,
        axis: Unit<Vector3<f64>>,
        angle_rad: f64,
        about: Point3<f64>,
    ) {
        self.current = move_content(&self.current, shift_mm, axis, angle_rad, about);
    }

    /// Steps back; false when there is nothing to undo.
    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(t) => {
                self.redo.push(std::mem::replace(&mut self.current, t));
                true
            }
            None => false,
        }
    }

    /// Steps forward again; false when there is nothing to redo.
    pub fn redo(&mut self) -> bool {
        match self.redo.pop() {
            Some(t) => {
                self.undo.push(std::mem::replace(&mut self.current, t));
                true
            }
            None => false,
        }
    }

    /// How many steps can be undone.
    pub fn undo_depth(&self) -> usize {
        self.undo.len()
    }

    /// The transform's rotation angle (degrees) and translation at the centre (mm), as
    /// the panel shows it.
    pub fn summary(&self) -> (f64, Vector3<f64>) {
        (
            self.current.rotation.angle().to_degrees(),
            self.current.translation_mm,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_the_content_moves_what_is_shown() {
        let t = RigidTransform::from_euler_zxy(
            [0.1, -0.2, 0.3],
            Vector3::new(4.0, -2.0, 7.0),
            Point3::new(10.0, 20.0, 30.0),
        );
        let shift = Vector3::new(2.0, -1.0, 0.5);
        let axis = Vector3::z_axis();
        let about = Point3::new(-5.0, 3.0, 8.0);
        let angle = 0.25;
        let moved = move_content(&t, shift, axis, angle, about);
        let r = UnitQuaternion::from_axis_angle(&axis, angle);
        // What was shown at p (the moving image's value at t(p)) is shown at p'.
        for p in [Point3::new(0.0, 0.0, 0.0), Point3::new(30.0, -12.0, 4.0)] {
            let p_new = about + r * (p - about) + shift;
            let err = (moved.transform_point(&p_new) - t.transform_point(&p)).norm();
            assert!(err < 1e-9, "{err}");
        }
        assert_eq!(moved.center_mm, t.center_mm);
    }

    #[test]
    fn undo_and_redo_walk_the_edits() {
        let mut m = ManualStart::new(RigidTransform::default());
        let about = Point3::origin();
        m.nudge(Vector3::new(1.0, 0.0, 0.0), Vector3::x_axis(), 0.0, about);
        m.nudge(Vector3::zeros(), Vector3::z_axis(), 0.1, about);
        assert_eq!(m.undo_depth(), 2);
        let after_two = m.current.clone();
        assert!(m.undo());
        assert!((m.summary().0).abs() < 1e-9);
        assert!((m.summary().1.x + 1.0).abs() < 1e-9, "{:?}", m.summary());
        assert!(m.undo());
        assert_eq!(m.current, RigidTransform::default());
        assert!(!m.undo());
        assert!(m.redo() && m.redo());
        assert_eq!(m.current, after_two);
        assert!(!m.redo());
        // A new edit after an undo drops the redo history.
        assert!(m.undo());
        m.set(RigidTransform::default());
        assert!(!m.redo());
    }
}
