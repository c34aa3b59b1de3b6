//! `srrd morph`: trabecular parameters of an image (binary, or grey then binarized).

use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::io::{self, WriteDtype};
use crate::morphometry::{self, BonePolarity, Method, Threshold};
use crate::volume::Volume;

/// Options of `srrd morph`.
pub struct MorphArgs<'a> {
    pub image: &'a Path,
    pub mask: Option<&'a Path>,
    pub method: &'a str,
    pub threshold: &'a str,
    pub bone: &'a str,
    pub min_object_voxels: usize,
    pub map: Option<&'a Path>,
    pub patch_maps: Option<&'a Path>,
    pub patch: [usize; 3],
    pub stride: [usize; 3],
    pub json: bool,
}

/// Whether every finite voxel is 0 or 1.
fn is_binary(v: &Volume) -> bool {
    v.data.iter().all(|x| *x == 0.0 || *x == 1.0)
}

fn same_grid(a: &Volume, b: &Volume) -> bool {
    let (g, h) = (&a.geometry, &b.geometry);
    g.size == h.size
        && (g.spacing_mm - h.spacing_mm).norm() < 1e-4 * g.spacing_mm.norm()
        && (g.origin_mm - h.origin_mm).norm() < 1e-3 * g.spacing_mm.min()
        && (g.direction - h.direction).norm() < 1e-4
}

/// Runs `srrd morph`.
pub fn morph(args: MorphArgs) -> Result<()> {
    let method = Method::parse(args.method)?;
    let image = io::read_image(args.image, None)?.volume;
    let mask_volume = match args.mask {
        Some(p) => {
            let m = io::read_image(p, None)?.volume;
            if !same_grid(&image, &m) {
                bail!(
                    "{}: the mask's grid ({:?} voxels) differs from the image's ({:?}); resample it first (srrd resample --like)",
                    p.display(),
                    m.geometry.size,
                    image.geometry.size
                );
            }
            Some(m)
        }
        None => None,
    };
    let mask: Vec<bool> = match &mask_volume {
        Some(m) => m.data.iter().map(|v| *v > 0.5).collect(),
        None => vec![true; image.data.len()],
    };
    let size = image.geometry.size;
    let spacing: [f64; 3] = image.geometry.spacing_mm.into();
    let values: Vec<f32> = image.data.iter().copied().collect();
    let bone: Vec<bool> = if is_binary(&image) {
        values.iter().map(|v| *v == 1.0).collect()
    } else {
        let threshold = match args.threshold {
            "local" => Threshold::Local {
                block: 11,
                offset: 1.0,
            },
            "otsu" => Threshold::Otsu,
            v => Threshold::Value(
                v.parse::<f32>()
                    .ok()
                    .filter(|x| x.is_finite())
                    .with_context(|| format!("--threshold {v}: use local, otsu or a number"))?,
            ),
        };
        let polarity = match args.bone {
            "bright" => BonePolarity::Bright,
            "dark" => BonePolarity::Dark,
            other => bail!("--bone {other}: use bright or dark"),
        };
        // The threshold is the mask's; the whole image is binarized, so the structure
        // just beyond the mask bounds what lies along its faces.
        let threshold = match threshold {
            Threshold::Otsu => Threshold::Value(morphometry::otsu(&values, &mask)),
            t => t,
        };
        let everywhere = vec![true; values.len()];
        morphometry::binarize(
            &values,
            &everywhere,
            size,
            threshold,
            polarity,
            args.min_object_voxels,
        )
    };
    let (params, maps) = morphometry::parameters(&bone, &mask, size, spacing, method)
        .with_context(|| format!("{}", args.image.display()))?;
    if let Some(map_path) = args.map {
        let Some(maps) = &maps else {
            bail!("--map needs --method bonej (the paper's 2D method has no thickness map)");
        };
        let data = ndarray::Array3::from_shape_vec(
            image.geometry.shape_kji(),
            maps.bone_thickness_mm.clone(),
        )?;
        let map = Volume::from_data(image.geometry.clone(), data)?;
        io::write_nifti(map_path, &map, WriteDtype::F32)?;
    }
    if let Some(dir) = args.patch_maps {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create folder", dir.display()))?;
        let maps = morphometry::patch_maps(
            &bone,
            &mask,
            &image.geometry,
            args.patch,
            args.stride,
            method,
        )?;
        for (name, map) in ["bv_tv", "tb_th_mm", "tb_sp_mm", "tb_n_per_mm"]
            .iter()
            .zip(maps.iter())
        {
            io::write_nifti(&dir.join(format!("{name}.nii.gz")), map, WriteDtype::F32)?;
        }
    }
    if args.json {
        println!("{}", serde_json::to_string(&params)?);
    } else {
        println!("method      {}", params.method);
        println!("BV/TV       {:.4}", params.bv_tv);
        println!("Tb.Th       {:.4} mm", params.tb_th_mm);
        println!("Tb.Sp       {:.4} mm", params.tb_sp_mm);
        println!(
            "Tb.N        {:.4} 1/mm  (1 / (Tb.Th + Tb.Sp))",
            params.tb_n_per_mm
        );
        println!(
            "Tb.N plate  {:.4} 1/mm  (BV/TV / Tb.Th)",
            params.tb_n_plate_per_mm
        );
        println!(
            "voxels      {} bone of {} in the mask",
            params.bone_voxels, params.mask_voxels
        );
    }
    Ok(())
}
