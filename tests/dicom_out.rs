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
use srrd::volume::{Geometry, LabelMap, Volume};

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
    let labels = LabelMap::from_fn(g.clone(), |i, j, k| {
        u8::from(k != 1 && (i + j + k) % 3 == 0)
    });
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

/// The whole export on a small knee without a classifier: six files, the report says why
/// there is no P(KOA) and still holds every subregion's parameters; a source without a
/// frame of reference or patient module gets generated values, said in warnings.
#[test]
fn export_without_classifier_or_frame_of_reference() {
    use srrd::diagnosis::features::SubregionStats;
    use srrd::pipeline::analyze::KneeReport;
    use srrd::pipeline::dicom_export::{ExportContext, KneeResults, export_dicom};
    use srrd::pipeline::quality::{Check, Status};
    use srrd::segmentation::knees::Side;
    let tmp = tempfile::tempdir().expect("tmp");
    let g = geometry();
    let n = 5 * 4 * 3;
    // Femur in slice 0, tibia in slice 2; subregion k+1 at voxel k (12 of them).
    let bones =
        LabelMap::new(g.clone(), (0..n).map(|i| [1u8, 0, 2][i / 20]).collect()).expect("bones");
    let subregions = LabelMap::new(
        g.clone(),
        (0..n)
            .map(|i| if i < 12 { i as u8 + 1 } else { 0 })
            .collect(),
    )
    .expect("subregions");
    let map = Volume::from_fn(
        g.clone(),
        |i, _, k| if k == 0 { 0.5 + i as f32 } else { 0.0 },
    );
    let stats: Vec<SubregionStats> = srrd::diagnosis::subregions::NAMES
        .iter()
        .enumerate()
        .map(|(k, name)| SubregionStats {
            label: k as u8 + 1,
            name: name.to_string(),
            patches: 3,
            mean: [0.3, 0.2 + k as f64 / 100.0, 0.5, 1.5],
            sd: [0.01, 0.02, 0.03, 0.04],
        })
        .collect();
    let knee = KneeReport {
        side: Side::Left,
        side_from: "fibula".into(),
        knees_in_ct: 1,
        ct_spacing_mm: [0.5, 0.7, 2.0],
        working_spacing_mm: [0.5, 0.7, 2.0],
    };
    let checks = vec![Check::new("acquisition", Status::Warn, "thick slices")];
    let results = KneeResults {
        bones: &bones,
        subregions: &subregions,
        maps: vec![&map, &map, &map, &map],
        stats: &stats,
        koa: None,
        koa_withheld: None,
        knee: &knee,
        checks: &checks,
    };
    let mut src = source();
    src.frame_of_reference_uid = None;
    src.study.patient_id.clear();
    src.study.patient_name.clear();
    let dir = tmp.path().join("dicom");
    let export = export_dicom(
        &results,
        &ExportContext {
            ct_geometry: &g,
            source: Some(&src),
            provenance: "phantom-trained",
            model_version: "test".into(),
        },
        &dir,
        false,
    )
    .expect("export");
    assert_eq!(export.files.len(), 6, "{:?}", export.files);
    assert_eq!(
        export.seg_segments,
        2 + 12,
        "femur, tibia and 12 subregions"
    );
    let w = export.warnings.join(" | ");
    assert!(
        w.contains("FrameOfReferenceUID") && w.contains("PatientID"),
        "{w}"
    );
    assert!(
        !dir.join(".srrd-partial").exists(),
        "no staging left behind"
    );
    let sr = open_file(dir.join("sr.dcm")).expect("sr");
    let mut texts = Vec::new();
    let mut nums = 0;
    fn walk(o: &InMemDicomObject, texts: &mut Vec<String>, nums: &mut usize) {
        if text(o, tags::VALUE_TYPE) == "NUM" {
            *nums += 1;
        }
        if o.element(tags::TEXT_VALUE).is_ok() {
            texts.push(text(o, tags::TEXT_VALUE));
        }
        for child in seq(o, tags::CONTENT_SEQUENCE) {
            walk(&child, texts, nums);
        }
    }
    walk(&sr, &mut texts, &mut nums);
    assert_eq!(
        nums,
        12 * 8,
        "mean and SD of 4 parameters for 12 subregions, no P(KOA)"
    );
    assert!(
        texts.iter().any(|t| t.contains("not computed")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("Research use only")));
    assert!(
        texts.iter().any(|t| t.contains("thick slices")),
        "the warned check"
    );
    // The generated frame of reference is shared by the SEG and the maps.
    let seg = open_file(dir.join("seg.dcm")).expect("seg");
    let pm = open_file(dir.join("pmap_tb_th_mm.dcm")).expect("pm");
    let for_uid = text(&seg, tags::FRAME_OF_REFERENCE_UID);
    assert!(for_uid.starts_with("2.25."));
    assert_eq!(text(&pm, tags::FRAME_OF_REFERENCE_UID), for_uid);
    assert_eq!(
        text(&seg, tags::STUDY_INSTANCE_UID),
        "1.2.3.1",
        "the CT's study"
    );
}
