//! `srrd pacs` without a PACS: the node configuration's errors name the file and the
//! problem, and a node that refuses or never answers is an error within the timeout
//! (never a hang). The exchanges with a real PACS are in tests/real_files/pacs_node_check.py.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn srrd(config_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_srrd"))
        .args(args)
        .env("SRRD_CONFIG_DIR", config_dir)
        .output()
        .expect("run srrd")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).trim().to_string()
}

#[test]
fn config_errors_name_the_file_and_the_problem() {
    let d = tempfile::tempdir().expect("tmp");
    let o = srrd(d.path(), &["pacs", "echo", "--node", "pacs"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        e.contains("nodes.toml") && e.contains("no node configuration here"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    std::fs::write(
        d.path().join("nodes.toml"),
        "[nodes.pacs]\nae_title = \"A_TITLE_OF_17_CHRS\"\nhost = \"127.0.0.1\"\nport = 104\n",
    )
    .expect("write");
    let e = stderr(&srrd(d.path(), &["pacs", "find", "--node", "pacs"]));
    assert!(
        e.contains("[nodes.pacs]") && e.contains("longer than 16"),
        "{e}"
    );

    std::fs::write(
        d.path().join("nodes.toml"),
        "[nodes.pacs]\nae_title = \"PACS\"\nhost = \"127.0.0.1\"\nport = 104\n",
    )
    .expect("write");
    let e = stderr(&srrd(
        d.path(),
        &["pacs", "get", "--node", "other", "--study", "1.2"],
    ));
    assert!(e.contains("no node named \"other\" (known: pacs)"), "{e}");
    let o = srrd(
        d.path(),
        &["pacs", "find", "--node", "pacs", "--date", "2026-12-01"],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("expected YYYYMMDD"), "{}", stderr(&o));
}

#[test]
fn a_refusing_or_mute_node_is_an_error_within_the_timeout() {
    let d = tempfile::tempdir().expect("tmp");
    // A port nobody listens on (bound then released) and one that accepts and stays mute.
    let closed = TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed_port = closed.local_addr().expect("addr").port();
    drop(closed);
    let mute = TcpListener::bind("127.0.0.1:0").expect("bind");
    let mute_port = mute.local_addr().expect("addr").port();
    std::fs::write(
        d.path().join("nodes.toml"),
        format!(
            "[local]\nae_title = \"SRRD\"\ntimeout_s = 1\n\
             [nodes.closed]\nae_title = \"C\"\nhost = \"127.0.0.1\"\nport = {closed_port}\n\
             [nodes.mute]\nae_title = \"M\"\nhost = \"127.0.0.1\"\nport = {mute_port}\n"
        ),
    )
    .expect("write");
    let o = srrd(d.path(), &["pacs", "echo", "--node", "closed"]);
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        e.contains("node closed: association failed") && e.contains("refused"),
        "{e}"
    );

    let t = Instant::now();
    let o = srrd(d.path(), &["pacs", "echo", "--node", "mute", "--json"]);
    let took = t.elapsed();
    let e = stderr(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty(), "nothing on stdout on error");
    assert!(
        e.contains("node mute") && e.contains("no answer within 1 s"),
        "{e}"
    );
    assert!(took < Duration::from_secs(8), "took {took:?}");
    drop(mute);
}
