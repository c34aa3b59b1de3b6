//! The report's figure: a coronal CT slice in a bone window with the Tb.Th map over the
//! subchondral regions, and its colour bar.

use srrd_base::volume::{LabelMap, Volume};

/// A coronal slice (through the regions' centroid) of the CT in a bone window with the
/// map coloured over the regions; PNG bytes and the colour range.
pub fn coronal_figure(
    ct: &Volume,
    map: &Volume,
    regions: &LabelMap,
) -> Option<(Vec<u8>, f64, f64)> {
    let g = &ct.geometry;
    let [ni, _, nk] = g.size;
    let regions = regions.labels();
    let (mut sum, mut n) = (0usize, 0usize);
    let mut values = Vec::new();
    let mdata = map.data.as_slice()?;
    for (idx, r) in regions.iter().enumerate() {
        if *r > 0 {
            sum += g.ijk(idx)[1];
            n += 1;
            if mdata[idx] > 0.0 {
                values.push(mdata[idx] as f64);
            }
        }
    }
    if n == 0 || values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let (lo, hi) = (values[values.len() / 50], values[values.len() * 49 / 50]);
    let j = sum / n;
    let cdata = ct.data.as_slice()?;
    let scale = 3usize;
    // The slice, then a gap and a colour bar from `lo` (left) to `hi` (right).
    let (gap, bar) = (4usize, 12usize);
    let (w, h_img) = (ni * scale, nk * scale);
    let h = h_img + gap + bar;
    let mut rgb = vec![0u8; w * h * 3];
    for y in 0..h_img {
        let k = nk - 1 - y / scale; // superior at the top
        for x in 0..w {
            let i = x / scale;
            let idx = g.index(i, j, k);
            let grey = ((cdata[idx] as f64 + 200.0) / 1500.0).clamp(0.0, 1.0);
            let mut c = [grey * 255.0; 3];
            if regions[idx] > 0 && mdata[idx] > 0.0 {
                let t = ((mdata[idx] as f64 - lo) / (hi - lo).max(1e-9)).clamp(0.0, 1.0);
                let col = srrd_stats::viridis_rgb(t as f32);
                c = std::array::from_fn(|a| 0.2 * c[a] + 0.8 * f64::from(col[a]));
            }
            let o = (y * w + x) * 3;
            for a in 0..3 {
                rgb[o + a] = c[a].round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    for y in h_img + gap..h {
        for x in 0..w {
            let col = srrd_stats::viridis_rgb(x as f32 / (w - 1).max(1) as f32);
            rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&col);
        }
    }
    let bytes = srrd_base::io::raster::encode_png_rgb(w as u32, h as u32, &rgb).ok()?;
    Some((bytes, lo, hi))
}
