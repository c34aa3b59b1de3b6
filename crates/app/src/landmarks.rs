//! Landmark editing state of the viewer: two sets (fixed = CT, moving = MR) paired by
//! label, the selection, undo/redo of every edit, and the landmark protocol being
//! followed (the next landmark to place, skipped ones, ones that cannot be placed).

use nalgebra::Point3;

use srrd_base::io::landmarks::Landmark;
use srrd_base::io::protocol::{Protocol, ProtocolLandmark};

/// The two landmark sets and their edit history.
#[derive(Clone, Debug, Default)]
pub struct LandmarkEditor {
    /// 0: fixed image (CT), 1: moving image (MR), world LPS mm.
    pub sets: [Vec<Landmark>; 2],
    /// The set new landmarks go into.
    pub active: usize,
    /// The selected label (a pair, or a landmark waiting for its partner).
    pub selected: Option<String>,
    undo: Vec<[Vec<Landmark>; 2]>,
    redo: Vec<[Vec<Landmark>; 2]>,
    /// The protocol followed: each placement takes its next landmark's name.
    pub protocol: Option<Protocol>,
    /// Per image: names skipped for now (prompted again after the others).
    pub skipped: [Vec<String>; 2],
    /// Per image: names marked "cannot be placed" (not prompted again).
    pub unplaceable: [Vec<String>; 2],
}

impl LandmarkEditor {
    /// Starts from loaded sets (no history).
    pub fn with_sets(fixed: Vec<Landmark>, moving: Vec<Landmark>) -> Self {
        LandmarkEditor {
            sets: [fixed, moving],
            ..Default::default()
        }
    }

    fn snapshot(&mut self) {
        self.undo.push(self.sets.clone());
        self.redo.clear();
    }

    /// The protocol's next landmark for the active image: the first not yet placed,
    /// skipped or marked unplaceable; when only skipped ones remain, the first of those.
    pub fn next_prompt(&self) -> Option<&ProtocolLandmark> {
        let set = self.active;
        let protocol = self.protocol.as_ref()?;
        let placed = |n: &str| self.sets[set].iter().any(|x| x.label == n);
        let open =
            |l: &&ProtocolLandmark| !placed(&l.name) && !self.unplaceable[set].contains(&l.name);
        protocol
            .for_image(set)
            .filter(open)
            .find(|l| !self.skipped[set].contains(&l.name))
            .or_else(|| protocol.for_image(set).find(open))
    }

    /// (done, total) of the protocol on the active image; "cannot be placed" counts as
    /// done.
    pub fn progress(&self) -> Option<(usize, usize)> {
        let set = self.active;
        let protocol = self.protocol.as_ref()?;
        let total = protocol.for_image(set).count();
        let done = protocol
            .for_image(set)
            .filter(|l| {
                self.sets[set].iter().any(|x| x.label == l.name)
                    || self.unplaceable[set].contains(&l.name)
            })
            .count();
        Some((done, total))
    }

    /// Skips the prompted landmark for now (it comes back after the others).
    pub fn skip(&mut self) {
        if let Some(name) = self.next_prompt().map(|l| l.name.clone()) {
            let set = self.active;
            self.skipped[set].retain(|n| n != &name);
            self.skipped[set].push(name);
        }
    }

    /// Marks the prompted landmark as not placeable on the active image.
    pub fn cannot_place(&mut self) {
        if let Some(name) = self.next_prompt().map(|l| l.name.clone()) {
            let set = self.active;
            self.skipped[set].retain(|n| n != &name);
            self.unplaceable[set].push(name);
        }
    }

    /// Places a landmark in the active set at `p`: with the selected label when that set
    /// lacks it (so it pairs), else the protocol's next landmark, else the next free
    /// "L<n>". Returns the label.
    pub fn place(&mut self, p: Point3<f64>) -> String {
        let prompt = self.next_prompt().map(|l| l.name.clone());
        self.snapshot();
        let set = self.active;
        let has = |l: &str| self.sets[set].iter().any(|x| x.label == l);
        let label = match (&self.selected, prompt) {
            (Some(s), _) if !has(s) && self.protocol.is_none() => s.clone(),
            (_, Some(name)) => {
                self.skipped[set].retain(|n| n != &name);
                name
            }
            (Some(s), None) if !has(s) => s.clone(),
            _ => (1..)
                .map(|n| format!("L{n}"))
                .find(|l| !self.sets.iter().flatten().any(|x| &x.label == l))
                .unwrap_or_default(),
        };
        self.sets[set].push(Landmark {
            label: label.clone(),
            position_mm: p.coords.into(),
        });
        self.selected = Some(label.clone());
        label
    }

    /// Moves the selected landmark of the active set to `p`.
    pub fn move_selected(&mut self, p: Point3<f64>) -> bool {
        let Some(sel) = self.selected.clone() else {
            return false;
        };
        let set = self.active;
        if !self.sets[set].iter().any(|x| x.label == sel) {
            return false;
        }
        self.snapshot();
        if let Some(l) = self.sets[set].iter_mut().find(|x| x.label == sel) {
            l.position_mm = p.coords.into();
        }
        true
    }

    /// Deletes the selected label from the active set.
    pub fn delete_selected(&mut self) -> bool {
        let Some(sel) = self.selected.clone() else {
            return false;
        };
        let set = self.active;
        if !self.sets[set].iter().any(|x| x.label == sel) {
            return false;
        }
        self.snapshot();
        self.sets[set].retain(|x| x.label != sel);
        true
    }

    /// Renames the selected label in both sets (the pair stays a pair). Refuses a label
    /// already in use.
    pub fn rename_selected(&mut self, new: &str) -> bool {
        let new = new.trim();
        let Some(sel) = self.selected.clone() else {
            return false;
        };
        if new.is_empty() || new == sel || self.sets.iter().flatten().any(|x| x.label == new) {
            return false;
        }
        self.snapshot();
        for l in self.sets.iter_mut().flatten() {
            if l.label == sel {
                l.label = new.to_string();
            }
        }
        self.selected = Some(new.to_string());
        true
    }

    /// Replaces set `set` (0 fixed, 1 moving) with `list`, e.g. from a file (undoable).
    pub fn replace_set(&mut self, set: usize, list: Vec<Landmark>) {
        self.snapshot();
        self.sets[set.min(1)] = list;
    }

    /// Undoes the last edit.
    pub fn undo(&mut self) -> bool {
        match self.undo.pop() {
            Some(prev) => {
                self.redo.push(std::mem::replace(&mut self.sets, prev));
                true
            }
            None => false,
        }
    }

    /// Redoes the last undone edit.
    pub fn redo(&mut self) -> bool {
        match self.redo.pop() {
            Some(next) => {
                self.undo.push(std::mem::replace(&mut self.sets, next));
                true
            }
            None => false,
        }
    }

    /// Position of `label` (fixed set first).
    pub fn position(&self, label: &str) -> Option<Point3<f64>> {
        self.sets
            .iter()
            .flatten()
            .find(|x| x.label == label)
            .map(|x| Point3::from(x.position_mm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn place_pair_rename_delete_undo_redo() {
        let mut e = LandmarkEditor::default();
        assert_eq!(e.place(Point3::new(1.0, 2.0, 3.0)), "L1");
        e.active = 1;
        // The selected L1 is missing in the moving set: the new point pairs with it.
        assert_eq!(e.place(Point3::new(1.0, 2.0, 5.0)), "L1");
        // Now both sets have L1: the next point gets a new label.
        assert_eq!(e.place(Point3::new(0.0, 0.0, 0.0)), "L2");
        e.selected = Some("L1".into());
        assert!(e.rename_selected("tibia_spine"));
        assert!(
            e.sets
                .iter()
                .all(|s| s.iter().any(|l| l.label == "tibia_spine"))
        );
        assert!(!e.rename_selected("L2"), "labels stay unique");
        assert!(e.move_selected(Point3::new(1.0, 2.0, 4.0)));
        assert_eq!(e.sets[1][0].position_mm, [1.0, 2.0, 4.0]);
        assert!(e.delete_selected());
        assert_eq!(e.sets[1].len(), 1);
        assert!(e.undo());
        assert_eq!(e.sets[1].len(), 2);
        assert!(e.undo());
        assert_eq!(e.sets[1][0].position_mm, [1.0, 2.0, 5.0]);
        assert!(e.redo() && e.redo());
        assert_eq!(e.sets[1].len(), 1);
        assert!(!e.redo());
    }
}
