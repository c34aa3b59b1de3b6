//! DICOM out: results written back as objects PACS and viewers take, next to the CT they
//! were computed from. [`seg`] writes a Segmentation, [`pmap`] a Parametric Map, [`sr`] a
//! TID 1500 Measurement Report. This module owns what they share: coded concepts, UIDs,
//! the patient/study/frame-of-reference identity (copied from the source CT, or generated
//! and said so), the multi-frame geometry of a volume, and writing a file atomically.

pub mod pmap;
pub mod seg;
pub mod sr;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use nalgebra::Vector3;

use super::dicom::{DicomSource, StudyInfo};
use crate::error::{Error, Result};
use crate::volume::Geometry;

/// The name written as Manufacturer and in every object's provenance.
pub const MANUFACTURER: &str = "SRRD workstation (research software)";

/// A coded concept (CodeValue, CodingSchemeDesignator, CodeMeaning).
#[derive(Clone, Debug, PartialEq)]
pub struct Code {
    pub value: String,
    pub scheme: String,
    pub meaning: String,
}

impl Code {
    /// A code from a scheme: `Code::new("71341001", "SCT", "Bone structure of femur")`.
    pub fn new(value: &str, scheme: &str, meaning: &str) -> Self {
        Code {
            value: value.into(),
            scheme: scheme.into(),
            meaning: meaning.into(),
        }
    }

    /// A UCUM unit.
    pub fn ucum(unit: &str, meaning: &str) -> Self {
        Code::new(unit, "UCUM", meaning)
    }

    pub(crate) fn item(&self) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        put_str(&mut o, tags::CODE_VALUE, VR::SH, &self.value);
        put_str(&mut o, tags::CODING_SCHEME_DESIGNATOR, VR::SH, &self.scheme);
        put_str(&mut o, tags::CODE_MEANING, VR::LO, &self.meaning);
        o
    }
}

pub(crate) fn put_str(o: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

pub(crate) fn put_seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

pub(crate) fn put_code(o: &mut InMemDicomObject, tag: Tag, code: &Code) {
    put_seq(o, tag, vec![code.item()]);
}

pub(crate) fn put_u16(o: &mut InMemDicomObject, tag: Tag, v: u16) {
    o.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
}

/// Decimal strings (DS) of at most 16 characters each.
pub(crate) fn put_ds(o: &mut InMemDicomObject, tag: Tag, values: &[f64]) {
    let text: Vec<String> = values.iter().map(|v| ds(*v)).collect();
    put_str(o, tag, VR::DS, &text.join("\\"));
}

/// One value as a DICOM decimal string (16 characters at most).
pub fn ds(v: f64) -> String {
    let v = if v == 0.0 { 0.0 } else { v }; // no "-0"
    for digits in (1..=15).rev() {
        let s = format!("{v:.digits$}");
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        if s.len() <= 16 {
            return s;
        }
    }
    format!("{v:.6e}")
}

/// A new UID under the UUID-derived root 2.25 (ITU-T X.667): 128 bits from the time, the
/// process and a counter, mixed so that two calls never share a prefix pattern.
pub fn new_uid() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let seed = (nanos as u64) ^ ((std::process::id() as u64) << 32);
    let hi = mix(seed.wrapping_add(n.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
    let lo = mix(hi ^ (nanos >> 64) as u64 ^ n);
    // Clear the top bit so the decimal never starts with a 0-padded value issue; UIDs are
    // limited to 64 characters: "2.25." + at most 39 digits.
    let value = ((u128::from(hi) << 64) | u128::from(lo)) >> 1;
    format!("2.25.{value}")
}

/// The date (YYYYMMDD) and time (HHMMSS) now, in UTC.
pub fn now_date_time() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, (rem / 60) % 60, rem % 60),
    )
}

/// Who and where the derived objects belong: the patient and study (from the source CT, or
/// generated), the frame of reference, and the source to refer back to.
#[derive(Clone, Debug)]
pub struct Identity {
    pub study: StudyInfo,
    pub frame_of_reference_uid: String,
    pub source: Option<DicomSource>,
    /// Values made up because the source lacked them (said in warnings).
    pub warnings: Vec<String>,
    pub date: String,
    pub time: String,
}

impl Identity {
    /// From the CT's DICOM source; for a NIfTI CT (None) a new study is made. Missing UIDs
    /// and patient modules are generated and named in `warnings`.
    pub fn new(source: Option<&DicomSource>) -> Self {
        let (date, time) = now_date_time();
        let mut warnings = Vec::new();
        let mut study = source.map(|s| s.study.clone()).unwrap_or_default();
        if source.is_none() {
            warnings.push(
                "the CT was not DICOM: the objects belong to a new study (new StudyInstanceUID and FrameOfReferenceUID) and refer to no source images"
                    .into(),
            );
        }
        if study.study_instance_uid.is_empty() {
            study.study_instance_uid = new_uid();
            if source.is_some() {
                warnings.push("the source CT had no StudyInstanceUID: generated one".into());
            }
        }
        if !study.has_patient() {
            study.patient_id = format!("SRRD-{}", &new_uid()[5..17]);
            study.patient_name = "Anonymous^SRRD".into();
            warnings.push(format!(
                "no patient module in the source: generated PatientID {} and PatientName {}",
                study.patient_id, study.patient_name
            ));
        }
        if study.study_id.is_empty() && source.is_none() {
            study.study_id = "SRRD".into();
        }
        if study.study_date.is_empty() {
            study.study_date = date.clone();
            study.study_time = time.clone();
        }
        let frame_of_reference_uid = match source.and_then(|s| s.frame_of_reference_uid.clone()) {
            Some(uid) => uid,
            None => {
                if source.is_some() {
                    warnings.push(
                        "the source CT had no FrameOfReferenceUID: generated one, so viewers will not register the objects with the CT automatically"
                            .into(),
                    );
                }
                new_uid()
            }
        };
        Identity {
            study,
            frame_of_reference_uid,
            source: source.cloned(),
            warnings,
            date,
            time,
        }
    }

    /// The Patient, General Study, General Series, Frame of Reference, (Enhanced) General
    /// Equipment and SOP Common modules of a new instance.
    pub(crate) fn base(&self, s: &InstanceHeader) -> InMemDicomObject {
        let mut o = InMemDicomObject::new_empty();
        put_str(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put_str(&mut o, tags::SOP_CLASS_UID, VR::UI, s.sop_class_uid);
        put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, &s.sop_instance_uid);
        let st = &self.study;
        put_str(&mut o, tags::PATIENT_NAME, VR::PN, &st.patient_name);
        put_str(&mut o, tags::PATIENT_ID, VR::LO, &st.patient_id);
        put_str(
            &mut o,
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            &st.patient_birth_date,
        );
        put_str(&mut o, tags::PATIENT_SEX, VR::CS, &st.patient_sex);
        put_str(
            &mut o,
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            &st.study_instance_uid,
        );
        put_str(&mut o, tags::STUDY_DATE, VR::DA, &st.study_date);
        put_str(&mut o, tags::STUDY_TIME, VR::TM, &st.study_time);
        put_str(&mut o, tags::STUDY_ID, VR::SH, &st.study_id);
        put_str(&mut o, tags::ACCESSION_NUMBER, VR::SH, &st.accession_number);
        put_str(
            &mut o,
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            &st.referring_physician_name,
        );
        if !st.study_description.is_empty() {
            put_str(
                &mut o,
                tags::STUDY_DESCRIPTION,
                VR::LO,
                &st.study_description,
            );
        }
        put_str(&mut o, tags::MODALITY, VR::CS, s.modality);
        put_str(
            &mut o,
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &s.series_instance_uid,
        );
        put_str(
            &mut o,
            tags::SERIES_NUMBER,
            VR::IS,
            &s.series_number.to_string(),
        );
        put_str(
            &mut o,
            tags::SERIES_DESCRIPTION,
            VR::LO,
            &s.series_description,
        );
        put_str(&mut o, tags::SERIES_DATE, VR::DA, &self.date);
        put_str(&mut o, tags::SERIES_TIME, VR::TM, &self.time);
        put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
        put_str(&mut o, tags::CONTENT_DATE, VR::DA, &self.date);
        put_str(&mut o, tags::CONTENT_TIME, VR::TM, &self.time);
        put_str(&mut o, tags::INSTANCE_CREATION_DATE, VR::DA, &self.date);
        put_str(&mut o, tags::INSTANCE_CREATION_TIME, VR::TM, &self.time);
        put_str(&mut o, tags::MANUFACTURER, VR::LO, MANUFACTURER);
        put_str(&mut o, tags::MANUFACTURER_MODEL_NAME, VR::LO, "srrd");
        put_str(&mut o, tags::DEVICE_SERIAL_NUMBER, VR::LO, "0");
        put_str(
            &mut o,
            tags::SOFTWARE_VERSIONS,
            VR::LO,
            env!("CARGO_PKG_VERSION"),
        );
        o
    }

    /// The Frame of Reference module (image objects only).
    pub(crate) fn put_frame_of_reference(&self, o: &mut InMemDicomObject) {
        put_str(
            o,
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &self.frame_of_reference_uid,
        );
        put_str(o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    }

    /// The Common Instance Reference module: the source series and its instances.
    pub(crate) fn put_references(&self, o: &mut InMemDicomObject) {
        let Some(src) = &self.source else {
            return;
        };
        let instances = src
            .instances
            .iter()
            .map(|uid| {
                let mut i = InMemDicomObject::new_empty();
                put_str(
                    &mut i,
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    &src.sop_class_uid,
                );
                put_str(&mut i, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, uid);
                i
            })
            .collect();
        let mut series = InMemDicomObject::new_empty();
        put_str(
            &mut series,
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &src.series_instance_uid,
        );
        put_seq(&mut series, tags::REFERENCED_INSTANCE_SEQUENCE, instances);
        put_seq(o, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);
    }

    /// The Derivation Image macro of frame `k`, when slice k is one source image.
    pub(crate) fn derivation_item(&self, k: usize, derivation: &Code) -> Option<InMemDicomObject> {
        let src = self.source.as_ref()?;
        let slice = src.slices.get(k)?.as_ref()?;
        let mut source = InMemDicomObject::new_empty();
        put_str(
            &mut source,
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            &src.sop_class_uid,
        );
        put_str(
            &mut source,
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            &slice.sop_instance_uid,
        );
        if let Some(f) = slice.frame {
            put_str(
                &mut source,
                tags::REFERENCED_FRAME_NUMBER,
                VR::IS,
                &f.to_string(),
            );
        }
        put_code(
            &mut source,
            tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
            &Code::new(
                "121322",
                "DCM",
                "Source image for image processing operation",
            ),
        );
        let mut d = InMemDicomObject::new_empty();
        put_code(&mut d, tags::DERIVATION_CODE_SEQUENCE, derivation);
        put_seq(&mut d, tags::SOURCE_IMAGE_SEQUENCE, vec![source]);
        Some(d)
    }
}

/// Declares the local coding scheme 99SRRD (the parameters and P(KOA), which no standard
/// scheme codes) in the Coding Scheme Identification Sequence.
pub(crate) fn put_local_scheme(o: &mut InMemDicomObject) {
    let mut s = InMemDicomObject::new_empty();
    put_str(&mut s, tags::CODING_SCHEME_DESIGNATOR, VR::SH, "99SRRD");
    put_str(
        &mut s,
        tags::CODING_SCHEME_NAME,
        VR::ST,
        "SRRD workstation local codes",
    );
    put_str(
        &mut s,
        tags::CODING_SCHEME_RESPONSIBLE_ORGANIZATION,
        VR::ST,
        "SRRD workstation project",
    );
    put_seq(o, tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE, vec![s]);
}

/// What identifies one new instance and its series.
pub(crate) struct InstanceHeader {
    pub sop_class_uid: &'static str,
    pub sop_instance_uid: String,
    pub modality: &'static str,
    pub series_instance_uid: String,
    pub series_number: u32,
    pub series_description: String,
}

/// The slice planes of a volume as multi-frame geometry: orientation, pixel spacing and
/// the position of slice k.
pub(crate) struct Planes {
    pub rows: usize,
    pub cols: usize,
    pub orientation: [f64; 6],
    /// (between rows, between columns), as PixelSpacing.
    pub pixel_spacing: [f64; 2],
    pub slice_spacing: f64,
    origin: Vector3<f64>,
    normal_step: Vector3<f64>,
}

impl Planes {
    pub fn new(g: &Geometry) -> Self {
        let r = g.direction.column(0);
        let c = g.direction.column(1);
        Planes {
            rows: g.size[1],
            cols: g.size[0],
            orientation: [r[0], r[1], r[2], c[0], c[1], c[2]],
            pixel_spacing: [g.spacing_mm[1], g.spacing_mm[0]],
            slice_spacing: g.spacing_mm[2],
            origin: g.origin_mm.coords,
            normal_step: g.direction.column(2) * g.spacing_mm[2],
        }
    }

    /// ImagePositionPatient of slice k.
    pub fn position(&self, k: usize) -> [f64; 3] {
        let p = self.origin + self.normal_step * k as f64;
        [p.x, p.y, p.z]
    }

    /// The shared Pixel Measures and Plane Orientation functional groups.
    pub fn shared_groups(&self, o: &mut InMemDicomObject) {
        let mut measures = InMemDicomObject::new_empty();
        put_ds(&mut measures, tags::PIXEL_SPACING, &self.pixel_spacing);
        put_ds(&mut measures, tags::SLICE_THICKNESS, &[self.slice_spacing]);
        put_ds(
            &mut measures,
            tags::SPACING_BETWEEN_SLICES,
            &[self.slice_spacing],
        );
        put_seq(o, tags::PIXEL_MEASURES_SEQUENCE, vec![measures]);
        let mut orient = InMemDicomObject::new_empty();
        put_ds(
            &mut orient,
            tags::IMAGE_ORIENTATION_PATIENT,
            &self.orientation,
        );
        put_seq(o, tags::PLANE_ORIENTATION_SEQUENCE, vec![orient]);
    }

    /// The Plane Position functional group of slice k.
    pub fn position_group(&self, o: &mut InMemDicomObject, k: usize) {
        let mut pos = InMemDicomObject::new_empty();
        put_ds(&mut pos, tags::IMAGE_POSITION_PATIENT, &self.position(k));
        put_seq(o, tags::PLANE_POSITION_SEQUENCE, vec![pos]);
    }
}

/// The Multi-frame Dimension module: a 3D organization whose index runs over `indices`,
/// each (attribute, the functional group holding it, a label).
pub(crate) fn put_dimensions(o: &mut InMemDicomObject, indices: &[(Tag, Tag, &str)]) {
    let org_uid = new_uid();
    let mut org = InMemDicomObject::new_empty();
    put_str(&mut org, tags::DIMENSION_ORGANIZATION_UID, VR::UI, &org_uid);
    put_seq(o, tags::DIMENSION_ORGANIZATION_SEQUENCE, vec![org]);
    put_str(o, tags::DIMENSION_ORGANIZATION_TYPE, VR::CS, "3D");
    let items = indices
        .iter()
        .map(|&(index, group, label)| {
            let mut d = InMemDicomObject::new_empty();
            put_str(&mut d, tags::DIMENSION_ORGANIZATION_UID, VR::UI, &org_uid);
            d.put(DataElement::new(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![index].into()),
            ));
            d.put(DataElement::new(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::Tags(vec![group].into()),
            ));
            put_str(&mut d, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
            d
        })
        .collect();
    put_seq(o, tags::DIMENSION_INDEX_SEQUENCE, items);
}

/// The pixel description of a derived multi-frame image: one monochrome sample per pixel
/// on the planes' rows and columns, `bits_allocated` bits each, made by this program.
pub(crate) fn put_monochrome_frames(
    o: &mut InMemDicomObject,
    planes: &Planes,
    bits_allocated: u16,
) {
    put_str(o, tags::CONTENT_CREATOR_NAME, VR::PN, "SRRD^workstation");
    put_u16(o, tags::SAMPLES_PER_PIXEL, 1);
    put_str(o, tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    put_u16(o, tags::ROWS, planes.rows as u16);
    put_u16(o, tags::COLUMNS, planes.cols as u16);
    put_u16(o, tags::BITS_ALLOCATED, bits_allocated);
}

/// Refuses an output folder that exists and is not empty, unless `force`.
pub fn prepare_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.is_file() {
        return Err(Error::file(
            dir,
            "is a file; the DICOM output must be a folder",
        ));
    }
    if dir.is_dir() && !force {
        let mut entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        if entries.next().is_some() {
            return Err(Error::file(
                dir,
                "exists and is not empty; choose a new folder or pass --force to write into it",
            ));
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Writes one instance as a Part 10 file (explicit VR little endian), atomically.
pub(crate) fn write_instance(obj: InMemDicomObject, path: &Path) -> Result<PathBuf> {
    let sop_class = obj
        .element(tags::SOP_CLASS_UID)
        .ok()
        .and_then(|e| e.to_str().ok().map(|s| s.to_string()))
        .unwrap_or_default();
    let sop_instance = obj
        .element(tags::SOP_INSTANCE_UID)
        .ok()
        .and_then(|e| e.to_str().ok().map(|s| s.to_string()))
        .unwrap_or_default();
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .implementation_class_uid("2.25.302934812273490201982736402927361830")
        .implementation_version_name("SRRD_0_1");
    let file = obj
        .with_meta(meta)
        .map_err(|e| Error::file(path, format!("cannot build the file meta ({e})")))?;
    let tmp = path.with_extension("dcm.partial");
    file.write_to_file(&tmp)
        .map_err(|e| Error::file(&tmp, format!("cannot write DICOM ({e})")))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_strings_fit_sixteen_characters() {
        assert_eq!(ds(0.5), "0.5");
        assert_eq!(ds(-0.0), "0");
        assert_eq!(ds(-72.7864990234375), "-72.786499023438");
        assert!(ds(1.0 / 3.0).len() <= 16);
        assert!(ds(123_456_789.123_45).len() <= 16);
        let back: f64 = ds(-72.7864990234375).parse().unwrap_or(f64::NAN);
        assert!((back + 72.7864990234375).abs() < 1e-9);
    }

    #[test]
    fn uids_are_valid_and_distinct() {
        let a = new_uid();
        let b = new_uid();
        assert_ne!(a, b);
        for u in [&a, &b] {
            assert!(u.starts_with("2.25.") && u.len() <= 64, "{u}");
            assert!(u[5..].chars().all(|c| c.is_ascii_digit()), "{u}");
            assert!(!u[5..].starts_with('0') || u.len() == 6, "{u}");
        }
    }

    #[test]
    fn dates_are_civil() {
        let (d, t) = now_date_time();
        assert_eq!(d.len(), 8);
        assert_eq!(t.len(), 6);
        let year: i32 = d[..4].parse().unwrap_or(0);
        assert!((2024..2200).contains(&year), "{d}");
        let month: u32 = d[4..6].parse().unwrap_or(0);
        assert!((1..=12).contains(&month));
    }
}
