//! Connected components (6-connectivity), largest component, 2D hole filling and binary
//! morphology on `[k][j][i]` masks: shared by morphometry (specks and holes) and
//! segmentation (body, bones).

/// Labels of the 6-connected components of `mask` (0 = background, 1.. by discovery
/// order) and each component's size (index 0 unused).
pub fn label_components(mask: &[bool], size: [usize; 3]) -> (Vec<u32>, Vec<usize>) {
    let [ni, nj, nk] = size;
    let mut labels = vec![0u32; mask.len()];
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || labels[start] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        let mut count = 0usize;
        labels[start] = id;
        stack.push(start);
        while let Some(n) = stack.pop() {
            count += 1;
            let i = n % ni;
            let j = (n / ni) % nj;
            let k = n / (ni * nj);
            let mut visit = |m: usize| {
                if mask[m] && labels[m] == 0 {
                    labels[m] = id;
                    stack.push(m);
                }
            };
            if i > 0 {
                visit(n - 1);
            }
            if i + 1 < ni {
                visit(n + 1);
            }
            if j > 0 {
                visit(n - ni);
            }
            if j + 1 < nj {
                visit(n + ni);
            }
            if k > 0 {
                visit(n - ni * nj);
            }
            if k + 1 < nk {
                visit(n + ni * nj);
            }
        }
        sizes.push(count);
    }
    (labels, sizes)
}

/// The largest 6-connected component of `mask` (empty if the mask is).
pub fn largest_component(mask: &[bool], size: [usize; 3]) -> Vec<bool> {
    let (labels, sizes) = label_components(mask, size);
    let best = (1..sizes.len()).max_by_key(|&l| sizes[l]);
    match best {
        Some(b) => labels.iter().map(|l| *l == b as u32).collect(),
        None => vec![false; mask.len()],
    }
}

/// Fills holes in every k-slice: background not 4-connected to the slice border becomes
/// foreground.
pub fn fill_holes_2d(mask: &mut [bool], size: [usize; 3]) {
    let [ni, nj, nk] = size;
    let plane = ni * nj;
    for k in 0..nk {
        let s = &mut mask[k * plane..(k + 1) * plane];
        let mut outside = vec![false; plane];
        let mut stack: Vec<usize> = Vec::new();
        for i in 0..ni {
            stack.push(i);
            stack.push((nj - 1) * ni + i);
        }
        for j in 0..nj {
            stack.push(j * ni);
            stack.push(j * ni + ni - 1);
        }
        while let Some(n) = stack.pop() {
            if s[n] || outside[n] {
                continue;
            }
            outside[n] = true;
            let (i, j) = (n % ni, n / ni);
            if i > 0 {
                stack.push(n - 1);
            }
            if i + 1 < ni {
                stack.push(n + 1);
            }
            if j > 0 {
                stack.push(n - ni);
            }
            if j + 1 < nj {
                stack.push(n + ni);
            }
        }
        for (v, o) in s.iter_mut().zip(&outside) {
            *v = !*o;
        }
    }
}

/// Binary dilation (`grow` true) or erosion by a box of `radius` voxels per axis.
pub fn morph_box(mask: &[bool], size: [usize; 3], radius: [usize; 3], grow: bool) -> Vec<bool> {
    let [ni, nj, _] = size;
    let mut cur = mask.to_vec();
    let strides = [1usize, ni, ni * nj];
    for axis in 0..3 {
        let r = radius[axis] as isize;
        if r == 0 {
            continue;
        }
        let len = size[axis] as isize;
        let src = cur.clone();
        for (n, out) in cur.iter_mut().enumerate() {
            let pos = [n % ni, (n / ni) % nj, n / (ni * nj)][axis] as isize;
            let base = n as isize - pos * strides[axis] as isize;
            let lo = (pos - r).max(0);
            let hi = (pos + r).min(len - 1);
            let mut any = !grow;
            for q in lo..=hi {
                let v = src[(base + q * strides[axis] as isize) as usize];
                if grow && v {
                    any = true;
                    break;
                }
                if !grow && !v {
                    any = false;
                    break;
                }
            }
            *out = any;
        }
    }
    cur
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_holes_and_morphology() {
        let size = [6, 5, 2];
        let mut m = vec![false; 60];
        // A 3-voxel blob and a ring with a hole in slice 0, a single voxel in slice 1.
        for &(i, j) in &[
            (1, 1),
            (2, 1),
            (3, 1),
            (1, 2),
            (3, 2),
            (1, 3),
            (2, 3),
            (3, 3),
        ] {
            m[j * 6 + i] = true;
        }
        m[30 + 5 * 6 - 1] = true;
        let (labels, sizes) = label_components(&m, size);
        assert_eq!(sizes.len(), 3);
        assert_eq!(sizes[1], 8);
        assert_eq!(labels[30 + 29], 2);
        let big = largest_component(&m, size);
        assert!(!big[59] && big[6 + 1]);
        let mut filled = big.clone();
        fill_holes_2d(&mut filled, size);
        assert!(filled[2 * 6 + 2], "the ring's hole is filled");
        assert!(!filled[0]);
        let grown = morph_box(&filled, size, [1, 1, 0], true);
        assert!(grown[0] && !grown[5]);
        let shrunk = morph_box(&filled, size, [1, 1, 0], false);
        assert_eq!(shrunk.iter().filter(|v| **v).count(), 1);
    }
}
