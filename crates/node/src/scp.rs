//! A storage SCP: listens on a port, accepts associations only from configured calling AE
//! titles (others are rejected at association and logged), answers C-ECHO, and hands each
//! C-STORE'd instance to a handler (which writes it before the success status is sent).
//! Each association runs on its own thread with the network timeout on every wait and a
//! size limit per instance and per association; whatever a peer does wrong ends its
//! association with a log line, never the service.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use dicom_ul::ServerAssociationOptions;
use dicom_ul::association::Association;
use dicom_ul::association::server::AccessControl;
use dicom_ul::pdu::{AssociationRJServiceUserReason, UserIdentity};

use crate::command::{Command, NO_DATA_SET, field, tag};
use crate::message::{Link, MAX_PDU, error_chain};
use crate::uids::{ACCEPTED_TRANSFER_SYNTAXES, RETRIEVED_STORAGE_CLASSES, VERIFICATION};

/// How the SCP runs.
#[derive(Debug, Clone)]
pub struct ScpOptions {
    /// Our AE title (the called AE title must match).
    pub ae_title: String,
    /// Calling AE titles allowed to associate.
    pub allowed_callers: Vec<String>,
    /// Every network wait.
    pub timeout: Duration,
    /// The largest instance accepted, bytes.
    pub max_instance_bytes: usize,
    /// The most bytes one association may store.
    pub max_association_bytes: u64,
}

/// One instance a peer stored.
#[derive(Debug)]
pub struct Received<'a> {
    /// The calling AE title.
    pub caller: &'a str,
    /// Affected SOP Class UID.
    pub sop_class: &'a str,
    /// Affected SOP Instance UID.
    pub sop_instance: &'a str,
    /// The data set's transfer syntax.
    pub transfer_syntax: &'a str,
    /// The data set bytes.
    pub data: &'a [u8],
}

/// What handles received instances (Ok: stored; Err: the reason, sent as a failure).
pub type Handler = dyn Fn(&Received) -> std::result::Result<(), String> + Send + Sync;
/// Where log lines go.
pub type Logger = dyn Fn(&str) + Send + Sync;

struct AllowList {
    ae_title: String,
    callers: Vec<String>,
    log: Arc<Logger>,
}

impl AccessControl for AllowList {
    fn check_access(
        &self,
        _this_ae_title: &str,
        calling_ae_title: &str,
        called_ae_title: &str,
        _user_identity: Option<&UserIdentity>,
    ) -> std::result::Result<(), AssociationRJServiceUserReason> {
        let calling = calling_ae_title.trim();
        if !self.callers.iter().any(|c| c == calling) {
            (self.log)(&format!(
                "association rejected: calling AE title {calling:?} is not allowed (called {:?})",
                called_ae_title.trim()
            ));
            return Err(AssociationRJServiceUserReason::CallingAETitleNotRecognized);
        }
        if called_ae_title.trim() != self.ae_title {
            (self.log)(&format!(
                "association rejected: {calling} called {:?}, we are {:?}",
                called_ae_title.trim(),
                self.ae_title
            ));
            return Err(AssociationRJServiceUserReason::CalledAETitleNotRecognized);
        }
        Ok(())
    }
}

/// Accepts associations until `stop` is set (checked every 200 ms); each on a thread.
pub fn serve(
    listener: TcpListener,
    opts: ScpOptions,
    handler: Arc<Handler>,
    log: Arc<Logger>,
    stop: Arc<AtomicBool>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let opts = Arc::new(opts);
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((socket, peer)) => {
                let _ = socket.set_nonblocking(false);
                let (opts, handler, log) = (opts.clone(), handler.clone(), log.clone());
                std::thread::spawn(move || {
                    match association(socket, &opts, &*handler, log.clone()) {
                        // The access control already said why, in one line.
                        Err(e) if e.starts_with("association rejected") => {}
                        Err(e) => log(&format!("association from {peer} ended: {e}")),
                        Ok(()) => {}
                    }
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => log(&format!("accept failed: {e}")),
        }
    }
    Ok(())
}

fn association(
    socket: TcpStream,
    opts: &ScpOptions,
    handler: &Handler,
    log: Arc<Logger>,
) -> std::result::Result<(), String> {
    let mut server = ServerAssociationOptions::new()
        .ae_access_control(AllowList {
            ae_title: opts.ae_title.clone(),
            callers: opts.allowed_callers.clone(),
            log: log.clone(),
        })
        .ae_title(opts.ae_title.as_str())
        .max_pdu_length(MAX_PDU)
        .read_timeout(opts.timeout)
        .write_timeout(opts.timeout)
        .with_abstract_syntax(VERIFICATION);
    for sop in RETRIEVED_STORAGE_CLASSES {
        server = server.with_abstract_syntax(*sop);
    }
    for ts in ACCEPTED_TRANSFER_SYNTAXES {
        server = server.with_transfer_syntax(*ts);
    }
    let assoc = server.establish(socket).map_err(|e| error_chain(&e))?;
    let caller = assoc.peer_ae_title().trim().to_string();
    log(&format!("association from {caller} accepted"));
    let mut link = Link::new(assoc, caller.clone(), opts.timeout.as_secs_f64());
    link.max_data_bytes = opts.max_instance_bytes;
    let mut total: u64 = 0;
    let mut stored = 0usize;
    loop {
        let msg = match link.receive_or_release() {
            Ok(Some(m)) => m,
            Ok(None) => {
                log(&format!(
                    "association from {caller} released ({stored} instances)"
                ));
                return Ok(());
            }
            Err(e) => {
                let _ = dicom_ul::association::SyncAssociation::abort(link.assoc);
                return Err(format!("{e} ({stored} instances stored before)"));
            }
        };
        let ts = link.transfer_syntax_of(msg.context_id).unwrap_or_default();
        let id = msg.command.u16(tag::MESSAGE_ID).unwrap_or(0);
        let sop_class = msg
            .command
            .text(tag::AFFECTED_SOP_CLASS)
            .unwrap_or_default();
        let (rsp_field, status) = match msg.command.command_field() {
            field::C_ECHO_RQ => (field::C_ECHO_RSP, 0x0000),
            field::C_STORE_RQ => {
                let instance = msg
                    .command
                    .text(tag::AFFECTED_SOP_INSTANCE)
                    .unwrap_or_default();
                let data = msg.data.as_deref().unwrap_or_default();
                total += data.len() as u64;
                let status = if let Some(n) = msg.oversize {
                    log(&format!(
                        "{caller}: instance {instance} of {n} bytes refused (limit {} bytes)",
                        opts.max_instance_bytes
                    ));
                    0xA700
                } else if total > opts.max_association_bytes {
                    log(&format!(
                        "{caller}: association over its limit of {} bytes; instance {instance} refused",
                        opts.max_association_bytes
                    ));
                    0xA700
                } else {
                    let r = Received {
                        caller: &caller,
                        sop_class: &sop_class,
                        sop_instance: &instance,
                        transfer_syntax: &ts,
                        data,
                    };
                    match handler(&r) {
                        Ok(()) => {
                            stored += 1;
                            0x0000
                        }
                        Err(e) => {
                            log(&format!("{caller}: instance {instance} refused: {e}"));
                            0xC000
                        }
                    }
                };
                (field::C_STORE_RSP, status)
            }
            other => {
                log(&format!(
                    "{caller}: command 0x{other:04X} not supported; aborting"
                ));
                let _ = dicom_ul::association::SyncAssociation::abort(link.assoc);
                return Ok(());
            }
        };
        let mut rsp = Command::new(rsp_field);
        rsp.set_uid(tag::AFFECTED_SOP_CLASS, &sop_class)
            .set_u16(tag::RESPONDED_TO, id)
            .set_u16(tag::DATA_SET_TYPE, NO_DATA_SET)
            .set_u16(tag::STATUS, status);
        if let Some(i) = msg.command.text(tag::AFFECTED_SOP_INSTANCE) {
            rsp.set_uid(tag::AFFECTED_SOP_INSTANCE, &i);
        }
        if let Err(e) = link.send(msg.context_id, &rsp, None) {
            return Err(e.to_string());
        }
    }
}
