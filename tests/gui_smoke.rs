//! The real binary in a real window: `srrd view --screenshot` on the demo knee under Xvfb
//! (wgpu on Mesa's software rasterizer), as a user would start it. The screenshot must
//! show the knee drawn by the GPU renderer, not a blank window.
//! Needs `xvfb-run` (scripts/setup-gui.sh, run by scripts/test.sh).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn real_window_shows_the_demo_knee() {
    let have_xvfb = Command::new("sh")
        .args(["-c", "command -v xvfb-run"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(have_xvfb, "xvfb-run is missing: run scripts/setup-gui.sh");
    let dir = tempfile::tempdir().expect("tmp");
    let shot = dir.path().join("window.png");
    let runtime = dir.path().join("xdg");
    std::fs::create_dir_all(&runtime).expect("dir");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let mut child = Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1400x900x24"])
        .arg(env!("CARGO_BIN_EXE_srrd"))
        .args(["view", "--screenshot"])
        .arg(&shot)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SRRD_CONFIG_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start xvfb-run");
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > Duration::from_secs(600) {
            let _ = child.kill();
            panic!("the window did not take its screenshot within 10 minutes");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(status.success(), "srrd view failed: {status}\n{stderr}");
    assert!(
        stderr.contains("GPU rendering"),
        "drawn by the GPU renderer:\n{stderr}"
    );
    let (w, h, buf) = srrd::io::raster::read_rgb(&shot).expect("screenshot written");
    let (w, h) = (w as usize, h as usize);
    assert!(w >= 1000 && h >= 700, "window size {w}x{h}");
    let px = 3;
    let pixels: Vec<[u8; 3]> = buf[..w * h * px]
        .chunks(px)
        .map(|c| [c[0], c[1], c[2]])
        .collect();
    // The demo shows the CT in grey with the MR as a hot (orange) overlay: bright bone,
    // many grey levels, and warm overlay pixels, which a blank window has none of.
    let warm = pixels
        .iter()
        .filter(|p| p[0] > 120 && p[0] as i32 > p[2] as i32 + 60)
        .count();
    let bright = pixels.iter().filter(|p| p.iter().all(|c| *c > 200)).count();
    let mut levels = std::collections::HashSet::new();
    for p in &pixels {
        levels.insert((p[0] / 8, p[1] / 8, p[2] / 8));
    }
    let n = pixels.len() as f64;
    assert!(warm as f64 > 0.01 * n, "overlay pixels: {warm} of {n}");
    assert!(bright as f64 > 0.001 * n, "bright pixels: {bright} of {n}");
    assert!(levels.len() > 300, "distinct colours: {}", levels.len());
}
