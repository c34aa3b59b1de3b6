//! Statistics for evaluating predictions against reference values: agreement measures
//! (ICC(A,1) with confidence interval, Pearson r, mean/SD), ridge regression with
//! cross-validated penalty, ROC analysis, and the figures (plotters: scatter, lines, ROC,
//! Bland-Altman, box plots) with the colour maps they share with the viewer.
//! Owns everything numeric about model evaluation; nothing here knows about images or DICOM.

pub mod agreement;
pub mod colour;
pub mod plot;
pub mod ridge;
pub mod roc;

pub use agreement::{Icc, f_cdf, f_quantile, icc_a1, icc_a1_k, mean_sd, pearson};
pub use colour::viridis_rgb;
pub use plot::{
    BlandAltman, BoxPanel, RocCurve, Series, agreement_label, bland_altman_png, box_panels_png,
    lines_png, roc_label, roc_png, scatter_png, with_unit,
};
pub use ridge::{RidgeRegression, Standardizer, fit_ridge_cv};
pub use roc::{
    BinaryMetrics, DeLong, DeLongTest, auc, binary_metrics, delong, delong_paired, macro_metrics,
    normal_cdf, roc_points,
};
