//! `srrd morph`: trabecular parameters of an image (binary, or grey then binarized).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::common::{MethodArg, parse_triple};
use crate::io::{self, WriteDtype};
use crate::morphometry::{self, BonePolarity, Threshold};
use crate::volume::Volume;

/// Arguments of `srrd morph`.
#[derive(Debug, clap::Args)]
pub struct MorphArgs {
    /// Binary (0/1) image, or grey image to binarize.
    image: PathBuf,
    /// Region to measure (non-zero voxels), on the image's grid.
    #[arg(long)]
    mask: Option<PathBuf>,
    /// bonej (3D local thickness, default) or paper (the authors' 2D skeleton method).
    #[arg(long, value_enum, default_value = "bonej")]
    method: MethodArg,
    /// For grey images: local (mean of 11x11 block minus 1, per slice), otsu, or a value.
    #[arg(long, default_value = "local", allow_negative_numbers = true)]
    threshold: String,
    /// For grey images: is bone bright (CT) or dark (MR)?
    #[arg(long, value_enum, default_value = "bright")]
    bone: BoneArg,
    /// For grey images: remove bone specks and marrow holes smaller than this (voxels).
    #[arg(long, default_value_t = 64)]
    min_object: usize,
    /// Write the local thickness map (mm) as NIfTI.
    #[arg(long)]
    map: Option<PathBuf>,
    /// Write per-patch parameter maps (bv_tv, tb_th_mm, tb_sp_mm, tb_n_per_mm .nii.gz) here.
    #[arg(long)]
    patch_maps: Option<PathBuf>,
    /// Patch size in voxels (i,j,k) for --patch-maps.
    #[arg(long, default_value = "48,48,16", value_parser = parse_triple)]
    patch: [usize; 3],
    /// Distance between patch centres in voxels (i,j,k) for --patch-maps.
    #[arg(long, default_value = "24,24,8", value_parser = parse_triple)]
    stride: [usize; 3],
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
}

/// `--bone`: how bone looks in a grey image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BoneArg {
    Bright,
    Dark,
}

impl MorphArgs {
    /// Runs `srrd morph`.
    pub fn run(self) -> Result<()> {
        morph(&self)
    }
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

/// Measures the image.
fn morph(args: &MorphArgs) -> Result<()> {
    let method = args.method.method();
    let image = io::read_image(&args.image, None)?.volume;
    let mask_volume = match &args.mask {
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
        let threshold = match args.threshold.as_str() {
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
            BoneArg::Bright => BonePolarity::Bright,
            BoneArg::Dark => BonePolarity::Dark,
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
            args.min_object,
        )
    };
    let (params, maps) = morphometry::parameters(&bone, &mask, size, spacing, method)
        .with_context(|| format!("{}", args.image.display()))?;
    if let Some(map_path) = &args.map {
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
    if let Some(dir) = &args.patch_maps {
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
