//! The authors' 2D method (`paper`), reproduced so their ground truth can be compared:
//! per 2D slice (along k), the Euclidean distance transform of the structure sampled on its
//! skeleton (Zhang-Suen thinning, 8-connected); Tb.Th = mean skeleton distance (a radius,
//! not a diameter), Tb.Sp likewise on the marrow; BV/TV = Th / (Th + Sp) and
//! Tb.N = 1 / (Th + Sp). Right for plates only (see the module notes).

use rayon::prelude::*;

use super::edt::squared_edt;

/// Sum and count of the distance transform (mm) over skeleton pixels of `foreground` that
/// lie in `count`, over all slices. `background` pixels bound the structure (others are
/// cuts, as in 3D).
pub fn skeleton_distance_sum(
    foreground: &[bool],
    background: &[bool],
    count: &[bool],
    size: [usize; 3],
    spacing_mm: [f64; 3],
) -> (f64, usize) {
    let [ni, nj, _] = size;
    let plane = ni * nj;
    foreground
        .par_chunks(plane)
        .zip(background.par_chunks(plane))
        .zip(count.par_chunks(plane))
        .map(|((fg, bg), cnt)| {
            let not_bg: Vec<bool> = bg.iter().map(|b| !b).collect();
            let d2 = squared_edt(&not_bg, [ni, nj, 1], [spacing_mm[0], spacing_mm[1], 1.0]);
            let skeleton = zhang_suen(fg, ni, nj);
            let mut sum = 0.0;
            let mut count = 0;
            for n in 0..plane {
                if skeleton[n] && cnt[n] && d2[n].is_finite() {
                    sum += d2[n].sqrt();
                    count += 1;
                }
            }
            (sum, count)
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
}

/// Zhang & Suen (1984) thinning of a 2D binary image (pixels outside are background).
pub fn zhang_suen(image: &[bool], ni: usize, nj: usize) -> Vec<bool> {
    let mut img = image.to_vec();
    let at = |img: &[bool], i: i64, j: i64| -> u8 {
        if i < 0 || j < 0 || i >= ni as i64 || j >= nj as i64 {
            0
        } else {
            img[j as usize * ni + i as usize] as u8
        }
    };
    loop {
        let mut changed = false;
        for step in 0..2 {
            let mut remove = Vec::new();
            for j in 0..nj as i64 {
                for i in 0..ni as i64 {
                    if at(&img, i, j) == 0 {
                        continue;
                    }
                    // Neighbours P2..P9 clockwise from north (j - 1 is north).
                    let p = [
                        at(&img, i, j - 1),
                        at(&img, i + 1, j - 1),
                        at(&img, i + 1, j),
                        at(&img, i + 1, j + 1),
                        at(&img, i, j + 1),
                        at(&img, i - 1, j + 1),
                        at(&img, i - 1, j),
                        at(&img, i - 1, j - 1),
                    ];
                    let b: u8 = p.iter().sum();
                    if !(2..=6).contains(&b) {
                        continue;
                    }
                    let a = (0..8).filter(|&n| p[n] == 0 && p[(n + 1) % 8] == 1).count();
                    if a != 1 {
                        continue;
                    }
                    let (p2, p4, p6, p8) = (p[0], p[2], p[4], p[6]);
                    let ok = if step == 0 {
                        p2 * p4 * p6 == 0 && p4 * p6 * p8 == 0
                    } else {
                        p2 * p4 * p8 == 0 && p2 * p6 * p8 == 0
                    };
                    if ok {
                        remove.push(j as usize * ni + i as usize);
                    }
                }
            }
            if !remove.is_empty() {
                changed = true;
                for n in remove {
                    img[n] = false;
                }
            }
        }
        if !changed {
            return img;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skeleton_of_a_bar_is_its_midline() {
        let (ni, nj) = (20, 9);
        let img: Vec<bool> = (0..ni * nj)
            .map(|n| (n / ni) >= 2 && (n / ni) <= 6)
            .collect();
        let sk = zhang_suen(&img, ni, nj);
        let rows: Vec<usize> = (0..ni * nj).filter(|&n| sk[n]).map(|n| n / ni).collect();
        assert!(!rows.is_empty());
        assert!(rows.iter().all(|&r| r == 4), "{rows:?}");
    }
}
