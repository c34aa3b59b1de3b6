//! Property test over mutated files: whatever bytes a NIfTI or DICOM file holds, the
//! readers answer with an image or an error, never a panic. Run longer with
//! `PROPTEST_CASES=20000 cargo test --release --test fuzz_headers`.

use std::sync::OnceLock;

use proptest::prelude::*;
use srrd::io::{WriteDtype, nifti::read_nifti_bytes, read_image, write_nifti};
use srrd::volume::{Geometry, Volume};

fn valid_nifti() -> &'static Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tmp");
        let g = Geometry::new([5, 4, 3], [0.5, 0.7, 1.2], [1.0, 2.0, 3.0]);
        let v = Volume::from_fn(g, |i, j, k| (i + 10 * j + 100 * k) as f32);
        let p = dir.path().join("v.nii");
        write_nifti(&p, &v, WriteDtype::I16).expect("write");
        std::fs::read(&p).expect("read")
    })
}

fn valid_dicom() -> &'static Vec<u8> {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        use dicom_core::{DataElement, PrimitiveValue, VR};
        use dicom_dictionary_std::{tags, uids};
        use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag, vr, v: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, v));
        };
        put(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
        );
        put(
            tags::SOP_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4.5"),
        );
        put(tags::MODALITY, VR::CS, PrimitiveValue::from("CT"));
        put(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3"),
        );
        put(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::from("1\\2\\3"),
        );
        put(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            PrimitiveValue::from("1\\0\\0\\0\\1\\0"),
        );
        put(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::from("0.5\\0.5"),
        );
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            PrimitiveValue::from("MONOCHROME2"),
        );
        put(tags::ROWS, VR::US, PrimitiveValue::from(4u16));
        put(tags::COLUMNS, VR::US, PrimitiveValue::from(4u16));
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        );
        put(
            tags::RESCALE_INTERCEPT,
            VR::DS,
            PrimitiveValue::from("-1024"),
        );
        put(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U8((0u8..32).collect::<Vec<_>>().into()),
        );
        let file = obj
            .with_meta(FileMetaTableBuilder::new().transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN))
            .expect("meta");
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("x.dcm");
        file.write_to_file(&p).expect("write");
        std::fs::read(&p).expect("read")
    })
}

/// Byte edits (offset as a fraction of the length, new byte) and an optional truncation.
fn mutations() -> impl Strategy<Value = (Vec<(f64, u8)>, Option<f64>)> {
    (
        prop::collection::vec((0.0f64..1.0, any::<u8>()), 1..12),
        prop::option::of(0.0f64..1.0),
    )
}

fn mutate(base: &[u8], edits: &[(f64, u8)], cut: Option<f64>, header_bias: usize) -> Vec<u8> {
    let mut b = base.to_vec();
    for (at, v) in edits {
        // Half of the edits land in the header, where the interesting fields are.
        let span = if (*v as usize).is_multiple_of(2) {
            header_bias.min(b.len())
        } else {
            b.len()
        };
        let i = ((at * span as f64) as usize).min(b.len() - 1);
        b[i] = *v;
    }
    if let Some(c) = cut {
        b.truncate((c * b.len() as f64) as usize);
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_nifti_never_panics((edits, cut) in mutations()) {
        let bytes = mutate(valid_nifti(), &edits, cut, 352);
        let r = std::panic::catch_unwind(|| read_nifti_bytes(bytes.clone()).map(|_| ()));
        prop_assert!(r.is_ok(), "panic on mutated NIfTI");
    }

    #[test]
    fn mutated_dicom_never_panics((edits, cut) in mutations()) {
        let bytes = mutate(valid_dicom(), &edits, cut, 400);
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("m.dcm");
        std::fs::write(&p, &bytes).expect("write");
        let r = std::panic::catch_unwind(|| read_image(&p, None).map(|_| ()));
        prop_assert!(r.is_ok(), "panic on mutated DICOM");
    }
}

#[test]
fn unmutated_inputs_read() {
    let n = read_nifti_bytes(valid_nifti().clone()).expect("valid nifti");
    assert_eq!(n.volume.geometry.size, [5, 4, 3]);
    let dir = tempfile::tempdir().expect("tmp");
    let p = dir.path().join("ok.dcm");
    std::fs::write(&p, valid_dicom()).expect("write");
    let d = read_image(&p, None).expect("valid dicom");
    assert_eq!(d.volume.geometry.size, [4, 4, 1]);
    assert_eq!(
        d.volume.data[[0, 0, 0]],
        (u16::from_le_bytes([0, 1]) as i16) as f32 - 1024.0
    );
}
