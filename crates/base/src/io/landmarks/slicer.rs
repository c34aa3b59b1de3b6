//! 3D Slicer's two landmark files, read into LPS and written in LPS.
//!
//! - Markups JSON (`.mrk.json`): `markups[]`, each with a `coordinateSystem` ("LPS", the
//!   default when absent, or "RAS"), `coordinateUnits` ("mm") and `controlPoints[]` with
//!   `label`, `position` [x, y, z] and `positionStatus` (points not placed, "undefined"
//!   or "missing", are left out).
//! - Fiducial CSV (`.fcsv`): `#` header lines, among them `# CoordinateSystem = ...` (0 or
//!   RAS, 1 or LPS; RAS when absent, as old Slicer wrote) and `# columns = id,x,y,z,...`
//!   (the default column order when absent); one point a line, fields quoted when they
//!   hold a comma.
//!
//! RAS points become LPS by negating x and y. Problems come back as
//! [`Error::Invalid`] naming the point or line; the caller adds the file.

use crate::error::{Error, Result};

use super::Landmark;

/// A point in RAS as a point in LPS (and back: the map is its own inverse).
pub fn ras_to_lps(p: [f64; 3]) -> [f64; 3] {
    [-p[0], -p[1], p[2]]
}

/// The coordinate systems Slicer writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum System {
    Lps,
    Ras,
}

impl System {
    /// Slicer's spellings: the names, or the old codes 0 (RAS) and 1 (LPS).
    fn parse(text: &str) -> std::result::Result<System, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "LPS" | "1" => Ok(System::Lps),
            "RAS" | "0" => Ok(System::Ras),
            "IJK" | "2" => Err("coordinate system IJK (voxel indices) is not supported: \
                 save the points in RAS or LPS"
                .into()),
            other => Err(format!(
                "coordinate system {other:?}: expected LPS or RAS (or Slicer's codes 1 and 0)"
            )),
        }
    }

    fn to_lps(self, p: [f64; 3]) -> [f64; 3] {
        match self {
            System::Lps => p,
            System::Ras => ras_to_lps(p),
        }
    }
}

/// Parses a Slicer markups JSON document into LPS landmarks.
pub fn parse_markups_json(text: &str) -> Result<Vec<Landmark>> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|e| Error::invalid(format!("not JSON ({e})")))?;
    let markups = doc
        .get("markups")
        .and_then(|m| m.as_array())
        .ok_or_else(|| Error::invalid("no 'markups' list: not a Slicer markups file"))?;
    let mut out = Vec::new();
    for (m, markup) in markups.iter().enumerate() {
        let which = |what: String| {
            if markups.len() > 1 {
                format!("markup {}: {what}", m + 1)
            } else {
                what
            }
        };
        let system = match markup.get("coordinateSystem") {
            None | Some(serde_json::Value::Null) => System::Lps,
            Some(v) => {
                let s = v.as_str().ok_or_else(|| {
                    Error::invalid(which(format!("coordinateSystem {v} is not a string")))
                })?;
                System::parse(s).map_err(|e| Error::invalid(which(e)))?
            }
        };
        if let Some(units) = markup.get("coordinateUnits").and_then(|u| u.as_str())
            && units != "mm"
        {
            return Err(Error::invalid(which(format!(
                "coordinate units {units:?}: only mm is supported"
            ))));
        }
        let Some(points) = markup.get("controlPoints") else {
            continue;
        };
        let points = points
            .as_array()
            .ok_or_else(|| Error::invalid(which("'controlPoints' is not a list".into())))?;
        for (n, p) in points.iter().enumerate() {
            let label = p.get("label").and_then(|l| l.as_str());
            let name = match label {
                Some(l) => format!("control point {} ('{l}')", n + 1),
                None => format!("control point {}", n + 1),
            };
            let status = p.get("positionStatus").and_then(|s| s.as_str());
            match status {
                None | Some("defined") | Some("preview") => {}
                Some("undefined") | Some("missing") => continue,
                Some(other) => {
                    return Err(Error::invalid(which(format!(
                        "{name}: positionStatus {other:?}: expected defined, preview, undefined or missing"
                    ))));
                }
            }
            let position = p
                .get("position")
                .and_then(|a| a.as_array())
                .filter(|a| a.len() == 3)
                .and_then(|a| Some([a[0].as_f64()?, a[1].as_f64()?, a[2].as_f64()?]))
                .ok_or_else(|| {
                    Error::invalid(which(format!("{name} has no position of 3 numbers")))
                })?;
            let label = match label {
                Some(l) if !l.trim().is_empty() => l.trim().to_string(),
                _ => format!("{}", n + 1),
            };
            out.push(Landmark {
                label,
                position_mm: system.to_lps(position),
            });
        }
    }
    Ok(out)
}

/// A Slicer markups JSON document of `landmarks`, in LPS.
pub fn markups_json(landmarks: &[Landmark]) -> Result<String> {
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
    serde_json::to_string_pretty(&doc).map_err(|e| Error::invalid(e.to_string()))
}

/// The column order Slicer writes (and assumes when a file has no `# columns` line).
const FCSV_COLUMNS: [&str; 14] = [
    "id",
    "x",
    "y",
    "z",
    "ow",
    "ox",
    "oy",
    "oz",
    "vis",
    "sel",
    "lock",
    "label",
    "desc",
    "associatedNodeID",
];

/// Splits one CSV line: commas, double quotes around fields that hold commas or quotes.
fn split_csv(line: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', true) => quoted = false,
            ('"', false) if field.trim().is_empty() => {
                field.clear();
                quoted = true;
            }
            (',', false) => out.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    if quoted {
        return Err("an unclosed quote".into());
    }
    out.push(field);
    Ok(out)
}

/// Parses a Slicer fiducial CSV into LPS landmarks.
pub fn parse_fcsv(text: &str) -> Result<Vec<Landmark>> {
    // Slicer wrote RAS unless the header says otherwise.
    let mut system = System::Ras;
    let mut columns: Vec<String> = FCSV_COLUMNS.iter().map(|c| c.to_string()).collect();
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let at = |what: String| Error::invalid(format!("line {}: {what}", n + 1));
        if let Some(h) = line.trim_start().strip_prefix('#') {
            let Some((key, value)) = h.split_once('=') else {
                continue;
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "coordinatesystem" => system = System::parse(value).map_err(at)?,
                "columns" => {
                    columns = value.split(',').map(|c| c.trim().to_string()).collect();
                    for need in ["x", "y", "z"] {
                        if !columns.iter().any(|c| c == need) {
                            return Err(at(format!("the columns line has no {need} column")));
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv(line).map_err(at)?;
        let get = |name: &str| {
            columns
                .iter()
                .position(|c| c == name)
                .and_then(|c| fields.get(c))
                .map(|f| f.trim())
        };
        let num = |axis: &str| -> Result<f64> {
            let v = get(axis).ok_or_else(|| {
                at(format!(
                    "{} fields, no {axis}: expected id,x,y,z,... (Slicer's columns)",
                    fields.len()
                ))
            })?;
            v.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| at(format!("{axis} '{v}' is not a number")))
        };
        let position = [num("x")?, num("y")?, num("z")?];
        let label = get("label")
            .filter(|l| !l.is_empty())
            .or_else(|| get("id").filter(|l| !l.is_empty()))
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}", out.len() + 1));
        out.push(Landmark {
            label,
            position_mm: system.to_lps(position),
        });
    }
    Ok(out)
}

/// A Slicer fiducial CSV of `landmarks`, in LPS (labels with commas or quotes quoted).
pub fn fcsv(landmarks: &[Landmark]) -> String {
    let mut s = format!(
        "# Markups fiducial file version = 4.11\n# CoordinateSystem = LPS\n# columns = {}\n",
        FCSV_COLUMNS.join(",")
    );
    for (n, l) in landmarks.iter().enumerate() {
        let [x, y, z] = l.position_mm;
        let label = if l.label.contains([',', '"']) {
            format!("\"{}\"", l.label.replace('"', "\"\""))
        } else {
            l.label.clone()
        };
        s.push_str(&format!("{},{x},{y},{z},0,0,0,1,1,1,0,{label},,\n", n + 1));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: [f64; 3], b: [f64; 3]) -> bool {
        a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-12)
    }

    // A file as Slicer 5 saves it (trimmed of display settings), in LPS.
    const MRK_LPS: &str = r#"{
    "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.3.json#",
    "markups": [
        {
            "type": "Fiducial",
            "coordinateSystem": "LPS",
            "coordinateUnits": "mm",
            "locked": false,
            "labelFormat": "%N-%d",
            "controlPoints": [
                { "id": "1", "label": "femur-medial-condyle", "description": "", "associatedNodeID": "vtkMRMLScalarVolumeNode1",
                  "position": [-12.5, 30.25, 4.0], "orientation": [-1.0, -0.0, -0.0, -0.0, -1.0, -0.0, 0.0, 0.0, 1.0],
                  "selected": true, "locked": false, "visibility": true, "positionStatus": "defined" },
                { "id": "2", "label": "tibia-plateau", "position": [3.0, -1.5, -20.0], "positionStatus": "defined" },
                { "id": "3", "label": "not-yet-placed", "position": [0.0, 0.0, 0.0], "positionStatus": "undefined" }
            ],
            "measurements": []
        }
    ]
}"#;

    // The same two points as an older Slicer saved them, in RAS.
    const MRK_RAS: &str = r#"{
    "@schema": "https://raw.githubusercontent.com/slicer/slicer/master/Modules/Loadable/Markups/Resources/Schema/markups-schema-v1.0.0.json#",
    "markups": [{ "type": "Fiducial", "coordinateSystem": "RAS", "controlPoints": [
        { "id": "1", "label": "femur-medial-condyle", "position": [12.5, -30.25, 4.0] },
        { "id": "2", "label": "tibia-plateau", "position": [-3.0, 1.5, -20.0] }
    ] }]
}"#;

    const FCSV_RAS: &str = "# Markups fiducial file version = 4.10\n\
# CoordinateSystem = 0\n\
# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\n\
vtkMRMLMarkupsFiducialNode_0,12.5,-30.25,4,0,0,0,1,1,1,0,femur-medial-condyle,,vtkMRMLScalarVolumeNode1\n\
vtkMRMLMarkupsFiducialNode_1,-3,1.5,-20,0,0,0,1,1,1,0,tibia-plateau,,\n";

    const FCSV_LPS: &str = "# Markups fiducial file version = 4.11\r\n\
# CoordinateSystem = LPS\r\n\
# columns = id,x,y,z,ow,ox,oy,oz,vis,sel,lock,label,desc,associatedNodeID\r\n\
1,-12.5,30.25,4,0,0,0,1,1,1,0,femur-medial-condyle,,\r\n\
2,3,-1.5,-20,0,0,0,1,1,1,0,\"tibia, plateau\",\"a \"\"quoted\"\" note\",\r\n";

    #[test]
    fn markups_json_in_lps_and_ras_give_the_same_lps_points() {
        let lps = parse_markups_json(MRK_LPS).expect("lps");
        let ras = parse_markups_json(MRK_RAS).expect("ras");
        assert_eq!(lps.len(), 2, "the unplaced point is left out");
        assert_eq!(ras.len(), 2);
        for (a, b) in lps.iter().zip(&ras) {
            assert_eq!(a.label, b.label);
            assert!(close(a.position_mm, b.position_mm), "{a:?} {b:?}");
        }
        // RAS (12.5, -30.25, 4) is LPS (-12.5, 30.25, 4): x and y change sign, z does not.
        assert!(close(ras[0].position_mm, [-12.5, 30.25, 4.0]));
        assert!(close(ras[1].position_mm, [3.0, -1.5, -20.0]));
    }

    #[test]
    fn fcsv_in_ras_and_lps_give_the_same_lps_points() {
        let ras = parse_fcsv(FCSV_RAS).expect("ras");
        let lps = parse_fcsv(FCSV_LPS).expect("lps");
        assert_eq!(ras[0].label, "femur-medial-condyle");
        assert!(close(ras[0].position_mm, [-12.5, 30.25, 4.0]));
        assert!(close(ras[1].position_mm, [3.0, -1.5, -20.0]));
        assert!(close(lps[0].position_mm, [-12.5, 30.25, 4.0]));
        assert_eq!(
            lps[1].label, "tibia, plateau",
            "a quoted label keeps its comma"
        );
        assert!(close(lps[1].position_mm, ras[1].position_mm));
        // No header at all: Slicer's old default, RAS, in its column order.
        let bare = parse_fcsv("7,1,2,3,0,0,0,1,1,1,0,P,,\n").expect("bare");
        assert_eq!(bare[0].label, "P");
        assert!(close(bare[0].position_mm, [-1.0, -2.0, 3.0]));
        // Columns in another order, named by the header; no label: the id names it.
        let other = parse_fcsv("# CoordinateSystem = RAS\n# columns = label,z,y,x,id\n,3,2,1,p7\n")
            .expect("reordered");
        assert_eq!(other[0].label, "p7");
        assert!(close(other[0].position_mm, [-1.0, -2.0, 3.0]));
    }

    #[test]
    fn what_is_written_reads_back() {
        let marks = parse_fcsv(FCSV_LPS).expect("lps");
        assert_eq!(parse_fcsv(&fcsv(&marks)).expect("fcsv"), marks);
        let json = markups_json(&marks).expect("json");
        assert_eq!(parse_markups_json(&json).expect("json"), marks);
    }

    #[test]
    fn bad_slicer_files_say_what_is_wrong() {
        let err = |r: Result<Vec<Landmark>>| r.expect_err("refused").to_string();
        assert!(err(parse_markups_json("{")).contains("not JSON"));
        assert!(err(parse_markups_json("{}")).contains("no 'markups' list"));
        let e = err(parse_markups_json(
            r#"{"markups":[{"coordinateSystem":"XYZ","controlPoints":[]}]}"#,
        ));
        assert!(e.contains("coordinate system \"XYZ\""), "{e}");
        let e = err(parse_markups_json(
            r#"{"markups":[{"controlPoints":[{"label":"A","position":[1,2]}]}]}"#,
        ));
        assert_eq!(e, "control point 1 ('A') has no position of 3 numbers");
        let e = err(parse_markups_json(
            r#"{"markups":[{"coordinateUnits":"um","controlPoints":[]}]}"#,
        ));
        assert!(e.contains("only mm"), "{e}");
        let e = err(parse_fcsv("# CoordinateSystem = 2\n1,2,3,4\n"));
        assert!(e.starts_with("line 1: coordinate system IJK"), "{e}");
        let e = err(parse_fcsv(
            "# CoordinateSystem = LPS\n1,2,x,4,0,0,0,1,1,1,0,A,,\n",
        ));
        assert_eq!(e, "line 2: y 'x' is not a number");
        let e = err(parse_fcsv("1,2\n"));
        assert!(e.starts_with("line 1: 2 fields, no y"), "{e}");
        let e = err(parse_fcsv("1,2,3,4,0,0,0,1,1,1,0,\"open,,\n"));
        assert!(e.contains("unclosed quote"), "{e}");
    }
}
