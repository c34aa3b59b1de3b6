//! The training options shared by `srrd train-regression` and `srrd eval-regression`.

use crate::regression::inputs::MrScaling;
use crate::regression::train::TrainSettings;

/// Training options of `train-regression` and `eval-regression`.
#[derive(clap::Args, Clone, Debug)]
pub struct TrainArgs {
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Epochs of the MR teacher (stage 1), when it should train longer than the
    /// students (default: --epochs).
    #[arg(long)]
    teacher_epochs: Option<usize>,
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Weight of the projection distance ||p_s - p_t||^2 in the student's loss.
    #[arg(long, default_value_t = 0.001)]
    distill_projection: f64,
    /// Weight of the response term: MSE of the student's parameters against the
    /// teacher's (not in the paper's loss; default 0).
    #[arg(long, default_value_t = 0.0)]
    distill_output: f64,
    /// Backbone stages (0-3) whose feature maps the student matches by L1, with their
    /// weights: `2:0.01,3:0.01`; `none` for no feature term.
    #[arg(long, default_value = "2:0.01,3:0.01")]
    distill_features: String,
    /// How the teacher's MR patches are scaled: percentile (1st-99th inside the mask to
    /// 0-1, as the ground truth's binarization), segmented (the ground truth's own
    /// segmentation of the patch) or standardized (mean 0, SD 1; models before
    /// 2026-11-30).
    #[arg(long, value_enum, default_value = "percentile")]
    mr_scaling: MrScalingArg,
    /// Train on at most N patches of each training knee (evenly spaced); test patches
    /// are never thinned. The scarce-data experiment.
    #[arg(long)]
    train_patches: Option<usize>,
}

impl TrainArgs {
    /// The training settings these options ask for.
    pub fn settings(&self) -> anyhow::Result<TrainSettings> {
        let mut w_features = Vec::new();
        if self.distill_features.trim() != "none" {
            for item in self.distill_features.split(',') {
                let parsed = item.split_once(':').and_then(|(b, w)| {
                    Some((
                        b.trim().parse::<usize>().ok()?,
                        w.trim().parse::<f64>().ok()?,
                    ))
                });
                match parsed {
                    Some((b, w)) if b <= 3 && w >= 0.0 && w.is_finite() => w_features.push((b, w)),
                    _ => anyhow::bail!(
                        "--distill-features {:?}: expected STAGE:WEIGHT pairs with stages 0-3, e.g. 2:0.01,3:0.01, or none",
                        self.distill_features
                    ),
                }
            }
        }
        if !(self.distill_output >= 0.0 && self.distill_output.is_finite()) {
            anyhow::bail!(
                "--distill-output {}: expected a weight >= 0",
                self.distill_output
            );
        }
        if !(self.distill_projection >= 0.0 && self.distill_projection.is_finite()) {
            anyhow::bail!(
                "--distill-projection {}: expected a weight >= 0",
                self.distill_projection
            );
        }
        if self.train_patches == Some(0) {
            anyhow::bail!("--train-patches 0: expected at least 1 patch per knee");
        }
        let mr_scaling = match self.mr_scaling {
            MrScalingArg::Percentile => MrScaling::Percentile,
            MrScalingArg::Segmented => MrScaling::Segmented,
            MrScalingArg::Standardized => MrScaling::Standardized,
        };
        Ok(TrainSettings {
            epochs: self.epochs,
            mr_scaling,
            teacher_epochs: self.teacher_epochs,
            batch: self.batch,
            w_projection: self.distill_projection,
            w_output: self.distill_output,
            w_features,
            train_patches_per_subject: self.train_patches,
            ..Default::default()
        })
    }
}

/// `--mr-scaling`: how the teacher's MR patches are scaled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum MrScalingArg {
    Percentile,
    Segmented,
    Standardized,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        training: TrainArgs,
    }

    #[test]
    fn default_options_are_the_default_settings() {
        let cli = Cli::parse_from(["x"]);
        let s = cli.training.settings().expect("settings");
        let d = TrainSettings::default();
        assert_eq!(
            (s.epochs, s.batch, s.teacher_epochs),
            (d.epochs, d.batch, None)
        );
        assert_eq!(s.w_projection, d.w_projection);
        assert_eq!(s.w_features, d.w_features);
        assert_eq!((s.w_output, s.train_patches_per_subject), (0.0, None));
        let cli = Cli::parse_from([
            "x",
            "--distill-features",
            "1:0.5, 3:0.002",
            "--teacher-epochs",
            "9",
        ]);
        let s = cli.training.settings().expect("settings");
        assert_eq!(s.w_features, vec![(1, 0.5), (3, 0.002)]);
        assert_eq!(s.teacher_epochs, Some(9));
        let none = Cli::parse_from([
            "x",
            "--distill-features",
            "none",
            "--distill-projection",
            "0",
        ]);
        assert!(!none.training.settings().expect("settings").distills());
        for bad in ["4:0.1", "2", "2:-1", "a:b"] {
            let cli = Cli::parse_from(["x", "--distill-features", bad]);
            assert!(cli.training.settings().is_err(), "{bad}");
        }
    }
}
