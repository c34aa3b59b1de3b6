//! Landmark protocols: the ordered landmarks annotators place on each knee, a one-line
//! description each and the image(s) they go on (JSON, `srrd-landmark-protocol/1`). The
//! phantom's 25 landmarks ship as the default, `assets/protocols/knee25.json`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where a landmark is placed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnImage {
    Ct,
    Mr,
    Both,
}

impl OnImage {
    /// Whether the landmark goes on image `set` (0 CT, 1 MR).
    pub fn includes(self, set: usize) -> bool {
        matches!(
            (self, set),
            (OnImage::Both, _) | (OnImage::Ct, 0) | (OnImage::Mr, 1)
        )
    }
}

/// One landmark of a protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProtocolLandmark {
    pub name: String,
    pub description: String,
    pub image: OnImage,
}

/// An ordered landmark protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Protocol {
    pub format: String,
    pub name: String,
    pub landmarks: Vec<ProtocolLandmark>,
}

/// The format tag protocol files carry.
pub const PROTOCOL_FORMAT: &str = "srrd-landmark-protocol/1";

impl Protocol {
    /// The landmarks that go on image `set` (0 CT, 1 MR), in order.
    pub fn for_image(&self, set: usize) -> impl Iterator<Item = &ProtocolLandmark> {
        self.landmarks.iter().filter(move |l| l.image.includes(set))
    }
}

/// The default protocol's file: the phantom's 25 landmarks.
pub fn default_protocol_path() -> PathBuf {
    crate::assets::assets_dir()
        .join("protocols")
        .join("knee25.json")
}

/// Reads a protocol; refuses a wrong format, an empty list, empty or duplicated names,
/// naming the file and the landmark.
pub fn read_protocol(path: &Path) -> Result<Protocol> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let p: Protocol = serde_json::from_str(&text)
        .map_err(|e| Error::file(path, format!("not a landmark protocol ({e})")))?;
    if p.format != PROTOCOL_FORMAT {
        return Err(Error::file(
            path,
            format!("format {:?}, expected {PROTOCOL_FORMAT:?}", p.format),
        ));
    }
    if p.landmarks.is_empty() {
        return Err(Error::file(path, "the protocol lists no landmarks"));
    }
    for (n, l) in p.landmarks.iter().enumerate() {
        if l.name.trim().is_empty() {
            return Err(Error::file(path, format!("landmark {} has no name", n + 1)));
        }
        if let Some(m) = p.landmarks[..n].iter().position(|o| o.name == l.name) {
            return Err(Error::file(
                path,
                format!(
                    "landmark {:?} is listed twice (entries {} and {}); names pair the CT and MR points, so each must be unique",
                    l.name,
                    m + 1,
                    n + 1
                ),
            ));
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_protocol_reads_and_duplicates_are_refused() {
        let p = read_protocol(&default_protocol_path()).expect("knee25");
        assert_eq!(p.landmarks.len(), 25);
        assert_eq!(p.for_image(1).count(), 25);
        assert!(p.landmarks.iter().all(|l| !l.description.is_empty()));
        let dir = tempfile::tempdir().expect("tmp");
        let mut twice = p.clone();
        twice.landmarks.push(p.landmarks[3].clone());
        let path = dir.path().join("twice.json");
        std::fs::write(&path, serde_json::to_string(&twice).expect("json")).expect("write");
        let err = read_protocol(&path).expect_err("duplicate").to_string();
        assert!(
            err.contains("twice.json") && err.contains("listed twice"),
            "{err}"
        );
        assert!(err.contains("entries 4 and 26"), "{err}");
    }
}
