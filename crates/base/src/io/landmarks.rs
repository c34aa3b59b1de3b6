//! Named landmarks in world LPS mm: our JSON, 3D Slicer's markups JSON (`.mrk.json`) and
//! Slicer's fiducial CSV (`.fcsv`). Slicer files in RAS are converted on read; files are
//! written in LPS. Pairs between two sets match by label.

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

/// Reads landmarks from our JSON, a Slicer `.mrk.json` or a `.fcsv` file.
pub fn read_landmarks(path: &Path) -> Result<Vec<Landmark>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let list = match format_of(path) {
        Format::Ours => {
            let f: OurFile = serde_json::from_str(&text)
                .map_err(|e| Error::file(path, format!("not an srrd landmark file ({e})")))?;
            if f.coordinate_system != "LPS" {
                return Err(Error::file(
                    path,
                    format!("coordinate system {} (expected LPS)", f.coordinate_system),
                ));
            }
            f.landmarks
        }
        Format::SlicerJson => parse_slicer_json(&text).map_err(|e| e.in_file(path))?,
        Format::Fcsv => parse_fcsv(&text).map_err(|e| e.in_file(path))?,
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

/// Writes landmarks (LPS) in the format the file name asks for, atomically.
pub fn write_landmarks(path: &Path, landmarks: &[Landmark]) -> Result<()> {
    let text = match format_of(path) {
        Format::Ours => serde_json::to_string_pretty(&OurFile {
            coordinate_system: "LPS".into(),
            units: "mm".into(),
            landmarks: landmarks.to_vec(),
        })
        .map_err(|e| Error::invalid(e.to_string()))?,
        Format::SlicerJson => {
            let points: Vec<serde_json::Value> = landmarks
                .iter()
                .enumerate()
                .map(|(n, l)| {
                    serde_json::json!({
                        "id": format!("{}", n + 1),
                        "label": l.label,
                        "position": l.position_mm,
                        "positionStatus": "defined"
                    })
                })
                .collect();
            let doc = serde_json::json!({
                "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
                "markups": [{
                    "type": "Fiducial",
                    "coordinateSystem": "LPS",
                    "coordinateUnits": "mm",
                    "controlPoints": points
                }]
            });
            serde_json::to_string_pretty(&doc).map_err(|e| Error::invalid(e.to_string()))?
        }
        Format::Fcsv => {
            let mut s = String::from(
                "# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n",
            );
            for (n, l) in landmarks.iter().enumerate() {
                let [x, y, z] = l.position_mm;
                s.push_str(&format!(
                    "{},{x},{y},{z},0,0,0,1,1,1,0,{},,\n",
                    n + 1,
                    l.label.replace(',', ";")
                ));
            }
            s
        }
    };
    super::atomic_write(path, |w| w.write_all(text.as_bytes()))
}

fn ras_to_lps(p: [f64; 3]) -> [f64; 3] {
    [-p[0], -p[1], p[2]]
}

fn parse_slicer_json(text: &str) -> Result<Vec<Landmark>> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::invalid(format!("not JSON ({e})")))?;
    let markups = doc["markups"]
        .as_array()
        .ok_or_else(|| Error::invalid("no 'markups' list: not a Slicer markups file"))?;
    let mut out = Vec::new();
    for m in markups {
        let ras = m["coordinateSystem"].as_str().unwrap_or("LPS") == "RAS";
        for (n, p) in m["controlPoints"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            let pos = p["position"]
                .as_array()
                .filter(|a| a.len() == 3)
                .and_then(|a| Some([a[0].as_f64()?, a[1].as_f64()?, a[2].as_f64()?]))
                .ok_or_else(|| {
                    Error::invalid(format!("control point {} has no 3-number position", n + 1))
                })?;
            let label = p["label"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{}", n + 1));
            out.push(Landmark {
                label,
                position_mm: if ras { ras_to_lps(pos) } else { pos },
            });
        }
    }
    Ok(out)
}

fn parse_fcsv(text: &str) -> Result<Vec<Landmark>> {
    // Slicer wrote RAS unless the header says LPS ("LPS" or the old code 1).
    let mut ras = true;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(h) = line.strip_prefix('#') {
            if let Some(cs) = h.trim().strip_prefix("CoordinateSystem") {
                let v = cs.trim_start_matches([' ', '=']).trim();
                ras = !(v == "LPS" || v == "1");
            }
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').collect();
        if cols.len() < 4 {
            return Err(Error::invalid(format!(
                "line {}: expected id,x,y,z,...",
                n + 1
            )));
        }
        let num = |s: &str| {
            s.trim()
                .parse::<f64>()
                .map_err(|_| Error::invalid(format!("line {}: '{s}' is not a number", n + 1)))
        };
        let pos = [num(cols[1])?, num(cols[2])?, num(cols[3])?];
        let label = cols
            .get(11)
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| cols[0].to_string());
        out.push(Landmark {
            label,
            position_mm: if ras { ras_to_lps(pos) } else { pos },
        });
    }
    Ok(out)
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
    }

    #[test]
    fn slicer_ras_files_are_converted_to_lps() {
        let mrk = r#"{"markups":[{"type":"Fiducial","coordinateSystem":"RAS","controlPoints":[{"label":"P","position":[1.0,2.0,3.0]}]}]}"#;
        assert_eq!(
            parse_slicer_json(mrk).expect("parse")[0].position_mm,
            [-1.0, -2.0, 3.0]
        );
        let fcsv = "# Markups fiducial file version = 4.6\n# CoordinateSystem = 0\n# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\nvtkMRMLMarkupsFiducialNode_0,1,2,3,0,0,0,1,1,1,0,Q,,\n";
        let l = parse_fcsv(fcsv).expect("parse");
        assert_eq!(l[0].label, "Q");
        assert_eq!(l[0].position_mm, [-1.0, -2.0, 3.0]);
    }

    #[test]
    fn pairs_match_by_label_and_bad_files_are_refused() {
        let a = sample();
        let mut b = sample();
        b.reverse();
        b[0].position_mm[0] += 1.0;
        let pairs = pair_by_label(&a, &b);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].0, "femur-medial-condyle");
        assert_eq!(pairs[1].2[0], 4.0);
        assert!(
            parse_fcsv("1,2,x,4\n")
                .unwrap_err()
                .to_string()
                .contains("not a number")
        );
        assert!(parse_slicer_json("{}").is_err());
    }
}
