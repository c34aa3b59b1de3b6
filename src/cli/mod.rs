//! The `srrd` command line (clap). Subcommands print one JSON object on stdout with
//! `--json`; errors are one line on stderr and exit code 1.

mod analyze;
mod batch;
mod cohort_report;
mod evaluate;
mod info;
mod morph;
pub mod phantom;
mod register;
mod regression;
pub mod robustness;
mod roc;
mod study;
pub mod synthesis;
mod tre;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// SRRD workstation: knee CT/MR subchondral trabecular bone analysis (research use only).
#[derive(Debug, Parser)]
#[command(name = "srrd", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the workstation (the demo volume when no image is given).
    View {
        /// CT image: .nii/.nii.gz, DICOM file or DICOM folder.
        #[arg(long)]
        ct: Option<PathBuf>,
        /// MR image: .nii/.nii.gz, DICOM file or DICOM folder.
        #[arg(long)]
        mr: Option<PathBuf>,
        /// Run the SRRD analysis as soon as the images are loaded.
        #[arg(long)]
        analyze: bool,
        /// Restore a saved session (its images, layers, windows, landmarks and views).
        #[arg(long, conflicts_with_all = ["ct", "mr"])]
        session: Option<PathBuf>,
        /// Save a screenshot of the window as PNG once the images are shown, then quit
        /// (for smoke tests and documentation).
        #[arg(long)]
        screenshot: Option<PathBuf>,
        /// Read a study case by case: a manifest CSV (subject,ct[,mr,...]) or a folder of
        /// subjects. Each case's landmarks, review and corrected start are saved as you
        /// go, and reopening resumes where you left off.
        #[arg(long, conflicts_with_all = ["ct", "mr", "session"])]
        worklist: Option<PathBuf>,
        /// With --worklist: the folder your work goes into (default: reads/$USER beside
        /// the list). Two annotators use two folders.
        #[arg(long, requires = "worklist")]
        reader: Option<PathBuf>,
    },
    /// Size, spacing, origin, direction (LPS), pixel type and range of an image.
    Info {
        /// .nii/.nii.gz file, DICOM file or DICOM folder.
        path: PathBuf,
        /// In a DICOM folder with several series: the series to read (an id from
        /// `srrd series`: a SeriesInstanceUID, or UID#k for a part of a split series).
        #[arg(long)]
        series: Option<String>,
        /// Load a series with missing slices or uneven spacing whole, resampled onto a
        /// regular grid (default: its largest evenly spaced block, with a warning).
        #[arg(long)]
        accept_uneven: bool,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// List the DICOM series in a folder, largest first; a series that mixes orientations,
    /// sizes or repeated positions is listed as its parts (UID#1, UID#2, ...).
    Series {
        /// Folder to scan (recursively).
        folder: PathBuf,
        /// Print JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Convert an image (NIfTI or DICOM) to NIfTI (.nii or .nii.gz), float32 by default.
    Convert {
        /// Input image.
        input: PathBuf,
        /// Output .nii or .nii.gz.
        output: PathBuf,
        /// In a DICOM folder with several series: the series to read (an id from
        /// `srrd series`).
        #[arg(long)]
        series: Option<String>,
        /// Load a series with missing slices or uneven spacing whole, resampled onto a
        /// regular grid.
        #[arg(long)]
        accept_uneven: bool,
        /// Voxel type written: float32, int16 or uint8.
        #[arg(long, default_value = "float32")]
        dtype: String,
    },
    /// Trabecular parameters (BV/TV, Tb.Th, Tb.Sp, Tb.N) of a binary or grey image.
    Morph {
        /// Binary (0/1) image, or grey image to binarize.
        image: PathBuf,
        /// Region to measure (non-zero voxels), on the image's grid.
        #[arg(long)]
        mask: Option<PathBuf>,
        /// bonej (3D local thickness, default) or paper (the authors' 2D skeleton method).
        #[arg(long, default_value = "bonej")]
        method: String,
        /// For grey images: local (mean of 11x11 block minus 1, per slice), otsu, or a value.
        #[arg(long, default_value = "local", allow_negative_numbers = true)]
        threshold: String,
        /// For grey images: is bone bright (CT) or dark (MR)?
        #[arg(long, default_value = "bright")]
        bone: String,
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
    },
    /// ROC AUC with DeLong's 95% CI per score column of a CSV (`label,score1,...`), and
    /// DeLong's paired test of each score against the first.
    Roc {
        /// CSV with a header: label (1/0), then one column per classifier's score.
        csv: PathBuf,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Target registration error between landmarks of the fixed and moving images.
    Tre {
        /// Landmarks in the fixed image (.json, .mrk.json or .fcsv; LPS or Slicer's RAS).
        #[arg(long)]
        fixed: PathBuf,
        /// Landmarks in the moving image; pairs match by label.
        #[arg(long)]
        moving: PathBuf,
        /// Transform fixed -> moving (ITK .tfm or displacement field .nii.gz); identity if absent.
        #[arg(long)]
        transform: Option<PathBuf>,
        /// The two files are two annotators' landmarks on the same image: report the
        /// inter-observer distance per landmark (mean, SD, max) and the landmarks only one
        /// of them placed. Two readers' worklist folders (`srrd view --worklist --reader`)
        /// give the same per landmark over every case both read, on the CT and the MR.
        #[arg(long, conflicts_with = "transform")]
        inter_observer: bool,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Register an MR (moving) to a CT (fixed): coarse rigid, mutual information.
    Register {
        /// The CT (fixed image).
        #[arg(long)]
        fixed: PathBuf,
        /// The MR (moving image).
        #[arg(long)]
        moving: PathBuf,
        /// Output folder: coarse.tfm (CT -> MR, ITK), crMR.nii.gz (MR on the CT grid).
        #[arg(long)]
        out: PathBuf,
        /// coarse (rigid); refined and all come with bone segmentation.
        #[arg(long, default_value = "coarse")]
        stage: String,
        /// Coarse metric: mi (Mattes mutual information), ncc or ms.
        #[arg(long, default_value = "mi")]
        metric: String,
        /// Refined (per-bone) metric: mi on crMR; ncc once the moving image is an sCT.
        #[arg(long, default_value = "mi")]
        refined_metric: String,
        /// Synthesize an sCT from crMR with this model folder ("demo": assets/synthesis)
        /// and run the refined step on it (sCT.nii.gz is written; --refined-metric mi does
        /// best with the demo sCT).
        #[arg(long)]
        synthesis: Option<PathBuf>,
        /// Coarse model: rigid (6 parameters), or affine (rigid, then 12 parameters).
        #[arg(long, default_value = "rigid")]
        model: String,
        /// Start the coarse registration from the rigid fit of paired landmarks (same
        /// labels in both files, 3 or more, not on one line): FIXED MOVING.
        #[arg(long, num_args = 2, value_names = ["FIXED", "MOVING"], conflicts_with = "init")]
        init_landmarks: Option<Vec<PathBuf>>,
        /// Start the coarse registration from this rigid transform (ITK .tfm, fixed ->
        /// moving), e.g. a corrected one.
        #[arg(long)]
        init: Option<PathBuf>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// TRE of coarse and refined registration over a phantom cohort (the paper's Table 2).
    EvalRegistration {
        /// Cohort folder (from `srrd cohort`).
        #[arg(long)]
        cohort: PathBuf,
        /// Also write the table (Markdown) here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only the first N subjects.
        #[arg(long)]
        limit: Option<usize>,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// CT-only analysis of a cohort's knees under every acquisition of the robustness
    /// matrix (pixels 0.3-1 mm x slices 0.5-3 mm, left, bilateral, turned leg, feet
    /// first, short scan, 4 mm slices), against each knee's reference acquisition.
    EvalRobustness {
        /// Cohort folder (from `srrd cohort`): its knees' seeds and grades are scanned
        /// again (use knees the models were not trained on).
        #[arg(long)]
        cohort: PathBuf,
        /// Output folder (robustness.md, robustness.json).
        #[arg(long)]
        out: PathBuf,
        /// Models folder (default: the demo weights).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Only the first N knees.
        #[arg(long)]
        limit: Option<usize>,
        /// The grid's corners only (pixels 0.5/1.0 x slices 0.5/3) and the others.
        #[arg(long)]
        quick: bool,
    },
    /// Write a synthetic knee (CT, MR, labels, landmarks, true transforms, truth.json).
    Phantom {
        /// Output folder.
        #[arg(long)]
        out: PathBuf,
        /// Random seed: the same seed gives the same bytes.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// normal (KL 0), mild (KL 1-2) or advanced (KL 3-4).
        #[arg(long, default_value = "normal")]
        grade: String,
        /// paper (the paper's image sizes) or small (same physics, fewer voxels).
        #[arg(long, default_value = "paper")]
        preset: String,
        /// CT point-spread function SD in mm, in-plane (the reconstruction kernel: 0.25
        /// sharp to 0.8 soft; default the preset's 0.4).
        #[arg(long)]
        ct_psf_mm: Option<f64>,
        #[command(flatten)]
        acquisition: phantom::AcquisitionArgs,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write N synthetic knees with the paper's group mix (30/25/25 per 80) and a manifest.
    Cohort {
        /// Output folder (sub-000, sub-001, ..., manifest.json).
        #[arg(long)]
        out: PathBuf,
        /// Number of subjects.
        #[arg(long, default_value_t = 80)]
        n: usize,
        /// Cohort seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// paper or small.
        #[arg(long, default_value = "small")]
        preset: String,
        /// CT point-spread function, SD in mm along every axis (default: the preset's,
        /// 0.4 / 0.4 / 0.45 mm): larger blurs the trabeculae more.
        #[arg(long)]
        ct_psf_mm: Option<f64>,
        /// CT marrow HU varies between knees and smoothly within each bone with this SD
        /// (red vs yellow marrow; default 0: a fixed -20 HU).
        #[arg(long, default_value_t = 0.0)]
        ct_marrow_hu_sd: f32,
        /// CT trabecular tissue HU varies between knees with this SD (mineralization;
        /// default 0: a fixed 1150 HU).
        #[arg(long, default_value_t = 0.0)]
        ct_bone_hu_sd: f32,
        /// clinical: draw each knee's acquisition as clinics scan (see the README); of
        /// the acquisition options below only --mr-protocol then applies (every knee's MR).
        #[arg(long)]
        acquisitions: Option<String>,
        #[command(flatten)]
        acquisition: phantom::AcquisitionArgs,
        /// Print one JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Resample an image onto another image's grid (world coordinates kept), as
    /// SimpleITK's Resample with an identity transform.
    /// crMR and CT of every subject of a phantom cohort (coarse registration), the
    /// synthesis networks' training data.
    SynthData {
        #[arg(long)]
        cohort: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Trains the HED-style edge network on a synthesis store (tissue boundaries).
    TrainEdges {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// small (CPU) or paper.
        #[arg(long, default_value = "small")]
        config: String,
        /// Training subjects: "A..B", "A,B,C" or "all".
        #[arg(long, default_value = "all")]
        subjects: String,
        #[arg(long, default_value_t = 400)]
        iterations: usize,
        #[arg(long, default_value_t = 8)]
        batch: i64,
    },
    /// Trains SPSNet (or the plain CycleGAN baseline) on a synthesis store.
    TrainSynthesis {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// spsnet or cyclegan.
        #[arg(long, default_value = "spsnet")]
        method: String,
        /// small (CPU) or paper (ngf 64, 9 blocks; for a GPU).
        #[arg(long, default_value = "small")]
        config: String,
        /// Training subjects: "A..B", "A,B,C" or "all".
        #[arg(long, default_value = "all")]
        subjects: String,
        #[arg(long, default_value_t = 2000)]
        iterations: usize,
        #[arg(long, default_value_t = 4)]
        batch: i64,
        /// A trained edge network (folder of `srrd train-edges`); without it, the
        /// classical edge map.
        #[arg(long)]
        hed: Option<PathBuf>,
        /// Continue from the checkpoint in --out.
        #[arg(long)]
        resume: bool,
    },
    /// sCT of one knee: from a crMR already on the CT grid (--crmr, --out FILE), or from
    /// a CT and an MR (coarse registration first; --out DIR gets crmr and sct).
    Synthesize {
        #[arg(long)]
        crmr: Option<PathBuf>,
        #[arg(long)]
        ct: Option<PathBuf>,
        #[arg(long)]
        mr: Option<PathBuf>,
        /// Model folder (default: the demo SPSNet in assets/synthesis).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Synthesis on held-out phantoms (the paper's Table 2, top half): structure
    /// preservation against the CT in the MR's pose, and refined-registration TRE.
    EvalSynthesis {
        /// The synthesis store (`srrd synth-data`).
        #[arg(long)]
        data: PathBuf,
        /// The phantom cohort the store came from (landmarks, MR grids).
        #[arg(long)]
        cohort: PathBuf,
        /// Models as NAME=DIR, comma-separated (e.g. spsnet=DIR,cyclegan=DIR).
        #[arg(long)]
        models: String,
        /// Held-out subjects: "A..B", "A,B,C" or "all".
        #[arg(long)]
        subjects: String,
        #[arg(long)]
        out: PathBuf,
        /// Write the held-out metrics into each model's model.json.
        #[arg(long)]
        record: bool,
    },
    /// Paired CT/MR patches of a phantom cohort, registered and measured (the regression
    /// stage's training data).
    Patches {
        #[arg(long)]
        cohort: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Patches per subject (a seeded subset of the lattice).
        #[arg(long, default_value_t = 160)]
        per_subject: usize,
        /// Ground-truth morphometry on the MR patches: bonej or paper.
        #[arg(long, default_value = "bonej")]
        method: String,
        /// The CT grid patches are cut from, in mm (i,j,k, e.g. 0.977,0.977,1.0): every CT
        /// is resampled to it first, so patches are the same size in mm whatever the
        /// acquisition (default: the first subject's CT spacing).
        #[arg(long, value_delimiter = ',')]
        ct_spacing_mm: Option<Vec<f64>>,
        /// Only knees whose MR used these protocols (comma-separated: sagittal, thick2d,
        /// coronal, axial; default: all). The ground truth's apparent parameters depend on
        /// the MR protocol, so a store teaches one target only with one kind of MR.
        #[arg(long, value_delimiter = ',')]
        mr_protocols: Option<Vec<String>>,
        #[arg(long)]
        limit: Option<usize>,
        #[arg(long)]
        json: bool,
    },
    /// Trains the MR teacher, the distilled CT student and the plain CNN on a patch store.
    TrainRegression {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// small (CPU), small-hr (small with a teacher that sees the MR at full resolution
        /// first) or paper (ResNet-50, for a GPU).
        #[arg(long, default_value = "small")]
        config: String,
        #[command(flatten)]
        training: regression::TrainArgs,
        /// Continue from the checkpoints in --out.
        #[arg(long)]
        resume: bool,
        #[arg(long)]
        json: bool,
    },
    /// Cross-validated regression (the paper's Table 3) on a patch store.
    EvalRegression {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        #[arg(long, default_value = "small")]
        config: String,
        #[command(flatten)]
        training: regression::TrainArgs,
        /// Evaluate the networks of this model folder (`demo`: the demo weights) on the
        /// store's knees they were not trained on, instead of cross-validating: no
        /// training; --folds and the training options do not apply.
        #[arg(long)]
        models: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// CT-only trabecular parameter maps of a knee CT with the student network.
    Predict {
        #[arg(long)]
        ct: PathBuf,
        /// Model folder (default: the demo weights in assets/regression).
        #[arg(long)]
        model: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// Lattice step between patch centres (CT voxels).
        #[arg(long, default_value_t = 4)]
        stride: usize,
        #[arg(long)]
        json: bool,
    },
    /// KOA classification from per-subregion features (the paper's Table 4), on the
    /// out-of-fold predictions of `srrd eval-regression`.
    EvalDiagnosis {
        /// The patch store the regression was evaluated on.
        #[arg(long)]
        data: PathBuf,
        /// The output folder of `srrd eval-regression` (its oof.csv).
        #[arg(long)]
        regression: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        #[arg(long)]
        json: bool,
    },
    /// The whole method for one knee: CT (and MR) in, per-subregion trabecular parameters,
    /// maps and a KOA score out. With no --ct, the demo knee.
    Analyze {
        #[arg(long)]
        ct: Option<PathBuf>,
        #[arg(long)]
        mr: Option<PathBuf>,
        /// Models folder with regression/ and diagnosis/ (default: the demo weights).
        #[arg(long)]
        models: Option<PathBuf>,
        /// Which knee: left, right, or both (one report per knee, in out/left and
        /// out/right). Needed when the CT holds both knees.
        #[arg(long)]
        side: Option<String>,
        /// A study instead of one CT: a manifest CSV (subject,ct[,mr,side,label]) or a
        /// folder of subjects; each knee goes to OUT/<subject>, models loaded once.
        #[arg(long, conflicts_with_all = ["ct", "mr", "side"])]
        manifest: Option<PathBuf>,
        /// With --manifest: only these subjects (comma-separated ids).
        #[arg(long, requires = "manifest")]
        subjects: Option<String>,
        /// Worker threads for rayon and libtorch (default: all cores); set it to a job's
        /// CPUs so jobs sharing a node do not oversubscribe it.
        #[arg(long)]
        threads: Option<usize>,
        /// In a DICOM folder holding several series: the CT series to read (an id from
        /// `srrd series`).
        #[arg(long, conflicts_with = "manifest")]
        series: Option<String>,
        /// A CT series with missing slices or uneven spacing: use it whole, resampled onto
        /// a regular grid (default: its largest evenly spaced block).
        #[arg(long, conflicts_with = "manifest")]
        accept_uneven: bool,
        /// Also write the results as DICOM into this folder: a Segmentation of the bones
        /// and subregions, the four parameter maps as Parametric Maps, and a TID 1500
        /// Measurement Report (with --side both: one subfolder per knee).
        #[arg(long, conflicts_with = "manifest")]
        dicom_out: Option<PathBuf>,
        /// Write into a --dicom-out folder that exists and is not empty.
        #[arg(long, requires = "dicom_out")]
        force: bool,
        /// Start the MR's registration from this rigid transform (fixed -> moving, ITK
        /// .tfm): a corrected start from the viewer or `srrd register --init-landmarks`.
        #[arg(long, conflicts_with = "manifest")]
        init: Option<PathBuf>,
        /// With --manifest: a reader's worklist folder (`srrd view --worklist`); each
        /// knee's registration starts from its corrected start when it has one.
        #[arg(long, requires = "manifest")]
        reviews: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The cohort table (CSV, one row per knee) and report (HTML) from the reports of
    /// `srrd analyze --manifest` (or the workflow): parameters, P(KOA), quality checks,
    /// failures with their logs, ROC with its DeLong CI when the manifest has labels.
    CohortReport {
        /// The study's manifest CSV or folder of subjects.
        #[arg(long)]
        manifest: PathBuf,
        /// Where the knees' folders are (OUT of `srrd analyze --manifest`).
        #[arg(long)]
        results: PathBuf,
        /// Output folder (cohort.csv, cohort.html).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Checks a study manifest (CSV or folder) and lists its knees: wrong columns,
    /// duplicated ids and bad sides are refused with the row; missing files are listed.
    Manifest {
        /// The manifest CSV or folder of subjects.
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Fits the demo KOA classifier on the distilled student's out-of-fold features.
    TrainClassifier {
        #[arg(long)]
        data: PathBuf,
        #[arg(long)]
        regression: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The whole study on a phantom cohort (registration, synthesis, regression and
    /// diagnosis tables beside the paper's) in one Markdown report.
    Study {
        #[arg(long)]
        cohort: PathBuf,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 5)]
        folds: usize,
        #[arg(long, default_value_t = 4)]
        epochs: usize,
        /// Epochs of the MR teacher when it should train longer (default: --epochs).
        #[arg(long)]
        teacher_epochs: Option<usize>,
        #[arg(long, default_value_t = 32)]
        batch: usize,
        /// Knees on which the synthesis model is evaluated ("A..B", "A,B,C" or "all"):
        /// leave out those it was trained on (the demo's: knees 0..24 of cohort32).
        #[arg(long, default_value = "all")]
        synthesis_subjects: String,
        /// Synthesis model folder (default: the demo SPSNet).
        #[arg(long)]
        synthesis: Option<PathBuf>,
    },
    Resample {
        /// Image to resample.
        input: PathBuf,
        /// Image whose grid (size, spacing, origin, direction) the output takes.
        #[arg(long)]
        like: PathBuf,
        /// Output .nii or .nii.gz (float32).
        output: PathBuf,
        /// linear or nearest.
        #[arg(long, default_value = "linear")]
        interpolation: String,
        /// ITK transform file (.tfm/.txt), or a displacement field (.nii/.nii.gz), mapping
        /// output (fixed) points to input (moving) points.
        #[arg(long)]
        transform: Option<PathBuf>,
        /// Value outside the input.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        fill: f32,
    },
}

/// Runs the command line; the binary's `main` reports the error.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        None => crate::app::run(crate::app::RunOptions::default()),
        Some(Command::View {
            ct,
            mr,
            analyze,
            session,
            screenshot,
            worklist,
            reader,
        }) => crate::app::run(crate::app::RunOptions {
            ct,
            mr,
            analyze,
            session,
            screenshot,
            worklist: worklist.map(|list| {
                let reader = reader.unwrap_or_else(|| crate::app::default_reader_dir(&list));
                (list, reader)
            }),
        }),
        Some(Command::Info {
            path,
            series,
            accept_uneven,
            json,
        }) => info::info(&path, series.as_deref(), accept_uneven, json),
        Some(Command::Series { folder, json }) => info::series(&folder, json),
        Some(Command::Roc { csv, json }) => roc::roc(&csv, json),
        Some(Command::Tre {
            fixed,
            moving,
            transform,
            inter_observer,
            json,
        }) => {
            if inter_observer {
                tre::inter_observer(&fixed, &moving, json)
            } else {
                tre::tre(&fixed, &moving, transform.as_deref(), json)
            }
        }
        Some(Command::Morph {
            image,
            mask,
            method,
            threshold,
            bone,
            min_object,
            map,
            patch_maps,
            patch,
            stride,
            json,
        }) => morph::morph(morph::MorphArgs {
            image: &image,
            mask: mask.as_deref(),
            method: &method,
            threshold: &threshold,
            bone: &bone,
            min_object_voxels: min_object,
            map: map.as_deref(),
            patch_maps: patch_maps.as_deref(),
            patch,
            stride,
            json,
        }),
        Some(Command::Register {
            fixed,
            moving,
            out,
            stage,
            metric,
            refined_metric,
            synthesis,
            model,
            init_landmarks,
            init,
            json,
        }) => register::register(register::RegisterArgs {
            init_landmarks: init_landmarks.as_deref(),
            init: init.as_deref(),
            synthesis: synthesis.as_deref(),
            fixed: &fixed,
            moving: &moving,
            out: &out,
            stage: &stage,
            metric: &metric,
            refined_metric: &refined_metric,
            affine: match model.as_str() {
                "rigid" => false,
                "affine" => true,
                o => anyhow::bail!("--model {o}: use rigid or affine"),
            },
            json,
        }),
        Some(Command::EvalRobustness {
            cohort,
            out,
            models,
            limit,
            quick,
        }) => robustness::eval_robustness(&cohort, &out, models.as_deref(), limit, quick),
        Some(Command::EvalRegistration {
            cohort,
            out,
            limit,
            json,
        }) => evaluate::eval_registration(&cohort, out.as_deref(), limit, json),
        Some(Command::Phantom {
            out,
            seed,
            grade,
            preset,
            ct_psf_mm,
            acquisition,
            json,
        }) => phantom::phantom(
            &out,
            seed,
            &grade,
            &preset,
            &acquisition.acquisition(ct_psf_mm)?,
            json,
        ),
        Some(Command::Cohort {
            out,
            n,
            seed,
            preset,
            ct_psf_mm,
            ct_marrow_hu_sd,
            ct_bone_hu_sd,
            acquisitions,
            acquisition,
            json,
        }) => {
            let ct = crate::phantom::CohortCt {
                psf_sd_mm: ct_psf_mm,
                marrow_hu_sd: ct_marrow_hu_sd,
                bone_hu_sd: ct_bone_hu_sd,
            };
            // The PSF option is the cohort's CT change (kept in CohortCt, as before).
            let fixed = acquisition.acquisition(None)?;
            let plan = match acquisitions.as_deref() {
                Some("clinical") => {
                    let mut other = fixed.clone();
                    other.mr = Default::default();
                    if !other.is_default() {
                        anyhow::bail!(
                            "--acquisitions clinical draws the CT of every knee: of the acquisition options only --mr-protocol applies"
                        );
                    }
                    crate::phantom::Acquisitions::Clinical(
                        acquisition.mr_protocol.is_some().then_some(fixed.mr),
                    )
                }
                Some(o) => anyhow::bail!("--acquisitions {o}: the only drawn set is 'clinical'"),
                None if fixed.is_default() => crate::phantom::Acquisitions::Preset,
                None => crate::phantom::Acquisitions::Fixed(fixed),
            };
            phantom::cohort(&out, n, seed, &preset, ct, &plan, json)
        }
        Some(Command::Patches {
            cohort,
            out,
            per_subject,
            method,
            ct_spacing_mm,
            mr_protocols,
            limit,
            json,
        }) => {
            let spacing = spacing_arg("--ct-spacing-mm", ct_spacing_mm.as_deref())?;
            regression::patches(
                &cohort,
                &out,
                per_subject,
                &method,
                spacing,
                mr_protocols,
                limit,
                json,
            )
        }
        Some(Command::TrainRegression {
            data,
            out,
            config,
            training,
            resume,
            json,
        }) => regression::train(&data, &out, &config, &training.settings()?, resume, json),
        Some(Command::EvalRegression {
            data,
            out,
            folds,
            config,
            training,
            models,
            json,
        }) => match models {
            Some(models) => regression::evaluate_held_out(&data, &models, &out, json),
            None => regression::evaluate(&data, &out, folds, &config, &training.settings()?, json),
        },
        Some(Command::Predict {
            ct,
            model,
            out,
            stride,
            json,
        }) => regression::predict(&ct, model.as_deref(), &out, stride, json),
        Some(Command::EvalDiagnosis {
            data,
            regression,
            out,
            folds,
            json,
        }) => regression::eval_diagnosis(&data, &regression, &out, folds, json),
        Some(Command::CohortReport {
            manifest,
            results,
            out,
            json,
        }) => cohort_report::cohort_report(&manifest, &results, &out, json),
        Some(Command::Manifest { path, json }) => cohort_report::check_manifest(&path, json),
        Some(Command::Analyze {
            ct,
            mr,
            models,
            side,
            manifest,
            subjects,
            threads,
            series,
            accept_uneven,
            dicom_out,
            force,
            init,
            reviews,
            out,
            json,
        }) => {
            if let Some(t) = threads {
                batch::set_threads(t)?;
            }
            if let Some(manifest) = manifest {
                return batch::analyze_manifest(
                    &manifest,
                    subjects.as_deref(),
                    models.as_deref(),
                    reviews.as_deref(),
                    &out,
                    json,
                );
            }
            analyze::analyze(&analyze::AnalyzeArgs {
                ct: ct.as_deref(),
                mr: mr.as_deref(),
                models: models.as_deref(),
                side: side.as_deref(),
                series: series.as_deref(),
                accept_uneven,
                dicom_out: dicom_out.as_deref(),
                force,
                init: init.as_deref(),
                out: &out,
                json,
            })
        }
        Some(Command::TrainClassifier {
            data,
            regression,
            out,
        }) => regression::train_classifier(&data, &regression, &out),
        Some(Command::SynthData {
            cohort,
            out,
            limit,
            json,
        }) => synthesis::synth_data(&cohort, &out, limit, json),
        Some(Command::TrainEdges {
            data,
            out,
            config,
            subjects,
            iterations,
            batch,
        }) => synthesis::train_edges(&data, &out, &config, &subjects, iterations, batch),
        Some(Command::TrainSynthesis {
            data,
            out,
            method,
            config,
            subjects,
            iterations,
            batch,
            hed,
            resume,
        }) => synthesis::train_synthesis(synthesis::TrainArgs {
            data: &data,
            out: &out,
            method: &method,
            config: &config,
            subjects: &subjects,
            iterations,
            batch,
            hed: hed.as_deref(),
            resume,
        }),
        Some(Command::Synthesize {
            crmr,
            ct,
            mr,
            model,
            out,
        }) => synthesis::synthesize(
            crmr.as_deref(),
            ct.as_deref(),
            mr.as_deref(),
            model.as_deref(),
            &out,
        ),
        Some(Command::EvalSynthesis {
            data,
            cohort,
            models,
            subjects,
            out,
            record,
        }) => synthesis::eval_synthesis(&data, &cohort, &models, &subjects, &out, record),
        Some(Command::Study {
            cohort,
            out,
            folds,
            epochs,
            teacher_epochs,
            batch,
            synthesis_subjects,
            synthesis,
        }) => study::study(
            &cohort,
            &out,
            &study::StudySettings {
                folds,
                epochs,
                teacher_epochs,
                batch,
                synthesis_subjects,
                synthesis,
            },
        ),
        Some(Command::Convert {
            input,
            output,
            series,
            accept_uneven,
            dtype,
        }) => info::convert(&input, &output, series.as_deref(), accept_uneven, &dtype),
        Some(Command::Resample {
            input,
            like,
            output,
            interpolation,
            transform,
            fill,
        }) => info::resample(
            &input,
            &like,
            &output,
            &interpolation,
            transform.as_deref(),
            fill,
        ),
    }
}

/// Parses "a,b,c" into three positive integers.
fn parse_triple(s: &str) -> Result<[usize; 3], String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("'{t}' is not a whole number"))
        })
        .collect::<Result<_, _>>()?;
    match v.as_slice() {
        [a, b, c] if *a > 0 && *b > 0 && *c > 0 => Ok([*a, *b, *c]),
        _ => Err(format!("'{s}': give three positive numbers, e.g. 48,48,16")),
    }
}

/// A spacing given as three positive numbers of mm.
fn spacing_arg(flag: &str, v: Option<&[f64]>) -> anyhow::Result<Option<[f64; 3]>> {
    match v {
        None => Ok(None),
        Some(&[a, b, c]) if [a, b, c].iter().all(|x| x.is_finite() && *x > 0.0) => {
            Ok(Some([a, b, c]))
        }
        Some(other) => anyhow::bail!(
            "{flag} {other:?}: expected three positive spacings in mm, as 0.977,0.977,1.0"
        ),
    }
}
