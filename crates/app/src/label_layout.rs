//! Where the landmark labels of a slice view go so that they do not collide: each label
//! beside its point, moved to another side or further out (with a leader line) when that
//! place is taken by another label or another point, faded when no place is free; long
//! names shortened, the full name shown for the point or label under the pointer. Plain
//! geometry in screen points, no painting (the view paints what this returns).

use eframe::egui::{Pos2, Rect, Vec2, pos2, vec2};

/// Characters a label shows before it is shortened with "…".
pub const SHORT_CHARS: usize = 16;

/// Gap between a point and its label, in points.
const GAP: f32 = 6.0;

/// How near (points) the pointer must be to a landmark's point to show its full name.
pub const HOVER_RADIUS: f32 = 7.0;

/// Where one label goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placed {
    /// The label's text box.
    pub rect: Rect,
    /// Whether it left its usual place, upper right of its point (then a leader line
    /// joins it to its point).
    pub moved: bool,
    /// No free place was found: drawn faded over another.
    pub crowded: bool,
}

/// `name` as a label shows it: itself when short, else its first [`SHORT_CHARS`] - 1
/// characters and "…".
pub fn short_name(name: &str) -> String {
    if name.chars().count() <= SHORT_CHARS {
        name.to_string()
    } else {
        let head: String = name.chars().take(SHORT_CHARS - 1).collect();
        format!("{head}…")
    }
}

/// The places tried for a label of `size` at point `p`, best first: upper right, upper
/// left, lower right, lower left, then further up and down on the right, then left.
fn candidates(p: Pos2, size: Vec2) -> Vec<Rect> {
    let (w, h) = (size.x, size.y);
    let right = p.x + GAP;
    let left = p.x - GAP - w;
    let up = p.y - GAP - h;
    let down = p.y + GAP;
    let mut out = vec![
        Rect::from_min_size(pos2(right, up), size),
        Rect::from_min_size(pos2(left, up), size),
        Rect::from_min_size(pos2(right, down), size),
        Rect::from_min_size(pos2(left, down), size),
    ];
    for step in 1..=4 {
        let dy = step as f32 * (h + 2.0);
        for x in [right, left] {
            out.push(Rect::from_min_size(pos2(x, up - dy), size));
            out.push(Rect::from_min_size(pos2(x, down + dy), size));
        }
    }
    out
}

/// Places a label of `sizes[n]` beside each point `points[n]`, in order, inside `bounds`
/// where it can: the first place that overlaps no label placed before it and no other
/// point (as a circle of [`HOVER_RADIUS`]); when none is free, the first place, crowded.
pub fn layout_labels(points: &[Pos2], sizes: &[Vec2], bounds: Rect) -> Vec<Placed> {
    let mut placed: Vec<Placed> = Vec::with_capacity(points.len());
    for (n, (&p, &size)) in points.iter().zip(sizes).enumerate() {
        let free = |r: &Rect| {
            bounds.contains_rect(*r)
                && placed.iter().all(|q| !q.rect.intersects(*r))
                && points
                    .iter()
                    .enumerate()
                    .all(|(m, &o)| m == n || !r.expand(HOVER_RADIUS * 0.5).contains(o))
        };
        let options = candidates(p, size);
        let choice = options.iter().position(free);
        placed.push(match choice {
            Some(k) => Placed {
                rect: options[k],
                moved: k > 0,
                crowded: false,
            },
            None => Placed {
                rect: options[0],
                moved: false,
                crowded: true,
            },
        });
    }
    placed
}

/// The label under the pointer: the point within [`HOVER_RADIUS`] nearest to it, else a
/// label box holding it.
pub fn hovered(points: &[Pos2], placed: &[Placed], pointer: Pos2) -> Option<usize> {
    let near = points
        .iter()
        .enumerate()
        .map(|(n, p)| (n, p.distance(pointer)))
        .filter(|(_, d)| *d <= HOVER_RADIUS)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(n, _)| n);
    near.or_else(|| placed.iter().position(|q| q.rect.contains(pointer)))
}

/// The size of a text of `chars` characters in a font of `height` points (an estimate
/// for tests and before the fonts are there; the view measures its galleys).
pub fn estimated_size(chars: usize, height: f32) -> Vec2 {
    vec2(chars as f32 * height * 0.55, height * 1.2)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five labels of points 3 points apart (the tibial spines at a small zoom): none
    /// overlaps another or covers another point, each stays in the view.
    #[test]
    fn close_labels_do_not_overlap() {
        let bounds = Rect::from_min_size(pos2(0.0, 0.0), vec2(400.0, 300.0));
        let points: Vec<Pos2> = (0..5)
            .map(|n| pos2(200.0 + 3.0 * n as f32, 150.0 + 2.0 * n as f32))
            .collect();
        let sizes = vec![estimated_size(14, 11.0); 5];
        let placed = layout_labels(&points, &sizes, bounds);
        for (a, pa) in placed.iter().enumerate() {
            assert!(!pa.crowded, "label {a} found no place");
            assert!(bounds.contains_rect(pa.rect));
            for pb in &placed[a + 1..] {
                assert!(!pa.rect.intersects(pb.rect), "{pa:?} and {pb:?}");
            }
            for (m, p) in points.iter().enumerate() {
                assert!(
                    m == a || !pa.rect.contains(*p),
                    "label {a} covers point {m}"
                );
            }
        }
        // The first keeps its usual place, upper right of its point.
        assert_eq!(placed[0].rect.min, pos2(206.0, 150.0 - 6.0 - 13.2));
        assert!(!placed[0].moved);
        // A lone label is where it always was.
        let one = layout_labels(&points[..1], &sizes[..1], bounds);
        assert_eq!(one[0], placed[0]);
    }

    /// With no room at all, a label is crowded (faded) rather than lost.
    #[test]
    fn no_room_is_crowded() {
        let bounds = Rect::from_min_size(pos2(0.0, 0.0), vec2(30.0, 30.0));
        let placed = layout_labels(&[pos2(15.0, 15.0)], &[estimated_size(20, 11.0)], bounds);
        assert!(placed[0].crowded);
    }

    #[test]
    fn long_names_are_shortened_and_found_under_the_pointer() {
        assert_eq!(short_name("L1"), "L1");
        let s = short_name("femur_medial_condyle_distal");
        assert_eq!(s.chars().count(), SHORT_CHARS);
        assert!(s.starts_with("femur_medial_co") && s.ends_with('…'));
        let points = [pos2(10.0, 10.0), pos2(14.0, 10.0)];
        let placed = [
            Placed {
                rect: Rect::from_min_size(pos2(50.0, 50.0), vec2(40.0, 12.0)),
                moved: false,
                crowded: false,
            },
            Placed {
                rect: Rect::from_min_size(pos2(50.0, 70.0), vec2(40.0, 12.0)),
                moved: true,
                crowded: false,
            },
        ];
        assert_eq!(hovered(&points, &placed, pos2(13.0, 10.0)), Some(1));
        assert_eq!(hovered(&points, &placed, pos2(60.0, 75.0)), Some(1));
        assert_eq!(hovered(&points, &placed, pos2(60.0, 55.0)), Some(0));
        assert_eq!(hovered(&points, &placed, pos2(200.0, 200.0)), None);
    }
}
