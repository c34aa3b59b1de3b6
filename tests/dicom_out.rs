//! DICOM out on a small oblique grid with known labels and values: the Segmentation's
//! frames sit where the grid's slices are and unpack to the labels; the Parametric Map's
//! floats are the map's; the report's numbers are the ones given; references follow the
//! source series; a non-empty folder is refused. (highdicom, pydicom and dciodvfy check the
//! real analysis in tests/real_files/dicom_out_check.py.)

use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, open_file};
use nalgebra::{Matrix3, Point3, Vector3};
use ndarray::Array3;
use srrd::io::dicom::{DicomSource, SourceSlice, StudyInfo};
use srrd::io::dicom_out::pmap::{MapRequest, write_parametric_map};
use srrd::io::dicom_out::seg::{SegRequest, Segment, SegmentDef, write_seg};
use srrd::io::dicom_out::sr::{Group, Measurement, ReportRequest, write_measurement_report};
use srrd::io::dicom_out::{Code, Identity, prepare_dir};
use srrd::volume::{Geometry, Volume};

fn geometry() -> Geometry {
    let r = Vector3::new(0.8, 0.6, 0.0);
    let c = Vector3::new(-0.36, 0.48, 0.8);
    let n = r.cross(&c);
    Geometry {
        size: [5, 4, 3],
        spacing_mm: Vector3::new(0.5, 0.7, 2.0),
        origin_mm: Point3::new(10.0, -20.0, 30.0),
        direction: Matrix3::from_columns(&[r, c, n]),
    }
}

fn source() -> DicomSource {
    DicomSource {
        study: StudyInfo {
            patient_name: "Test^Knee".into(),
            patient_id: "P1".into(),
            study_instance_uid: "1.2.3.1".into(),
            ..Default::default()
        },
        series_instance_uid: "1.2.3.2".into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        modality: "CT".into(),
        frame_of_reference_uid: Some("1.2.3.3".into()),
        slices: (0..3)
            .map(|k| {
                Some(SourceSlice {
                    sop_instance_uid: format!("1.2.3.4.{k}"),
                    frame: None,
                })
            })
            .collect(),
        instances: (0..3).map(|k| format!("1.2.3.4.{k}")).collect(),
    }
}

fn seq(o: &InMemDicomObject, tag: dicom_core::Tag) -> Vec<InMemDicomObject> {
    o.element(tag)
        .ok()
        .and_then(|e| e.items().map(|i| i.to_vec()))
        .unwrap_or_default()
}

fn floats(o: &InMemDicomObject, tag: dicom_core::Tag) -> Vec<f64> {
    o.element(tag)
        .ok()
        .and_then(|e| e.to_multi_float64().ok())
        .unwrap_or_default()
}

fn text(o: &InMemDicomObject, tag: dicom_core::Tag) -> String {
    o.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok().map(|s| s.trim().to_string()))
        .unwrap_or_default()
}

#[test]
fn segmentation_frames_sit_on_the_grid_and_unpack_to_the_labels() {
    let tmp = tempfile::tempdir().expect("tmp");
    let g = geometry();
    // Label 1 in slices 0 and 2 (a few voxels), label 2 nowhere.
    let mut labels = vec![0u8; 5 * 4 * 3];
    for (idx, v) in labels.iter_mut().enumerate() {
        let (i, j, k) = (idx % 5, (idx / 5) % 4, idx / 20);
        if k != 1 && (i + j + k) % 3 == 0 {
            *v = 1;
        }
    }
    let def = |label: &str| SegmentDef {
        label: label.into(),
        description: String::new(),
        category: Code::new("91723000", "SCT", "Anatomical Structure"),
        property_type: Code::new("71341001", "SCT", "Femur"),
        rgb: [200, 100, 50],
    };
    let id = Identity::new(Some(&source()));
    let path = tmp.path().join("seg.dcm");
    let written = write_seg(
        &id,
        &SegRequest {
            geometry: &g,
            segments: vec![
                Segment {
                    def: def("femur"),
                    labels: &labels,
                    value: 1,
                },
                Segment {
                    def: def("empty"),
                    labels: &labels,
                    value: 2,
                },
            ],
            series_description: "test".into(),
            series_number: 1,
            algorithm_name: "test".into(),
            algorithm_version: "0".into(),
        },
        &path,
    )
    .expect("write seg");
    assert_eq!(
        written.numbers,
        vec![(0, 1)],
        "the empty segment is left out"
    );
    assert_eq!(written.frames, 2);
    let obj = open_file(&path).expect("read back");
    assert_eq!(text(&obj, tags::NUMBER_OF_FRAMES), "2");
    assert_eq!(text(&obj, tags::STUDY_INSTANCE_UID), "1.2.3.1");
    assert_eq!(text(&obj, tags::FRAME_OF_REFERENCE_UID), "1.2.3.3");
    assert_eq!(seq(&obj, tags::SEGMENT_SEQUENCE).len(), 1);
    let frames = seq(&obj, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    for (f, k) in frames.iter().zip([0usize, 2]) {
        let pos = floats(
            &seq(f, tags::PLANE_POSITION_SEQUENCE)[0],
            tags::IMAGE_POSITION_PATIENT,
        );
        let want = g.origin_mm.coords + g.direction.column(2) * (2.0 * k as f64);
        assert!((Vector3::new(pos[0], pos[1], pos[2]) - want).norm() < 1e-6);
        let derived = &seq(f, tags::DERIVATION_IMAGE_SEQUENCE)[0];
        let src = &seq(derived, tags::SOURCE_IMAGE_SEQUENCE)[0];
        assert_eq!(
            text(src, tags::REFERENCED_SOP_INSTANCE_UID),
            format!("1.2.3.4.{k}")
        );
    }
    let bytes = obj
        .element(tags::PIXEL_DATA)
        .expect("pixels")
        .to_bytes()
        .expect("bytes")
        .to_vec();
    for (n, k) in [0usize, 2].into_iter().enumerate() {
        for p in 0..20 {
            let bit = n * 20 + p;
            let on = bytes[bit / 8] >> (bit % 8) & 1 == 1;
            assert_eq!(on, labels[k * 20 + p] == 1, "frame {n} pixel {p}");
        }
    }
}

#[test]
fn parametric_map_holds_the_floats_of_the_slices_with_values() {
    let tmp = tempfile::tempdir().expect("tmp");
    let g = geometry();
    let mut data = Array3::<f32>::zeros((3, 4, 5));
    data[[1, 2, 3]] = 0.75;
    data[[2, 0, 1]] = 1.25;
    let map = Volume::from_data(g.clone(), data).expect("map");
    let id = Identity::new(None);
    assert!(id.warnings.iter().any(|w| w.contains("new study")));
    let path = tmp.path().join("pm.dcm");
    let written = write_parametric_map(
        &id,
        &MapRequest {
            map: &map,
            name: "Tb.Th".into(),
            quantity: Code::new("TBTH", "99SRRD", "Trabecular thickness"),
            unit: Code::ucum("mm", "millimeter"),
            laterality: "R",
            series_number: 2,
            series_description: "t".into(),
        },
        &path,
    )
    .expect("write map");
    assert_eq!(written.slices, vec![1, 2]);
    let obj = open_file(&path).expect("read back");
    let values: Vec<f32> = obj
        .element(tags::FLOAT_PIXEL_DATA)
        .expect("float pixels")
        .to_bytes()
        .expect("bytes")
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(values.len(), 40);
    assert_eq!(values[2 * 5 + 3], 0.75);
    assert_eq!(values[20 + 1], 1.25);
    assert_eq!(values.iter().filter(|v| **v != 0.0).count(), 2);
    let shared = &seq(&obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE)[0];
    let mapping = &seq(shared, tags::REAL_WORLD_VALUE_MAPPING_SEQUENCE)[0];
    let unit = &seq(mapping, tags::MEASUREMENT_UNITS_CODE_SEQUENCE)[0];
    assert_eq!(text(unit, tags::CODE_VALUE), "mm");
    assert_eq!(text(&obj, tags::CONTENT_QUALIFICATION), "RESEARCH");
}

#[test]
fn report_holds_the_numbers_given_and_a_folder_in_use_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let id = Identity::new(Some(&source()));
    let path = tmp.path().join("sr.dcm");
    write_measurement_report(
        &id,
        &ReportRequest {
            procedure: Code::new("77477000", "SCT", "Computed tomography"),
            groups: vec![Group {
                tracking_id: "femur MA".into(),
                segment: Some(("1.2.9".into(), 3)),
                finding_site: None,
                measurements: vec![Measurement {
                    name: Code::new("TBTH", "99SRRD", "Trabecular thickness"),
                    value: 0.123456789,
                    unit: Code::ucum("mm", "millimeter"),
                    derivation: Some(Code::new("373098007", "SCT", "Mean")),
                }],
            }],
            evaluations: vec![(Code::new("121106", "DCM", "Comment"), "caveat".into())],
            algorithm: ("a".into(), "1".into()),
            evidence: vec![],
            series_number: 3,
            series_description: "t".into(),
        },
        &path,
    )
    .expect("write report");
    let obj = open_file(&path).expect("read back");
    let root = seq(&obj, tags::CONTENT_SEQUENCE);
    let measurements = root
        .iter()
        .find(|i| {
            text(
                &seq(i, tags::CONCEPT_NAME_CODE_SEQUENCE)[0],
                tags::CODE_VALUE,
            ) == "126010"
        })
        .expect("Imaging Measurements");
    let group = &seq(measurements, tags::CONTENT_SEQUENCE)[0];
    let items = seq(group, tags::CONTENT_SEQUENCE);
    let num = items
        .iter()
        .find(|i| text(i, tags::VALUE_TYPE) == "NUM")
        .expect("a NUM");
    let value = floats(
        &seq(num, tags::MEASURED_VALUE_SEQUENCE)[0],
        tags::FLOATING_POINT_VALUE,
    );
    assert_eq!(value, vec![0.123456789]);
    let segment = items
        .iter()
        .find(|i| text(i, tags::VALUE_TYPE) == "IMAGE")
        .expect("the referenced segment");
    let r = &seq(segment, tags::REFERENCED_SOP_SEQUENCE)[0];
    assert_eq!(text(r, tags::REFERENCED_SEGMENT_NUMBER), "3");
    // The folder now holds a file: refused without force, accepted with it.
    let err = prepare_dir(tmp.path(), false)
        .expect_err("not empty")
        .to_string();
    assert!(
        err.contains("not empty") && err.contains("--force"),
        "{err}"
    );
    prepare_dir(tmp.path(), true).expect("force");
}
