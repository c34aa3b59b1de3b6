//! The study a model was trained on, as its card names it: the study's name and a hash of
//! its list, the knees it used and left out, and their labels. A model trained by
//! `srrd study` on a clinic's knees says so beside every score it makes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The study behind a model folder.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyInfo {
    /// The study list's file name (or its folder's).
    pub name: String,
    /// Content id of the study list (FNV-1a of the CSV, or of the folder's listing): the
    /// same name with another list gives another hash.
    pub list_hash: String,
    /// Knees in the list.
    pub knees_listed: usize,
    /// Knees that trained the networks (those that gave patches).
    pub knees_used: usize,
    /// Knees left out, with why.
    pub excluded: Vec<(String, String)>,
    /// Labels of the knees used, as the classifier groups them ("KL 0".."KL 4", "normal",
    /// "KOA", "unlabelled"), with counts.
    pub label_counts: BTreeMap<String, usize>,
}

impl StudyInfo {
    /// One line for a panel or a report: name, hash, knees and labels.
    pub fn line(&self) -> String {
        let labels: Vec<String> = self
            .label_counts
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        format!(
            "study {} (list {}): {} of {} knees trained{}; labels {}",
            self.name,
            self.list_hash,
            self.knees_used,
            self.knees_listed,
            if self.excluded.is_empty() {
                String::new()
            } else {
                format!(", {} left out", self.excluded.len())
            },
            if labels.is_empty() {
                "none".to_string()
            } else {
                labels.join(", ")
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_names_the_study_its_hash_and_counts() {
        let info = StudyInfo {
            name: "study.csv".into(),
            list_hash: "0123abcd".into(),
            knees_listed: 5,
            knees_used: 4,
            excluded: vec![("k5".into(), "no MR in the study".into())],
            label_counts: [("KL 0".to_string(), 2), ("KL 3".to_string(), 2)]
                .into_iter()
                .collect(),
        };
        assert_eq!(
            info.line(),
            "study study.csv (list 0123abcd): 4 of 5 knees trained, 1 left out; labels KL 0: 2, KL 3: 2"
        );
    }
}
