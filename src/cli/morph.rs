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
    /// Binary image (0/1; 0/127 and 0/255 read as binary too, with a warning), or grey
    /// image to binarize.
    image: PathBuf,
    /// Volume of interest (voxels > 0.5), on the image's grid. BV/TV counts its voxels;
    /// Tb.Sp is measured in the marrow inside it only (its boundary bounds the marrow
    /// spheres, as bone does: the field's convention, as Scanco IPL and ORMIR_XCT); Tb.Th
    /// keeps the bone as the image has it (bone beyond the mask is structure).
    #[arg(long)]
    mask: Option<PathBuf>,
    /// With --mask: voi (default) as above, or count: the mask only selects the voxels
    /// counted and marrow spheres may grow into the marrow beyond it (srrd's reading
    /// before the VOI convention).
    #[arg(long, value_enum, default_value = "voi", requires = "mask")]
    mask_as: MaskAs,
    /// bonej (3D local thickness, default) or paper (the authors' 2D skeleton method).
    #[arg(long, value_enum, default_value = "bonej")]
    method: MethodArg,
    /// With --method bonej, where a ball centred on a voxel ends: surface (default: the
    /// surface lies halfway between voxel centres, radius = distance to the nearest
    /// background voxel centre less half a voxel; plates of t voxels read t) or centre
    /// (radius = that distance, as ORMIR_XCT, porespy and localthickness; plates of odd t
    /// read t + 1). See docs/morphometry-conventions.md.
    #[arg(long, value_enum, default_value = "surface")]
    convention: ConventionArg,
    /// For grey images: local (mean of 11x11 block minus 1, per slice), otsu, or a value.
    #[arg(long, default_value = "local", allow_negative_numbers = true)]
    threshold: String,
    /// For grey images: is bone bright (CT) or dark (MR)?
    #[arg(long, value_enum, default_value = "bright")]
    bone: BoneArg,
    /// For grey images: remove bone specks and marrow holes smaller than this (voxels).
    #[arg(long, default_value_t = 64)]
    min_object: usize,
    /// Write the bone's local thickness map (mm; Tb.Th is its mean) as NIfTI.
    #[arg(long)]
    map: Option<PathBuf>,
    /// Write the marrow's local thickness map (mm; Tb.Sp is its mean) as NIfTI.
    #[arg(long)]
    sp_map: Option<PathBuf>,
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

/// `--mask-as`: what the mask bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MaskAs {
    Voi,
    Count,
}

/// `--convention`: see `morphometry::thickness::Convention`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ConventionArg {
    Surface,
    Centre,
}

impl MorphArgs {
    /// Runs `srrd morph`.
    pub fn run(self) -> Result<()> {
        morph(&self)
    }
}

/// How an image's voxels read as bone.
#[derive(Debug, PartialEq)]
enum Binary {
    /// Only 0 and 1.
    ZeroOne,
    /// Only 0 and one other positive value (e.g. 127 in Scanco's segmentations, 255):
    /// non-zero is bone.
    ZeroAnd(f32),
    /// Anything else: a grey image to binarize.
    Grey,
}

/// Whether the image is binary, and with which values.
fn binary_kind(v: &Volume) -> Binary {
    let mut other: Option<f32> = None;
    for &x in v.data.iter() {
        if x == 0.0 {
            continue;
        }
        if !(x.is_finite() && x > 0.0) {
            return Binary::Grey;
        }
        match other {
            None => other = Some(x),
            Some(o) if o == x => {}
            Some(_) => return Binary::Grey,
        }
    }
    match other {
        None | Some(1.0) => Binary::ZeroOne,
        Some(x) => Binary::ZeroAnd(x),
    }
}

/// Where two grids differ, in words (None when they are the same grid).
fn grid_difference(a: &Volume, b: &Volume) -> Option<String> {
    let (g, h) = (&a.geometry, &b.geometry);
    if g.size != h.size {
        return Some(format!("{:?} voxels, the image {:?}", h.size, g.size));
    }
    if (g.spacing_mm - h.spacing_mm).norm() >= 1e-4 * g.spacing_mm.norm() {
        let s = |v: &nalgebra::Vector3<f64>| format!("{:.5} x {:.5} x {:.5}", v[0], v[1], v[2]);
        return Some(format!(
            "spacing {} mm, the image {} mm",
            s(&h.spacing_mm),
            s(&g.spacing_mm)
        ));
    }
    if (g.origin_mm - h.origin_mm).norm() >= 1e-3 * g.spacing_mm.min() {
        let s = |v: &nalgebra::Point3<f64>| format!("({:.3}, {:.3}, {:.3})", v[0], v[1], v[2]);
        return Some(format!(
            "origin {} mm, the image {} mm",
            s(&h.origin_mm),
            s(&g.origin_mm)
        ));
    }
    if (g.direction - h.direction).norm() >= 1e-4 {
        return Some("other direction cosines than the image's".to_string());
    }
    None
}

/// The image as bone (true) and marrow, binarized when it is grey; with a warning when a
/// binary image is not 0/1.
fn bone_of(image: &Volume, mask: &[bool], args: &MorphArgs) -> Result<(Vec<bool>, Option<String>)> {
    let size = image.geometry.size;
    match binary_kind(image) {
        Binary::ZeroOne => return Ok((image.data.iter().map(|v| *v == 1.0).collect(), None)),
        Binary::ZeroAnd(x) => {
            let warning = format!(
                "{}: values 0 and {x} only: read as a binary image, non-zero = bone (--threshold, --bone and --min-object do not apply)",
                args.image.display()
            );
            return Ok((
                image.data.iter().map(|v| *v != 0.0).collect(),
                Some(warning),
            ));
        }
        Binary::Grey => {}
    }
    let values: Vec<f32> = image.data.iter().copied().collect();
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
    // The threshold is the mask's; the whole image is binarized, so the structure just
    // beyond the mask bounds what lies along its faces.
    let threshold = match threshold {
        Threshold::Otsu => Threshold::Value(morphometry::otsu(&values, mask)),
        t => t,
    };
    let everywhere = vec![true; values.len()];
    let bone = morphometry::binarize(
        &values,
        &everywhere,
        size,
        threshold,
        polarity,
        args.min_object,
    );
    Ok((bone, None))
}

/// Reads the mask and checks it against the image: same grid, not empty.
fn read_mask(path: &std::path::Path, image: &Volume) -> Result<Vec<bool>> {
    let m = io::read_image(path, None)?.volume;
    if let Some(diff) = grid_difference(image, &m) {
        bail!(
            "{}: the mask is on another grid than the image ({diff}); resample it first (srrd resample --like)",
            path.display()
        );
    }
    let mask: Vec<bool> = m.data.iter().map(|v| *v > 0.5).collect();
    if !mask.contains(&true) {
        bail!(
            "{}: the mask is empty (no voxel above 0.5): there is no region to measure",
            path.display()
        );
    }
    Ok(mask)
}

/// Measures the image; every output is computed before the first file is written.
fn morph(args: &MorphArgs) -> Result<()> {
    let method = match (args.method, args.convention) {
        (MethodArg::Paper, ConventionArg::Centre) => {
            bail!("--convention centre needs --method bonej (the paper's 2D method has no balls)")
        }
        (MethodArg::Bonej, ConventionArg::Centre) => morphometry::Method::BoneJCentre,
        _ => args.method.method(),
    };
    if args.method == MethodArg::Paper && (args.map.is_some() || args.sp_map.is_some()) {
        bail!(
            "--map and --sp-map need --method bonej (the paper's 2D method has no thickness map)"
        );
    }
    let image = io::read_image(&args.image, None)?.volume;
    let mask = match &args.mask {
        Some(p) => Some(read_mask(p, &image)?),
        None => None,
    };
    let everywhere;
    let mask_or_all: &[bool] = match &mask {
        Some(m) => m,
        None => {
            everywhere = vec![true; image.data.len()];
            &everywhere
        }
    };
    let size = image.geometry.size;
    let spacing: [f64; 3] = image.geometry.spacing_mm.into();
    let (bone, warning) = bone_of(&image, mask_or_all, args)?;
    if let Some(w) = warning {
        eprintln!("warning: {w}");
    }
    if let Some(p) = &args.mask {
        let marrow_inside = bone.iter().zip(mask_or_all).any(|(b, m)| *m && !*b);
        if !marrow_inside {
            bail!(
                "{}: no marrow inside the mask {} (it is all bone): Tb.Sp is undefined",
                args.image.display(),
                p.display()
            );
        }
    }
    let measured = match (&mask, args.mask_as) {
        (Some(voi), MaskAs::Voi) => morphometry::parameters_voi(&bone, voi, size, spacing, method),
        _ => morphometry::parameters(&bone, mask_or_all, size, spacing, method),
    };
    let (params, maps) = measured.with_context(|| format!("{}", args.image.display()))?;
    // Everything to write, made first: a failure leaves no file half-written.
    let mut outputs: Vec<(PathBuf, Volume)> = Vec::new();
    let as_volume = |values: &[f32]| -> Result<Volume> {
        let data = ndarray::Array3::from_shape_vec(image.geometry.shape_kji(), values.to_vec())?;
        Ok(Volume::from_data(image.geometry.clone(), data)?)
    };
    if let Some(maps) = &maps {
        if let Some(path) = &args.map {
            outputs.push((path.clone(), as_volume(&maps.bone_thickness_mm)?));
        }
        if let Some(path) = &args.sp_map {
            outputs.push((path.clone(), as_volume(&maps.marrow_thickness_mm)?));
        }
    }
    if let Some(dir) = &args.patch_maps {
        let maps = morphometry::patch_maps(
            &bone,
            mask_or_all,
            &image.geometry,
            args.patch,
            args.stride,
            method,
        )
        .with_context(|| format!("{}: per-patch maps", args.image.display()))?;
        for (name, map) in ["bv_tv", "tb_th_mm", "tb_sp_mm", "tb_n_per_mm"]
            .iter()
            .zip(maps)
        {
            outputs.push((dir.join(format!("{name}.nii.gz")), map));
        }
        std::fs::create_dir_all(dir)
            .with_context(|| format!("{}: cannot create folder", dir.display()))?;
    }
    for (path, volume) in &outputs {
        io::write_nifti(path, volume, WriteDtype::F32)?;
    }
    if args.json {
        let mut json = serde_json::to_value(&params)?;
        if let (Some(obj), Some(_)) = (json.as_object_mut(), &args.mask) {
            let reading = match args.mask_as {
                MaskAs::Voi => "voi",
                MaskAs::Count => "count",
            };
            obj.insert("mask_as".to_string(), reading.into());
        }
        println!("{json}");
    } else {
        println!("method      {}", params.method);
        if args.mask.is_some() {
            let reading = match args.mask_as {
                MaskAs::Voi => "voi (Tb.Sp inside the mask, Tb.Th on the image's bone)",
                MaskAs::Count => "count (marrow beyond the mask bounds nothing)",
            };
            println!("mask        {reading}");
        }
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
