//! Named landmarks in world LPS mm: our JSON, 3D Slicer's markups JSON (`.mrk.json`) and
//! Slicer's fiducial CSV (`.fcsv`, both in [`slicer`]). Slicer files in RAS are converted
//! on read; files are written in LPS. Pairs between two sets match by label.

pub mod slicer;

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One named point, in LPS millimetres.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Landmark {
    pub label: String,
    pub position_mm: [f64; 3],
}

#[derive(Serialize, Deserialize)]
struct OurFile {
    coordinate_system: String,
    units: String,
    landmarks: Vec<Landmark>,
}

/// The file formats, chosen from the file name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Ours,
    SlicerJson,
    Fcsv,
}

fn format_of(path: &Path) -> Format {
    let name = path.to_string_lossy().to_ascii_lowercase();
    if name.ends_with(".mrk.json") {
        Format::SlicerJson
    } else if name.ends_with(".fcsv") {
        Format::Fcsv
    } else {
        Format::Ours
    }
}

/// Reads landmarks from our JSON, a Slicer `.mrk.json` or a `.fcsv` file (the format from
/// the name), in LPS. Errors name the file and the problem (the point or line).
pub fn read_landmarks(path: &Path) -> Result<Vec<Landmark>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let list = match format_of(path) {
        Format::Ours => parse_ours(&text).map_err(|e| e.in_file(path))?,
        Format::SlicerJson => slicer::parse_markups_json(&text).map_err(|e| e.in_file(path))?,
        Format::Fcsv => slicer::parse_fcsv(&text).map_err(|e| e.in_file(path))?,
    };
    for l in &list {
        if l.position_mm.iter().any(|v| !v.is_finite()) {
            return Err(Error::file(
                path,
                format!("landmark '{}' has a non-finite position", l.label),
            ));
        }
    }
    Ok(list)
}

/// Parses our landmark JSON (LPS, mm); a Slicer markups file named `.json` (Slicer offers
/// that name too) is read as one.
fn parse_ours(text: &str) -> Result<Vec<Landmark>> {
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| Error::invalid(format!("not an srrd landmark file: not JSON ({e})")))?;
    if value.get("markups").is_some() {
        return slicer::parse_markups_json(text);
    }
    let f: OurFile = serde_json::from_value(value)
        .map_err(|e| Error::invalid(format!("not an srrd landmark file ({e})")))?;
    if f.coordinate_system != "LPS" {
        return Err(Error::invalid(format!(
            "coordinate system {} (expected LPS)",
            f.coordinate_system
        )));
    }
    if f.units != "mm" {
        return Err(Error::invalid(format!("units {} (expected mm)", f.units)));
    }
    Ok(f.landmarks)
}

/// Writes landmarks (LPS) in the format the file name asks for, atomically.
pub fn write_landmarks(path: &Path, landmarks: &[Landmark]) -> Result<()> {
    let text = match format_of(path) {
        Format::Ours => serde_json::to_string_pretty(&OurFile {
            coordinate_system: "LPS".into(),
            units: "mm".into(),
            landmarks: landmarks.to_vec(),
        })
        .map_err(|e| Error::invalid(e.to_string()))?,
        Format::SlicerJson => slicer::markups_json(landmarks)?,
        Format::Fcsv => slicer::fcsv(landmarks),
    };
    super::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

/// Pairs of points with the same label in two sets, in the order of the first set.
pub fn pair_by_label<'a>(
    a: &'a [Landmark],
    b: &'a [Landmark],
) -> Vec<(&'a str, [f64; 3], [f64; 3])> {
    a.iter()
        .filter_map(|la| {
            b.iter()
                .find(|lb| lb.label == la.label)
                .map(|lb| (la.label.as_str(), la.position_mm, lb.position_mm))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Landmark> {
        vec![
            Landmark {
                label: "femur-medial-condyle".into(),
                position_mm: [-12.5, 30.25, 4.0],
            },
            Landmark {
                label: "tibia-plateau".into(),
                position_mm: [3.0, -1.5, -20.0],
            },
        ]
    }

    #[test]
    fn every_format_round_trips() {
        let dir = tempfile::tempdir().expect("tmp");
        for name in ["a.json", "b.mrk.json", "c.fcsv"] {
            let p = dir.path().join(name);
            write_landmarks(&p, &sample()).expect("write");
            assert_eq!(read_landmarks(&p).expect("read"), sample(), "{name}");
        }
        // A Slicer markups file saved as plain `.json` reads as one.
        let p = dir.path().join("slicer.json");
        std::fs::write(&p, slicer::markups_json(&sample()).expect("json")).expect("write");
        assert_eq!(read_landmarks(&p).expect("read"), sample());
    }

    #[test]
    fn pairs_match_by_label() {
        let a = sample();
        let mut b = sample();
        b.reverse();
        b[0].position_mm[0] += 1.0;
        let pairs = pair_by_label(&a, &b);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].0, "femur-medial-condyle");
        assert_eq!(pairs[1].2[0], 4.0);
    }

    #[test]
    fn bad_files_are_refused_naming_the_file() {
        let dir = tempfile::tempdir().expect("tmp");
        for (name, text, problem) in [
            ("a.json", "{}", "not an srrd landmark file"),
            (
                "b.json",
                r#"{"coordinate_system":"RAS","units":"mm","landmarks":[]}"#,
                "coordinate system RAS (expected LPS)",
            ),
            (
                "c.json",
                r#"{"coordinate_system":"LPS","units":"cm","landmarks":[]}"#,
                "units cm (expected mm)",
            ),
            ("d.mrk.json", "[1, 2]", "no 'markups' list"),
            ("e.fcsv", "1,2,x,4\n", "line 1: y 'x' is not a number"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, text).expect("write");
            let e = read_landmarks(&p).expect_err(name).to_string();
            assert!(e.starts_with(&format!("{}: ", p.display())), "{e}");
            assert!(e.contains(problem), "{name}: {e}");
        }
        let missing = dir.path().join("none.json");
        let e = read_landmarks(&missing).expect_err("missing").to_string();
        assert!(e.contains("none.json: no such file"), "{e}");
    }
}
