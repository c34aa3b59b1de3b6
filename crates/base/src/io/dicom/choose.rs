//! Which series of a folder to read. PACS exports put a study's series in one folder (the
//! CT in a bone and a soft-tissue kernel, a scout, the MR, reformats): a series named by
//! the user (its UID, a part `UID#k`, or its number in the list) is read; otherwise the
//! best series of the wanted modality, by image type (no localizer, original before
//! derived), the CT's reconstruction kernel (bone before soft tissue) and size, and the
//! choice is said in a warning that names the others and how to pick one.

use std::cmp::Reverse;
use std::path::Path;

use super::series::{Group, SeriesInfo};
use crate::error::{Error, Result};

/// How a CT series was reconstructed, from its kernel or else its description.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum KernelClass {
    /// A sharp (bone) kernel: what trabecular bone is measured on.
    Bone,
    /// Not known.
    Unknown,
    /// A smooth (soft-tissue) kernel.
    Soft,
}

fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

/// The class of one text (a kernel name or a description), if it says.
fn class_of(text: &str) -> Option<KernelClass> {
    for w in words(text) {
        match w.as_str() {
            "bone" | "boneplus" | "sharp" | "detail" | "edge" | "knochen" | "osseous" => {
                return Some(KernelClass::Bone);
            }
            "soft" | "standard" | "std" | "stnd" | "smooth" | "weichteil" | "tissue" => {
                return Some(KernelClass::Soft);
            }
            _ => {}
        }
        // Siemens kernels: B30f, Br40d, Bv36, Hr64, Qr40, Ur77: the number is the sharpness.
        let letters: String = w.chars().take_while(|c| c.is_ascii_alphabetic()).collect();
        let digits: String = w[letters.len()..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        if ["b", "br", "bl", "bv", "hr", "qr", "ur"].contains(&letters.as_str())
            && digits.len() == 2
            && let Ok(n) = digits.parse::<u32>()
        {
            return Some(if n >= 50 {
                KernelClass::Bone
            } else {
                KernelClass::Soft
            });
        }
    }
    None
}

/// The kernel class of a series: its ConvolutionKernel, else its description.
pub fn kernel_class(s: &SeriesInfo) -> KernelClass {
    class_of(&s.kernel)
        .or_else(|| class_of(&s.description))
        .unwrap_or(KernelClass::Unknown)
}

/// Whether a series is a scout (ImageType LOCALIZER, or a description saying so) or too
/// short to be a volume (fewer than 3 images).
pub fn is_localizer(s: &SeriesInfo) -> bool {
    s.image_type.split('\\').any(|v| v.trim() == "LOCALIZER")
        || words(&s.description).iter().any(|w| {
            matches!(
                w.as_str(),
                "scout" | "localizer" | "localiser" | "topogram" | "surview" | "survey" | "loc"
            )
        })
        || s.slices < 3
}

fn is_derived(s: &SeriesInfo) -> bool {
    s.image_type.split('\\').next().map(str::trim) == Some("DERIVED")
}

fn same_modality(s: &SeriesInfo, modality: &str) -> bool {
    s.modality.trim().eq_ignore_ascii_case(modality)
}

/// The ranking key of a candidate (smaller is better).
fn rank(s: &SeriesInfo, ct: bool) -> (bool, bool, KernelClass, Reverse<usize>, usize) {
    let kernel = if ct {
        kernel_class(s)
    } else {
        KernelClass::Unknown
    };
    (
        is_localizer(s),
        is_derived(s),
        kernel,
        Reverse(s.slices),
        s.index,
    )
}

/// A short tag of a series for the warning: `[2] CT, soft-tissue kernel B30f, 45 images`.
fn tag(s: &SeriesInfo) -> String {
    let mut t = format!("[{}] {}", s.index, non_empty(&s.modality, "no modality"));
    if is_localizer(s) {
        t.push_str(", localizer");
    } else if is_derived(s) {
        t.push_str(", derived");
    }
    if s.modality.trim().eq_ignore_ascii_case("CT") {
        match kernel_class(s) {
            KernelClass::Bone => t.push_str(", bone kernel"),
            KernelClass::Soft => t.push_str(", soft-tissue kernel"),
            KernelClass::Unknown => {}
        }
        if !s.kernel.is_empty() {
            t.push_str(&format!(" {}", s.kernel));
        }
    }
    let plural = if s.slices == 1 { "" } else { "s" };
    t.push_str(&format!(", {} image{plural}", s.slices));
    t
}

fn non_empty<'a>(s: &'a str, or: &'a str) -> &'a str {
    if s.trim().is_empty() { or } else { s.trim() }
}

/// How a series is described in messages: id, files, size, plane, description.
pub(crate) fn describe(s: &SeriesInfo) -> String {
    let mut d = format!(
        "{} ({} files, {}x{} {}",
        s.id, s.files, s.size[0], s.size[1], s.plane
    );
    if !s.description.is_empty() {
        d.push_str(&format!(", \"{}\"", s.description));
    }
    if !s.kernel.is_empty() {
        d.push_str(&format!(", kernel {}", s.kernel));
    }
    d.push(')');
    d
}

/// The option that names another series for this modality.
fn option_for(modality: Option<&str>) -> &'static str {
    match modality {
        Some(m) if m.eq_ignore_ascii_case("MR") => {
            "--mr-series N or its UID (in a study list, the mr_series column)"
        }
        _ => "--series N or its UID (in a study list, the ct_series column)",
    }
}

/// The series `wanted` names: its number in the list, its id (`UID` or `UID#k`), or the
/// UID of a split series (its largest part).
fn named<'g>(folder: &Path, groups: &'g [Group], wanted: &str) -> Result<&'g Group> {
    let wanted = wanted.trim();
    let by_number = wanted
        .parse::<usize>()
        .ok()
        .and_then(|n| groups.iter().find(|g| g.info.index == n));
    by_number
        .or_else(|| groups.iter().find(|g| g.info.id == wanted))
        .or_else(|| groups.iter().find(|g| g.info.uid == wanted))
        .ok_or_else(|| {
            Error::file(
                folder,
                format!(
                    "no series {wanted:?}; the folder holds: {} (a number or an id; srrd series lists them)",
                    groups
                        .iter()
                        .map(|g| format!("[{}] {}", g.info.index, g.info.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        })
}

/// Picks the series to read from `groups` (non-empty, largest first): the named one, else
/// the best of `modality` (the largest of all when no modality is asked for or none has
/// it). Returns it and the warning that says the choice when there was one to make.
pub(crate) fn choose<'g>(
    folder: &Path,
    groups: &'g [Group],
    series: Option<&str>,
    modality: Option<&str>,
) -> Result<(&'g Group, Option<String>)> {
    if let Some(wanted) = series {
        return Ok((named(folder, groups, wanted)?, None));
    }
    let Some(modality) = modality.map(str::trim).filter(|m| !m.is_empty()) else {
        let warning = (groups.len() > 1).then(|| {
            format!(
                "folder holds {} series or parts; using the largest, {}; pick another with --series N or ID (srrd series lists them)",
                groups.len(),
                describe(&groups[0].info),
            )
        });
        return Ok((&groups[0], warning));
    };
    let ct = modality.eq_ignore_ascii_case("CT");
    let mut candidates: Vec<&Group> = groups
        .iter()
        .filter(|g| same_modality(&g.info, modality))
        .collect();
    let fallback = candidates.is_empty();
    if fallback {
        candidates = groups.iter().collect();
    }
    candidates.sort_by_key(|g| rank(&g.info, ct));
    let chosen = candidates[0];
    if groups.len() == 1 {
        return Ok((chosen, None));
    }
    let info = &chosen.info;
    let why = if fallback {
        let mut modalities: Vec<&str> = groups
            .iter()
            .map(|g| non_empty(&g.info.modality, "none"))
            .collect();
        modalities.sort();
        modalities.dedup();
        format!(
            "no series has Modality {modality} (the folder holds {}), so the best of all",
            modalities.join(", ")
        )
    } else if candidates.len() == 1 {
        format!("the only {modality} series")
    } else {
        let (a, b) = (rank(info, ct), rank(&candidates[1].info, ct));
        let runner_up = &candidates[1].info;
        if a.0 != b.0 {
            format!(
                "Modality {modality}, not a localizer ([{}] is)",
                runner_up.index
            )
        } else if a.1 != b.1 {
            format!(
                "Modality {modality}, original images ([{}] is derived)",
                runner_up.index
            )
        } else if a.2 != b.2 {
            let k = if info.kernel.is_empty() {
                String::new()
            } else {
                format!(" {}", info.kernel)
            };
            match a.2 {
                KernelClass::Bone => format!("Modality {modality}, bone kernel{k}"),
                _ => format!(
                    "Modality {modality}, kernel{k} ([{}] is a soft-tissue kernel)",
                    runner_up.index
                ),
            }
        } else if a.3 != b.3 {
            format!(
                "Modality {modality}, the most images ({} against {})",
                info.slices, runner_up.slices
            )
        } else {
            format!(
                "Modality {modality}, the first of two alike ([{}] is as large: check which you want)",
                runner_up.index
            )
        }
    };
    let others: Vec<String> = groups
        .iter()
        .filter(|g| g.info.id != info.id)
        .map(|g| tag(&g.info))
        .collect();
    let warning = format!(
        "folder holds {} series; reading [{}] {} as the {modality}: {why}; others: {}; pick another with {}",
        groups.len(),
        info.index,
        describe(info),
        others.join(" | "),
        option_for(Some(modality)),
    );
    Ok((chosen, Some(warning)))
}

#[cfg(test)]
#[path = "choose_tests.rs"]
mod tests;
