//! The workstation as a DICOM network node: the node configuration (`nodes.toml`), the
//! DIMSE messages on top of dicom-ul's upper layer (associations and PDUs), and the
//! services the CLI uses as a service class user: C-ECHO (`echo`), C-FIND at study and
//! series level (`find`), C-GET into a local cache (`get`) and C-STORE of files (`store`).
//! Files written from network data go through `cache`, which never builds a path from an
//! unsanitized value. This crate depends on the base layer only.

pub mod cache;
pub mod command;
pub mod config;
pub mod echo;
pub mod error;
pub mod find;
pub mod get;
pub mod message;
pub mod queue;
pub mod scp;
pub mod service;
pub mod store;
pub mod uids;

pub use config::{LocalConfig, NodeConfig, NodesFile};
pub use error::{NodeError, Result};
