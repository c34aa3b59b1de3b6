//! The node configuration file, `nodes.toml` (in `$SRRD_CONFIG_DIR`, default
//! `~/.config/srrd`): our own AE title, port and timeout, and the named remote nodes.
//!
//! ```toml
//! [local]
//! ae_title = "SRRD"      # our calling AE title
//! port = 11112           # where our storage SCP would listen (C-MOVE destination)
//! timeout_s = 30         # every network wait (connect, read, write)
//!
//! [nodes.pacs]
//! ae_title = "ORTHANC"
//! host = "127.0.0.1"
//! port = 4242
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{NodeError, Result};

/// Our own application entity.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Our AE title (calling AE title of every association we start).
    #[serde(default = "default_ae")]
    pub ae_title: String,
    /// Our listening port (for a storage SCP).
    #[serde(default = "default_port")]
    pub port: u16,
    /// Seconds every network wait may take before it is an error.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
}

fn default_ae() -> String {
    "SRRD".into()
}
fn default_port() -> u16 {
    11112
}
fn default_timeout() -> f64 {
    30.0
}

impl Default for LocalConfig {
    fn default() -> Self {
        LocalConfig {
            ae_title: default_ae(),
            port: default_port(),
            timeout_s: default_timeout(),
        }
    }
}

impl LocalConfig {
    /// The network timeout as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_s)
    }
}

/// One remote DICOM node.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// The node's AE title (called AE title).
    pub ae_title: String,
    /// Host name or address.
    pub host: String,
    /// DICOM port.
    pub port: u16,
}

/// The whole `nodes.toml`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct NodesFile {
    /// Our own AE.
    #[serde(default)]
    pub local: LocalConfig,
    /// Remote nodes by name.
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeConfig>,
    /// Where it was read from (for messages).
    #[serde(skip)]
    pub path: PathBuf,
}

/// The configuration folder: `$SRRD_CONFIG_DIR`, else `$XDG_CONFIG_HOME/srrd`, else
/// `~/.config/srrd`.
pub fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SRRD_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("srrd");
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".config").join("srrd")
}

/// The default `nodes.toml` path.
pub fn default_path() -> PathBuf {
    config_dir().join("nodes.toml")
}

/// Checks an AE title: 1-16 characters of printable ASCII, no backslash, not all spaces.
pub fn check_ae_title(ae: &str) -> std::result::Result<(), String> {
    if ae.trim().is_empty() {
        return Err("an AE title may not be empty".into());
    }
    if ae.len() > 16 {
        return Err(format!("AE title {ae:?} is longer than 16 characters"));
    }
    if !ae.chars().all(|c| c.is_ascii_graphic() || c == ' ') || ae.contains('\\') {
        return Err(format!(
            "AE title {ae:?} may hold only printable ASCII without backslash"
        ));
    }
    Ok(())
}

impl NodesFile {
    /// Reads and checks a nodes file.
    pub fn read(path: &Path) -> Result<NodesFile> {
        let cfg_err = |problem: String| NodeError::Config {
            path: path.to_path_buf(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                cfg_err(
                    "no node configuration here (write one: [local] ae_title/port, \
                     [nodes.NAME] ae_title/host/port; $SRRD_CONFIG_DIR moves it)"
                        .into(),
                )
            } else {
                cfg_err(e.to_string())
            }
        })?;
        let mut file: NodesFile =
            toml::from_str(&text).map_err(|e| cfg_err(e.to_string().trim().replace('\n', " ")))?;
        file.path = path.to_path_buf();
        check_ae_title(&file.local.ae_title).map_err(|p| cfg_err(format!("[local]: {p}")))?;
        if !(file.local.timeout_s.is_finite() && file.local.timeout_s > 0.0) {
            return Err(cfg_err(format!(
                "[local]: timeout_s must be a positive number of seconds, not {}",
                file.local.timeout_s
            )));
        }
        for (name, node) in &file.nodes {
            check_ae_title(&node.ae_title).map_err(|p| cfg_err(format!("[nodes.{name}]: {p}")))?;
            if node.host.trim().is_empty() {
                return Err(cfg_err(format!("[nodes.{name}]: host is empty")));
            }
            if node.port == 0 {
                return Err(cfg_err(format!("[nodes.{name}]: port 0 is not a port")));
            }
        }
        Ok(file)
    }

    /// Reads `path`, or the default file when `path` is `None`.
    pub fn read_or_default(path: Option<&Path>) -> Result<NodesFile> {
        match path {
            Some(p) => NodesFile::read(p),
            None => NodesFile::read(&default_path()),
        }
    }

    /// The node called `name`, or an error listing the known ones.
    pub fn node(&self, name: &str) -> Result<&NodeConfig> {
        self.nodes.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.nodes.keys().map(|s| s.as_str()).collect();
            NodeError::Config {
                path: self.path.clone(),
                problem: format!(
                    "no node named {name:?} (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("nodes.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn reads_nodes_and_defaults() {
        let d = tempfile::tempdir().unwrap();
        let p = write(
            d.path(),
            "[local]\nae_title = \"WS1\"\n[nodes.pacs]\nae_title = \"ORTHANC\"\nhost = \"127.0.0.1\"\nport = 4242\n",
        );
        let f = NodesFile::read(&p).unwrap();
        assert_eq!(f.local.ae_title, "WS1");
        assert_eq!(f.local.port, 11112);
        assert_eq!(f.local.timeout(), Duration::from_secs(30));
        assert_eq!(f.node("pacs").unwrap().port, 4242);
        let err = f.node("other").unwrap_err().to_string();
        assert!(
            err.contains("no node named \"other\" (known: pacs)"),
            "{err}"
        );
        assert!(err.contains("nodes.toml"), "{err}");
    }

    #[test]
    fn bad_files_name_the_file_and_the_problem() {
        let d = tempfile::tempdir().unwrap();
        let missing = NodesFile::read(&d.path().join("nodes.toml"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("no node configuration here"), "{missing}");
        let p = write(
            d.path(),
            "[nodes.x]\nae_title = \"THIS_AE_TITLE_IS_TOO_LONG\"\nhost = \"h\"\nport = 1\n",
        );
        let e = NodesFile::read(&p).unwrap_err().to_string();
        assert!(
            e.contains("[nodes.x]") && e.contains("longer than 16"),
            "{e}"
        );
        let p = write(
            d.path(),
            "[nodes.x]\nae_title = \"A\"\nhost = \"h\"\nport = 0\n",
        );
        assert!(
            NodesFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("port 0")
        );
        let p = write(
            d.path(),
            "[nodes.x]\nae_title = \"A\"\nhost = \"h\"\nport = 99999\n",
        );
        assert!(NodesFile::read(&p).is_err());
        let p = write(d.path(), "[local]\ntimeout_s = -1\n");
        assert!(
            NodesFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("timeout_s")
        );
        let p = write(d.path(), "[nodes.x]\nae = \"A\"\n");
        assert!(
            NodesFile::read(&p)
                .unwrap_err()
                .to_string()
                .contains("nodes.toml")
        );
    }
}
