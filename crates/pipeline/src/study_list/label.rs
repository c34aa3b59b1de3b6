//! A knee's label as a clinic writes it: a Kellgren-Lawrence grade 0-4, or a class word.
//! KOA is KL >= 2, as in the paper; the study's three groups are normal (KL 0-1), mild
//! (KL 2) and advanced (KL 3-4).

use std::fmt;

use serde::{Serialize, Serializer};

/// The forms a `label` may take, as error messages list them.
pub const ACCEPTED: &str = "a KL grade 0-4 (or KL0-KL4), normal, mild, advanced or KOA";

/// The forms a `kl` column's value may take.
pub const ACCEPTED_KL: &str = "a KL grade 0-4 (or KL0-KL4)";

/// A Kellgren-Lawrence grade, 0 to 4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KlGrade(u8);

impl KlGrade {
    /// The grade, if `n` is one (0-4).
    pub fn new(n: u8) -> Option<Self> {
        (n <= 4).then_some(KlGrade(n))
    }

    /// The grade as a number.
    pub fn value(self) -> u8 {
        self.0
    }

    /// The study group of the grade: normal (0-1), mild (2), advanced (3-4).
    pub fn group(self) -> Group {
        match self.0 {
            0 | 1 => Group::Normal,
            2 => Group::Mild,
            _ => Group::Advanced,
        }
    }
}

/// The study's three groups (the paper's cohort).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Group {
    Normal,
    Mild,
    Advanced,
}

impl Group {
    /// Its name: normal, mild or advanced.
    pub fn name(self) -> &'static str {
        match self {
            Group::Normal => "normal",
            Group::Mild => "mild",
            Group::Advanced => "advanced",
        }
    }
}

/// A knee's label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Label {
    /// A KL grade.
    Kl(KlGrade),
    /// A group name (normal, mild, advanced) without a grade.
    Group(Group),
    /// KOA without a grade or group.
    Koa,
}

/// A value that is none of the accepted forms, in a `label` or a `kl` column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{column} {value:?}: expected {accepted}")]
pub struct LabelError {
    /// `label` or `kl`.
    pub column: &'static str,
    /// The value as written.
    pub value: String,
    /// The forms that column accepts.
    pub accepted: &'static str,
}

impl Label {
    /// Reads a label (case and surrounding spaces ignored): `0`-`4`, `KL0`-`KL4` (`KL 2`,
    /// `KL-2`), `normal`, `mild`, `advanced`, `KOA`.
    pub fn parse(text: &str) -> Result<Label, LabelError> {
        let t = text.trim().to_ascii_lowercase();
        let grade = |s: &str| {
            s.parse::<u8>()
                .ok()
                .filter(|_| s.len() == 1)
                .and_then(KlGrade::new)
        };
        let kl = t
            .strip_prefix("kl")
            .map(|r| r.trim_start_matches([' ', '-', '_']))
            .unwrap_or(&t);
        if let Some(g) = grade(kl) {
            return Ok(Label::Kl(g));
        }
        match t.as_str() {
            "normal" => Ok(Label::Group(Group::Normal)),
            "mild" => Ok(Label::Group(Group::Mild)),
            "advanced" => Ok(Label::Group(Group::Advanced)),
            "koa" => Ok(Label::Koa),
            _ => Err(LabelError {
                column: "label",
                value: text.trim().to_string(),
                accepted: ACCEPTED,
            }),
        }
    }

    /// Reads a `kl` column's value: a grade only (`2`, `KL2`).
    pub fn parse_grade(text: &str) -> Result<Label, LabelError> {
        match Label::parse(text) {
            Ok(l @ Label::Kl(_)) => Ok(l),
            _ => Err(LabelError {
                column: "kl",
                value: text.trim().to_string(),
                accepted: ACCEPTED_KL,
            }),
        }
    }

    /// Whether the knee has KOA (KL >= 2, mild, advanced or KOA): the classifier's truth.
    pub fn is_koa(self) -> bool {
        match self {
            Label::Kl(g) => g.value() >= 2,
            Label::Group(g) => g != Group::Normal,
            Label::Koa => true,
        }
    }

    /// The study group, when the label says it (a bare KOA does not).
    pub fn group(self) -> Option<Group> {
        match self {
            Label::Kl(g) => Some(g.group()),
            Label::Group(g) => Some(g),
            Label::Koa => None,
        }
    }

    /// The KL grade, when the label is one.
    pub fn kl(self) -> Option<KlGrade> {
        match self {
            Label::Kl(g) => Some(g),
            _ => None,
        }
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Kl(g) => write!(f, "KL {}", g.value()),
            Label::Group(g) => f.write_str(g.name()),
            Label::Koa => f.write_str("KOA"),
        }
    }
}

impl std::str::FromStr for Label {
    type Err = LabelError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Label::parse(s)
    }
}

/// Written as its text (`KL 2`, `normal`, `KOA`), as it reads back.
impl Serialize for Label {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grades_and_words_parse_to_class_and_group() {
        for (text, shown, koa, group) in [
            ("0", "KL 0", false, Some(Group::Normal)),
            ("1", "KL 1", false, Some(Group::Normal)),
            (" 2 ", "KL 2", true, Some(Group::Mild)),
            ("KL3", "KL 3", true, Some(Group::Advanced)),
            ("kl 4", "KL 4", true, Some(Group::Advanced)),
            ("KL-2", "KL 2", true, Some(Group::Mild)),
            ("Normal", "normal", false, Some(Group::Normal)),
            ("mild", "mild", true, Some(Group::Mild)),
            ("ADVANCED", "advanced", true, Some(Group::Advanced)),
            ("KOA", "KOA", true, None),
            ("koa", "KOA", true, None),
        ] {
            let l = Label::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
            assert_eq!(l.to_string(), shown, "{text:?}");
            assert_eq!(l.is_koa(), koa, "{text:?}");
            assert_eq!(l.group(), group, "{text:?}");
            assert_eq!(Label::parse(&l.to_string()), Ok(l), "{text:?} reads back");
        }
        assert_eq!(Label::parse("3").ok().and_then(Label::kl), KlGrade::new(3));
    }

    #[test]
    fn other_values_are_refused_with_the_accepted_forms() {
        for text in [
            "5", "-1", "2.5", "12", "KL5", "moderate", "control", "yes", "KL",
        ] {
            let e = Label::parse(text).expect_err(text).to_string();
            assert_eq!(
                e,
                format!(
                    "label {text:?}: expected a KL grade 0-4 (or KL0-KL4), normal, mild, advanced or KOA"
                )
            );
        }
        assert_eq!(
            Label::parse_grade(" normal").map_err(|e| e.to_string()),
            Err("kl \"normal\": expected a KL grade 0-4 (or KL0-KL4)".to_string())
        );
        assert_eq!(
            Label::parse_grade("KL 1").map(|l| l.group()),
            Ok(Some(Group::Normal))
        );
    }

    #[test]
    fn a_label_serializes_as_its_text() {
        let l = Label::parse("3").expect("grade");
        assert_eq!(serde_json::to_string(&l).expect("json"), "\"KL 3\"");
    }
}
