//! The node's client and its storage SCP talking to each other on localhost, no PACS
//! needed: C-ECHO, C-STORE of a small CT image written to the handler's folder byte for
//! byte (data set), a calling AE title not on the allow list rejected at association, and an
//! instance over the size limit refused without ending the service.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};
use srrd_base::progress::Progress;
use srrd_node::scp::{Received, ScpOptions};
use srrd_node::{LocalConfig, NodeConfig};

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";

fn ct_file(dir: &Path, instance: &str, pixels: usize) -> PathBuf {
    let mut o = InMemDicomObject::new_empty();
    let put = |o: &mut InMemDicomObject, t, vr, v: &str| {
        o.put(DataElement::new(t, vr, PrimitiveValue::from(v)))
    };
    put(&mut o, tags::SOP_CLASS_UID, VR::UI, CT);
    put(&mut o, tags::SOP_INSTANCE_UID, VR::UI, instance);
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, "1.2.3");
    put(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, "1.2.3.4");
    put(&mut o, tags::MODALITY, VR::CS, "CT");
    o.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(1u16),
    ));
    o.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        PrimitiveValue::from(pixels as u16),
    ));
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OW,
        PrimitiveValue::from(vec![7u8; pixels * 2]),
    ));
    let meta = FileMetaTableBuilder::new()
        .media_storage_sop_class_uid(CT)
        .media_storage_sop_instance_uid(instance)
        .transfer_syntax("1.2.840.10008.1.2.1")
        .build()
        .expect("meta");
    let path = dir.join(format!("{instance}.dcm"));
    o.with_exact_meta(meta).write_to_file(&path).expect("write");
    path
}

struct Scp {
    port: u16,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<String>>>,
}

fn start_scp(root: &Path) -> Scp {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let stop = Arc::new(AtomicBool::new(false));
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let root = root.to_path_buf();
    let handler = Arc::new(move |r: &Received| {
        srrd_node::cache::write_received(
            &root,
            r.sop_class,
            r.sop_instance,
            r.transfer_syntax,
            r.data,
        )
        .map(|_| ())
    });
    let l2 = log.clone();
    let logger = Arc::new(move |s: &str| l2.lock().expect("log").push(s.to_string()));
    let opts = ScpOptions {
        ae_title: "SERVICE".into(),
        allowed_callers: vec!["FRIEND".into()],
        timeout: Duration::from_secs(5),
        max_instance_bytes: 100_000,
        max_association_bytes: 10_000_000,
    };
    let s2 = stop.clone();
    std::thread::spawn(move || srrd_node::scp::serve(listener, opts, handler, logger, s2));
    Scp { port, stop, log }
}

#[test]
fn echo_store_reject_and_limits_on_localhost() {
    let d = tempfile::tempdir().expect("tmp");
    let received = d.path().join("received");
    let scp = start_scp(&received);
    let node = NodeConfig {
        ae_title: "SERVICE".into(),
        host: "127.0.0.1".into(),
        port: scp.port,
    };
    let friend = LocalConfig {
        ae_title: "FRIEND".into(),
        port: 0,
        timeout_s: 5.0,
    };
    srrd_node::echo::echo(&friend, "svc", &node).expect("echo");

    let src = d.path().join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    let small = ct_file(&src, "1.2.3.4.5", 64);
    let big = ct_file(&src, "1.2.3.4.6", 60_000);
    let (items, skipped) = srrd_node::store::collect(std::slice::from_ref(&src)).expect("collect");
    assert_eq!((items.len(), skipped.len()), (2, 0));
    let s =
        srrd_node::store::store(&friend, "svc", &node, &items, &Progress::new()).expect("store");
    assert_eq!(s.sent, 1, "{s:?}");
    assert_eq!(s.failed.len(), 1);
    assert_eq!(s.failed[0].0, big);
    assert!(s.failed[0].1.contains("failed with status 0xA700"), "{s:?}");
    let written = received.join("1.2.3").join("1.2.3.4").join("1.2.3.4.5.dcm");
    // The data set is the sender's byte for byte (the meta group is the receiver's own).
    let dataset = |p: &Path| {
        let item = srrd_node::store::read_item(p)
            .expect("read")
            .expect("part 10");
        let bytes = std::fs::read(p).expect("bytes");
        bytes[item.dataset_offset.expect("group length") as usize..].to_vec()
    };
    assert_eq!(dataset(&written), dataset(&small));
    assert!(dataset(&small).len() > 128);

    let stranger = LocalConfig {
        ae_title: "STRANGER".into(),
        ..friend.clone()
    };
    let e = srrd_node::echo::echo(&stranger, "svc", &node).expect_err("rejected");
    assert!(e.to_string().contains("association failed"), "{e}");
    std::thread::sleep(Duration::from_millis(300));
    let log = scp.log.lock().expect("log").clone();
    assert!(
        log.iter()
            .any(|l| l.contains("instance 1.2.3.4.6 of 120") && l.contains("(limit 100000 bytes)")),
        "{log:?}"
    );
    assert_eq!(
        log.iter()
            .filter(|l| l.contains("calling AE title \"STRANGER\" is not allowed"))
            .count(),
        1,
        "{log:?}"
    );
    // still serving after all that
    srrd_node::echo::echo(&friend, "svc", &node).expect("echo again");
    scp.stop.store(true, Ordering::SeqCst);
}
