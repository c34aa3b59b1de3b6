//! Surface meshes of label volumes, for the 3D view: naive surface nets over a label's
//! mask (one vertex per 2x2x2 cell the surface crosses, one quad per crossed voxel edge),
//! in world LPS mm with outward winding and normals, and sampling of scalar maps just
//! inside a surface (to colour it by subregion or by a parameter map).
//!
//! The scalar field meshed for a label is the fraction of each `step`^3 block of voxels
//! holding that label, smoothed by a [1 2 1]/4 kernel along each axis, at its 0.5 iso
//! level (edge crossings by linear interpolation). This gives sub-voxel vertex positions
//! and smooth shading; features thinner than about 1.5 blocks (single voxels, one-voxel
//! plates or threads) vanish. A zero border around each label's bounding box closes
//! surfaces that touch the edge of the grid.

use nalgebra::{Matrix4, Vector3, Vector4};
use rayon::prelude::*;

use super::{LabelMap, Volume};

/// A triangle mesh in world space (LPS, mm). Triangles wind counter-clockwise seen from
/// outside (their normal, by the right-hand rule, points out of the label).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurfaceMesh {
    /// Vertex positions, world LPS mm.
    pub positions_mm: Vec<[f32; 3]>,
    /// Unit outward normals per vertex (area-weighted mean of the triangles around it).
    pub normals: Vec<[f32; 3]>,
    /// The label each vertex bounds.
    pub labels: Vec<u8>,
    /// Three vertex indices per triangle.
    pub indices: Vec<u32>,
}

fn sub(a: [f32; 3], b: [f32; 3]) -> [f64; 3] {
    std::array::from_fn(|n| f64::from(a[n]) - f64::from(b[n]))
}

fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

impl SurfaceMesh {
    /// Whether the mesh has no triangles.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Number of triangles.
    pub fn num_triangles(&self) -> usize {
        self.indices.len() / 3
    }

    fn triangles(&self) -> impl Iterator<Item = [[f32; 3]; 3]> + '_ {
        self.indices
            .chunks_exact(3)
            .map(|t| std::array::from_fn(|n| self.positions_mm[t[n] as usize]))
    }

    /// Total surface area, mm^2.
    pub fn area_mm2(&self) -> f64 {
        self.triangles()
            .map(|[a, b, c]| {
                let n = cross(sub(b, a), sub(c, a));
                (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() / 2.0
            })
            .sum()
    }

    /// Volume enclosed (divergence theorem), mm^3: positive for closed, outward-wound
    /// surfaces.
    pub fn enclosed_volume_mm3(&self) -> f64 {
        self.triangles()
            .map(|[a, b, c]| {
                let a = a.map(f64::from);
                let n = cross(sub(b, [0.0; 3]), sub(c, [0.0; 3]));
                (a[0] * n[0] + a[1] * n[1] + a[2] * n[2]) / 6.0
            })
            .sum()
    }

    /// Smallest and largest corner of the vertices' bounding box; None when empty.
    pub fn bounds_mm(&self) -> Option<([f32; 3], [f32; 3])> {
        let first = *self.positions_mm.first()?;
        Some(
            self.positions_mm
                .iter()
                .fold((first, first), |(lo, hi), p| {
                    (
                        std::array::from_fn(|n| lo[n].min(p[n])),
                        std::array::from_fn(|n| hi[n].max(p[n])),
                    )
                }),
        )
    }

    /// Appends another mesh (its indices shifted past this mesh's vertices).
    pub fn append(&mut self, other: &SurfaceMesh) {
        let base = self.positions_mm.len() as u32;
        self.positions_mm.extend_from_slice(&other.positions_mm);
        self.normals.extend_from_slice(&other.normals);
        self.labels.extend_from_slice(&other.labels);
        self.indices.extend(other.indices.iter().map(|i| i + base));
    }

    /// Recomputes the per-vertex normals: area-weighted sums of the triangle normals.
    fn compute_normals(&mut self) {
        let mut acc = vec![[0f64; 3]; self.positions_mm.len()];
        for t in self.indices.chunks_exact(3) {
            let [a, b, c] = [0, 1, 2].map(|n| self.positions_mm[t[n] as usize]);
            let n = cross(sub(b, a), sub(c, a));
            for &v in t {
                for (s, x) in acc[v as usize].iter_mut().zip(n) {
                    *s += x;
                }
            }
        }
        self.normals = acc
            .iter()
            .map(|n| {
                let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                if len > 0.0 {
                    n.map(|x| (x / len) as f32)
                } else {
                    [0.0; 3]
                }
            })
            .collect();
    }
}

/// Inclusive voxel bounding box (i, j, k) of each label value present (by label).
fn label_boxes(labels: &[u8], size: [usize; 3]) -> Vec<Option<([usize; 3], [usize; 3])>> {
    let [ni, nj, _] = size;
    type Boxes = Vec<Option<([usize; 3], [usize; 3])>>;
    let merge = |mut a: Boxes, b: Boxes| {
        for (x, y) in a.iter_mut().zip(b) {
            *x = match (*x, y) {
                (None, y) => y,
                (x, None) => x,
                (Some((l0, h0)), Some((l1, h1))) => Some((
                    std::array::from_fn(|n| l0[n].min(l1[n])),
                    std::array::from_fn(|n| h0[n].max(h1[n])),
                )),
            };
        }
        a
    };
    labels
        .par_chunks(ni * nj)
        .enumerate()
        .map(|(k, slab)| {
            let mut boxes: Boxes = vec![None; 256];
            for (j, row) in slab.chunks_exact(ni).enumerate() {
                // Per row: the first and last voxel of each label seen in it.
                let mut seen = [(usize::MAX, 0usize); 256];
                for (i, &l) in row.iter().enumerate() {
                    if l != 0 {
                        let s = &mut seen[l as usize];
                        s.0 = s.0.min(i);
                        s.1 = i;
                    }
                }
                for (l, &(first, last)) in seen.iter().enumerate().skip(1) {
                    if first != usize::MAX {
                        let b = &mut boxes[l];
                        *b = Some(match *b {
                            None => ([first, j, k], [last, j, k]),
                            Some((lo, hi)) => {
                                ([lo[0].min(first), lo[1], lo[2]], [hi[0].max(last), j, k])
                            }
                        });
                    }
                }
            }
            boxes
        })
        .reduce(|| vec![None; 256], merge)
}

/// The smoothed block-fraction field of one label over its bounding box, with a zero
/// border: dims `[na, nb, nc]`, local point (a, b, c) = block (a - 1, b - 1, c - 1).
struct Field {
    dims: [usize; 3],
    values: Vec<f32>,
}

fn label_field(
    labels: &[u8],
    size: [usize; 3],
    label: u8,
    lo: [usize; 3],
    hi: [usize; 3],
    s: usize,
) -> Field {
    let [ni, nj, nk] = size;
    let blocks: [usize; 3] = std::array::from_fn(|n| (hi[n] - lo[n]) / s + 1);
    let dims = blocks.map(|b| b + 2);
    let [na, nb, nc] = dims;
    let slab_len = na * nb;
    // Column of each fine i (within the box), as a local a.
    let col: Vec<usize> = (0..blocks[0] * s).map(|d| d / s + 1).collect();
    let i_end = (lo[0] + blocks[0] * s).min(ni);
    let j_end = (lo[1] + blocks[1] * s).min(nj);
    let scale = 1.0 / (s * s * s) as f32;
    let mut values = vec![0f32; na * nb * nc];
    values
        .par_chunks_mut(slab_len)
        .enumerate()
        .for_each(|(c, slab)| {
            if c == 0 || c + 1 == nc {
                return;
            }
            let k0 = lo[2] + (c - 1) * s;
            let mut counts = vec![0u32; slab_len];
            for k in k0..(k0 + s).min(nk) {
                for j in lo[1]..j_end {
                    let b = (j - lo[1]) / s + 1;
                    let row = &labels[(k * nj + j) * ni..][..i_end];
                    let out = &mut counts[b * na..(b + 1) * na];
                    for (i, &l) in row.iter().enumerate().skip(lo[0]) {
                        if l == label {
                            out[col[i - lo[0]]] += 1;
                        }
                    }
                }
            }
            for (v, n) in slab.iter_mut().zip(&counts) {
                *v = *n as f32 * scale;
            }
        });
    let mut field = Field { dims, values };
    field.smooth();
    field
}

impl Field {
    /// [1 2 1]/4 along each axis, zero outside.
    fn smooth(&mut self) {
        let [na, nb, nc] = self.dims;
        let slab_len = na * nb;
        // Along a and b, within each slab.
        self.values.par_chunks_mut(slab_len).for_each(|slab| {
            let mut line = vec![0f32; na.max(nb)];
            for row in slab.chunks_exact_mut(na) {
                line[..na].copy_from_slice(row);
                for a in 0..na {
                    let l = if a > 0 { line[a - 1] } else { 0.0 };
                    let r = if a + 1 < na { line[a + 1] } else { 0.0 };
                    row[a] = 0.25 * l + 0.5 * line[a] + 0.25 * r;
                }
            }
            let mut prev = vec![0f32; na];
            let mut here = vec![0f32; na];
            for b in 0..nb {
                here.copy_from_slice(&slab[b * na..(b + 1) * na]);
                for a in 0..na {
                    let next = if b + 1 < nb {
                        slab[(b + 1) * na + a]
                    } else {
                        0.0
                    };
                    slab[b * na + a] = 0.25 * prev[a] + 0.5 * here[a] + 0.25 * next;
                }
                std::mem::swap(&mut prev, &mut here);
            }
        });
        // Along c.
        let src = &self.values;
        let mut out = vec![0f32; src.len()];
        out.par_chunks_mut(slab_len)
            .enumerate()
            .for_each(|(c, slab)| {
                let here = &src[c * slab_len..(c + 1) * slab_len];
                for (n, v) in slab.iter_mut().enumerate() {
                    let below = if c > 0 {
                        src[(c - 1) * slab_len + n]
                    } else {
                        0.0
                    };
                    let above = if c + 1 < nc {
                        src[(c + 1) * slab_len + n]
                    } else {
                        0.0
                    };
                    *v = 0.25 * below + 0.5 * here[n] + 0.25 * above;
                }
            });
        self.values = out;
    }
}

/// Corner offsets of a cell, bit n of a cell's mask = corner n.
const CORNERS: [[usize; 3]; 8] = [
    [0, 0, 0],
    [1, 0, 0],
    [0, 1, 0],
    [1, 1, 0],
    [0, 0, 1],
    [1, 0, 1],
    [0, 1, 1],
    [1, 1, 1],
];

/// The 12 edges of a cell as corner pairs.
const EDGES: [(usize, usize); 12] = [
    (0, 1),
    (2, 3),
    (4, 5),
    (6, 7),
    (0, 2),
    (1, 3),
    (4, 6),
    (5, 7),
    (0, 4),
    (1, 5),
    (2, 6),
    (3, 7),
];

const NONE: u32 = u32::MAX;

/// Surface nets over a field: vertices in local point coordinates, and triangles wound
/// counter-clockwise seen from outside in local coordinates.
fn surface_nets(field: &Field, cell_mm: [f64; 3]) -> (Vec<[f32; 3]>, Vec<u32>) {
    let [na, nb, nc] = field.dims;
    let f = &field.values;
    let at = |a: usize, b: usize, c: usize| (c * nb + b) * na + a;
    let (ca, cb) = (na - 1, nb - 1);
    let mut prev = vec![NONE; ca * cb];
    let mut cur = vec![NONE; ca * cb];
    let mut positions: Vec<[f32; 3]> = Vec::new();
    let mut indices = Vec::new();
    let quad = |q: [u32; 4], flip: bool, positions: &[[f32; 3]], indices: &mut Vec<u32>| {
        let q = if flip { [q[3], q[2], q[1], q[0]] } else { q };
        let p = q.map(|v| positions[v as usize]);
        let d2 = |x: [f32; 3], y: [f32; 3]| {
            (0..3)
                .map(|n| ((f64::from(x[n]) - f64::from(y[n])) * cell_mm[n]).powi(2))
                .sum::<f64>()
        };
        // Split along the shorter diagonal (better-shaped triangles).
        if d2(p[0], p[2]) <= d2(p[1], p[3]) {
            indices.extend_from_slice(&[q[0], q[1], q[2], q[0], q[2], q[3]]);
        } else {
            indices.extend_from_slice(&[q[1], q[2], q[3], q[1], q[3], q[0]]);
        }
    };
    for c in 0..nc - 1 {
        std::mem::swap(&mut prev, &mut cur);
        cur.fill(NONE);
        for b in 0..cb {
            for a in 0..ca {
                let v: [f32; 8] = CORNERS.map(|o| f[at(a + o[0], b + o[1], c + o[2])]);
                let mut mask = 0u8;
                for (n, x) in v.iter().enumerate() {
                    if *x > 0.5 {
                        mask |= 1 << n;
                    }
                }
                if mask == 0 || mask == 0xff {
                    continue;
                }
                let mut sum = [0f32; 3];
                let mut count = 0f32;
                for &(e0, e1) in &EDGES {
                    let (in0, in1) = (mask >> e0 & 1, mask >> e1 & 1);
                    if in0 == in1 {
                        continue;
                    }
                    let t = (0.5 - v[e0]) / (v[e1] - v[e0]);
                    for (n, s) in sum.iter_mut().enumerate() {
                        let (o0, o1) = (CORNERS[e0][n] as f32, CORNERS[e1][n] as f32);
                        *s += o0 + t * (o1 - o0);
                    }
                    count += 1.0;
                }
                let id = positions.len() as u32;
                positions.push([
                    a as f32 + sum[0] / count,
                    b as f32 + sum[1] / count,
                    c as f32 + sum[2] / count,
                ]);
                cur[b * ca + a] = id;
                let inside0 = mask & 1 != 0;
                let cell = |buf: &[u32], a: usize, b: usize| buf[b * ca + a];
                // Edges from corner 0: the four cells around each form a quad, ordered
                // counter-clockwise about the edge's axis (outward when corner 0 is inside).
                if inside0 != (mask & 2 != 0) && b > 0 && c > 0 {
                    let q = [
                        cell(&prev, a, b - 1),
                        cell(&prev, a, b),
                        cell(&cur, a, b),
                        cell(&cur, a, b - 1),
                    ];
                    quad(q, !inside0, &positions, &mut indices);
                }
                if inside0 != (mask & 4 != 0) && a > 0 && c > 0 {
                    let q = [
                        cell(&prev, a - 1, b),
                        cell(&cur, a - 1, b),
                        cell(&cur, a, b),
                        cell(&prev, a, b),
                    ];
                    quad(q, !inside0, &positions, &mut indices);
                }
                if inside0 != (mask & 16 != 0) && a > 0 && b > 0 {
                    let q = [
                        cell(&cur, a - 1, b - 1),
                        cell(&cur, a, b - 1),
                        cell(&cur, a, b),
                        cell(&cur, a - 1, b),
                    ];
                    quad(q, !inside0, &positions, &mut indices);
                }
            }
        }
    }
    (positions, indices)
}

/// The surfaces of the `wanted` labels of a label map, each label its own closed
/// surface, every vertex tagged with its label. `step` >= 1 meshes blocks of `step`^3
/// voxels (faster, coarser; 0 counts as 1). An empty mesh when no wanted label is present.
pub fn label_surface(map: &LabelMap, wanted: &[u8], step: usize) -> SurfaceMesh {
    let (geometry, labels) = (map.geometry(), map.labels());
    let size = geometry.size;
    if labels.is_empty() {
        return SurfaceMesh::default();
    }
    let s = step.max(1);
    let boxes = label_boxes(labels, size);
    let mut todo: Vec<u8> = wanted.iter().copied().filter(|&l| l != 0).collect();
    todo.sort_unstable();
    todo.dedup();
    let to_world = geometry.index_to_world_matrix();
    let flip = geometry.direction.determinant() < 0.0;
    let cell_mm: [f64; 3] = std::array::from_fn(|n| geometry.spacing_mm[n] * s as f64);
    let parts: Vec<SurfaceMesh> = todo
        .par_iter()
        .filter_map(|&label| {
            let (lo, hi) = boxes[label as usize]?;
            let field = label_field(labels, size, label, lo, hi, s);
            let (local, mut indices) = surface_nets(&field, cell_mm);
            drop(field);
            if flip {
                for t in indices.chunks_exact_mut(3) {
                    t.swap(1, 2);
                }
            }
            // Local point (a, b, c) is block a - 1: its centre is at fine index
            // lo + (a - 1) * s + (s - 1) / 2.
            let shift: [f64; 3] =
                std::array::from_fn(|n| lo[n] as f64 - s as f64 + (s as f64 - 1.0) / 2.0);
            let positions_mm = local
                .iter()
                .map(|p| {
                    let idx = Vector4::new(
                        shift[0] + f64::from(p[0]) * s as f64,
                        shift[1] + f64::from(p[1]) * s as f64,
                        shift[2] + f64::from(p[2]) * s as f64,
                        1.0,
                    );
                    let w = to_world * idx;
                    [w.x as f32, w.y as f32, w.z as f32]
                })
                .collect::<Vec<_>>();
            let mut mesh = SurfaceMesh {
                labels: vec![label; positions_mm.len()],
                positions_mm,
                normals: Vec::new(),
                indices,
            };
            mesh.compute_normals();
            Some(mesh)
        })
        .collect();
    let mut out = SurfaceMesh::default();
    for p in &parts {
        out.append(p);
    }
    out
}

/// Depths tried, as multiples of `inward_mm`, until a voxel with a value is found.
const DEPTHS: [f64; 6] = [1.0, 1.5, 2.0, 3.0, 0.5, 4.0];

/// The value of `volume` just inside the surface at each vertex: nearest-neighbour at the
/// vertex moved `inward_mm` against its normal, else at 1.5, 2, 3, 0.5 and 4 times that
/// depth; voxels that are NaN, infinite or exactly 0 count as "no value" (the background
/// of label and parameter maps). NaN where no depth finds a value.
pub fn sample_at_vertices(mesh: &SurfaceMesh, volume: &Volume, inward_mm: f64) -> Vec<f32> {
    let m: Matrix4<f64> = volume.geometry.world_to_index_matrix();
    let size = volume.geometry.size;
    mesh.positions_mm
        .par_iter()
        .zip(mesh.normals.par_iter())
        .map(|(p, n)| {
            let p = Vector3::new(f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
            let n = Vector3::new(f64::from(n[0]), f64::from(n[1]), f64::from(n[2]));
            for d in DEPTHS {
                let q = p - n * (d * inward_mm);
                let idx = m * q.push(1.0);
                let r: [f64; 3] = std::array::from_fn(|a| idx[a].round());
                if (0..3).any(|a| !(r[a] >= 0.0 && r[a] < size[a] as f64)) {
                    continue;
                }
                let v = volume
                    .data
                    .get([r[2] as usize, r[1] as usize, r[0] as usize]);
                if let Some(&v) = v
                    && v.is_finite()
                    && v != 0.0
                {
                    return v;
                }
            }
            f32::NAN
        })
        .collect()
}

#[cfg(test)]
mod tests;
