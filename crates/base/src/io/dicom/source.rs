//! Where a volume read from DICOM came from: the patient and study it belongs to, its
//! frame of reference, and which source instance (and frame) each slice k is. Derived
//! objects written back (SEG, parametric map, SR) copy the first and refer to the rest.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::Serialize;

use super::header::get_str;

/// Patient and study identity (the Patient and General Study modules), as read.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StudyInfo {
    pub patient_name: String,
    pub patient_id: String,
    pub patient_birth_date: String,
    pub patient_sex: String,
    pub study_instance_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub study_id: String,
    pub accession_number: String,
    pub referring_physician_name: String,
    pub study_description: String,
}

impl StudyInfo {
    pub(crate) fn read(o: &InMemDicomObject) -> Self {
        let s = |tag| get_str(o, tag).unwrap_or_default();
        StudyInfo {
            patient_name: s(tags::PATIENT_NAME),
            patient_id: s(tags::PATIENT_ID),
            patient_birth_date: s(tags::PATIENT_BIRTH_DATE),
            patient_sex: s(tags::PATIENT_SEX),
            study_instance_uid: s(tags::STUDY_INSTANCE_UID),
            study_date: s(tags::STUDY_DATE),
            study_time: s(tags::STUDY_TIME),
            study_id: s(tags::STUDY_ID),
            accession_number: s(tags::ACCESSION_NUMBER),
            referring_physician_name: s(tags::REFERRING_PHYSICIAN_NAME),
            study_description: s(tags::STUDY_DESCRIPTION),
        }
    }

    /// Whether the file had a patient module at all (a name or an id).
    pub fn has_patient(&self) -> bool {
        !self.patient_id.is_empty() || !self.patient_name.is_empty()
    }
}

/// The source instance behind one slice of the volume.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceSlice {
    /// SOPInstanceUID of the file.
    pub sop_instance_uid: String,
    /// The frame number (1-based) inside a multi-frame file.
    pub frame: Option<u32>,
}

/// What a DICOM-read volume refers back to.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DicomSource {
    pub study: StudyInfo,
    /// SeriesInstanceUID of the source series.
    pub series_instance_uid: String,
    /// SOPClassUID of the source images.
    pub sop_class_uid: String,
    pub modality: String,
    /// FrameOfReferenceUID, if the source had one.
    pub frame_of_reference_uid: Option<String>,
    /// Slice k of the volume, when it is one source image (None after resampling).
    pub slices: Vec<Option<SourceSlice>>,
    /// Every source instance the volume was made from.
    pub instances: Vec<String>,
}
