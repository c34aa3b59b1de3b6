//! DIMSE messages over one dicom-ul association: opening it with timeouts, sending a
//! command (and its data set) on a presentation context, and receiving one whole message
//! (command and data set reassembled from P-DATA fragments, bounded in size). Generic over
//! dicom-ul's synchronous associations, so the client services and a storage SCP share it.

use std::io::Write;
use std::net::TcpStream;

use dicom_transfer_syntax_registry::{TransferSyntax, TransferSyntaxIndex, TransferSyntaxRegistry};
use dicom_ul::association::{Association, SyncAssociation};
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use dicom_ul::{ClientAssociation, ClientAssociationOptions};

use crate::command::{Command, tag};
use crate::config::{LocalConfig, NodeConfig};
use crate::error::{NodeError, Result};

/// Largest data set accepted in one message by default (1 GiB).
pub const DEFAULT_MAX_DATA_BYTES: usize = 1 << 30;
/// Largest P-DATA PDU we announce (256 KiB): fewer, larger reads.
pub const MAX_PDU: u32 = 262_144;

/// One received DIMSE message.
#[derive(Debug)]
pub struct Message {
    /// The presentation context it came on.
    pub context_id: u8,
    /// Its command set.
    pub command: Command,
    /// Its data set, as the bytes of the context's transfer syntax (empty when over the
    /// limit: then `oversize` holds the bytes that came and were discarded).
    pub data: Option<Vec<u8>>,
    /// The size of a data set over the limit, which was read to its end and discarded.
    pub oversize: Option<usize>,
}

/// An error and its sources in one line.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}

/// Whether an error chain is a timeout (read/write timed out).
fn is_timeout(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = src {
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            )
        {
            return true;
        }
        src = s.source();
    }
    false
}

/// A DIMSE conversation on one association with one named peer.
pub struct Link<A> {
    /// The association.
    pub assoc: A,
    /// The peer's name for messages (node name or calling AE title).
    pub peer: String,
    /// Seconds of the network timeout (for messages).
    pub timeout_s: f64,
    /// The largest data set accepted in one message.
    pub max_data_bytes: usize,
    next_id: u16,
}

/// Opens an association from us to a configured node, proposing `contexts` (abstract
/// syntax, transfer syntaxes) and SCP role for `scp_roles` (the storage classes a C-GET
/// brings back). Every wait is bounded by the local timeout.
pub fn connect(
    local: &LocalConfig,
    name: &str,
    node: &NodeConfig,
    contexts: &[(&str, &[&str])],
    scp_roles: &[&str],
) -> Result<Link<ClientAssociation<TcpStream>>> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(local.ae_title.as_str())
        .called_ae_title(node.ae_title.as_str())
        .max_pdu_length(MAX_PDU)
        .read_timeout(local.timeout())
        .write_timeout(local.timeout())
        .connection_timeout(local.timeout());
    for (abstract_syntax, ts) in contexts {
        opts = opts.with_presentation_context(*abstract_syntax, ts.to_vec());
    }
    for sop in scp_roles {
        opts = opts.with_role_selection(*sop, false, true);
    }
    let address = format!("{}:{}", node.host, node.port);
    let assoc = opts.establish(address.as_str()).map_err(|e| {
        let what = if is_timeout(&e) {
            format!("no answer within {} s", local.timeout_s)
        } else {
            error_chain(&e)
        };
        NodeError::Association {
            node: name.to_string(),
            problem: format!("{} at {address} ({what})", node.ae_title),
        }
    })?;
    Ok(Link {
        assoc,
        peer: name.to_string(),
        timeout_s: local.timeout_s,
        max_data_bytes: DEFAULT_MAX_DATA_BYTES,
        next_id: 1,
    })
}

impl<A> Link<A>
where
    A: SyncAssociation<TcpStream> + Association,
{
    /// Wraps an association (e.g. one a storage SCP accepted).
    pub fn new(assoc: A, peer: String, timeout_s: f64) -> Self {
        Link {
            assoc,
            peer,
            timeout_s,
            max_data_bytes: DEFAULT_MAX_DATA_BYTES,
            next_id: 1,
        }
    }

    /// A fresh message ID.
    pub fn next_message_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    /// The accepted context of a service the association must have (`what`, e.g. "Study
    /// Root C-FIND", names it in the error): its id and its transfer syntax, known to the
    /// registry.
    pub fn required_context(
        &self,
        abstract_syntax: &str,
        what: &str,
        node: &str,
    ) -> Result<(u8, &'static TransferSyntax)> {
        let (ctx, ts_uid) =
            self.context_for(abstract_syntax)
                .ok_or_else(|| NodeError::Association {
                    node: node.to_string(),
                    problem: format!("the node refused {what}"),
                })?;
        let ts = TransferSyntaxRegistry
            .get(&ts_uid)
            .ok_or_else(|| NodeError::Protocol {
                node: node.to_string(),
                problem: format!("unknown transfer syntax {ts_uid} accepted"),
            })?;
        Ok((ctx, ts))
    }

    /// The accepted presentation context for an abstract syntax: (id, transfer syntax).
    pub fn context_for(&self, abstract_syntax: &str) -> Option<(u8, String)> {
        self.assoc
            .presentation_contexts()
            .iter()
            .find(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && pc.abstract_syntax.trim_end_matches('\0') == abstract_syntax
            })
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
    }

    /// The accepted context of that id: its transfer syntax.
    pub fn transfer_syntax_of(&self, context_id: u8) -> Option<String> {
        self.assoc
            .presentation_contexts()
            .iter()
            .find(|pc| {
                pc.id == context_id && pc.reason == PresentationContextResultReason::Acceptance
            })
            .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_string())
    }

    fn net_error(&self, e: &(dyn std::error::Error + 'static), doing: &str) -> NodeError {
        let problem = if is_timeout(e) {
            format!("{doing}: no answer within {} s", self.timeout_s)
        } else {
            format!("{doing}: {}", error_chain(e))
        };
        NodeError::Network {
            node: self.peer.clone(),
            problem,
        }
    }

    /// Sends a command and, when given, its data set on a presentation context.
    pub fn send(&mut self, context_id: u8, command: &Command, data: Option<&[u8]>) -> Result<()> {
        let pdu = Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context_id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command.encode(),
            }],
        };
        SyncAssociation::send(&mut self.assoc, &pdu)
            .map_err(|e| self.net_error(&e, "sending a command"))?;
        if let Some(data) = data {
            let mut w = self.assoc.send_pdata(context_id);
            let r = w.write_all(data).and_then(|_| w.finish());
            if let Err(e) = r {
                return Err(self.net_error(&e, "sending a data set"));
            }
        }
        Ok(())
    }

    /// Receives one whole message (command, then its data set when it announces one).
    pub fn receive(&mut self) -> Result<Message> {
        match self.receive_inner(false)? {
            Some(m) => Ok(m),
            None => Err(self.protocol("the peer released the association mid-operation")),
        }
    }

    /// Receives the next message, or `None` when the peer releases the association
    /// between messages (the release is answered).
    pub fn receive_or_release(&mut self) -> Result<Option<Message>> {
        self.receive_inner(true)
    }

    fn receive_inner(&mut self, allow_release: bool) -> Result<Option<Message>> {
        let mut command_bytes: Vec<u8> = Vec::new();
        let mut command: Option<Command> = None;
        let mut data: Vec<u8> = Vec::new();
        let mut discarded = 0usize;
        let mut context_id = 0u8;
        loop {
            if let Some(c) = &command
                && !c.has_data_set()
            {
                break;
            }
            let pdu = SyncAssociation::receive(&mut self.assoc)
                .map_err(|e| self.net_error(&e, "waiting for a message"))?;
            match pdu {
                Pdu::PData { data: values } => {
                    for v in values {
                        match v.value_type {
                            PDataValueType::Command => {
                                if command.is_some() {
                                    return Err(
                                        self.protocol("a second command before the data set")
                                    );
                                }
                                context_id = v.presentation_context_id;
                                command_bytes.extend_from_slice(&v.data);
                                if command_bytes.len() > 1 << 20 {
                                    return Err(self.protocol("a command set over 1 MiB"));
                                }
                                if v.is_last {
                                    let c = Command::decode(&command_bytes)
                                        .map_err(|p| self.protocol(&p))?;
                                    command = Some(c);
                                }
                            }
                            PDataValueType::Data => {
                                if command.is_none() {
                                    return Err(self.protocol("a data set before its command"));
                                }
                                if discarded > 0 || data.len() + v.data.len() > self.max_data_bytes
                                {
                                    // Over the limit: read on to the end, keep nothing.
                                    discarded += data.len() + v.data.len();
                                    data = Vec::new();
                                } else {
                                    data.extend_from_slice(&v.data);
                                }
                                if v.is_last
                                    && let Some(c) = command.take()
                                {
                                    return Ok(Some(Message {
                                        context_id,
                                        command: c,
                                        data: Some(data),
                                        oversize: (discarded > 0).then_some(discarded),
                                    }));
                                }
                            }
                        }
                    }
                }
                Pdu::ReleaseRQ => {
                    if allow_release && command.is_none() && command_bytes.is_empty() {
                        SyncAssociation::send(&mut self.assoc, &Pdu::ReleaseRP)
                            .map_err(|e| self.net_error(&e, "answering the release"))?;
                        return Ok(None);
                    }
                    return Err(self.protocol("the peer released the association mid-operation"));
                }
                Pdu::AbortRQ { source } => {
                    return Err(NodeError::Network {
                        node: self.peer.clone(),
                        problem: format!(
                            "the node aborted the association ({source:?}); a PACS does this \
                             when it does not know our AE title or refuses the request"
                        ),
                    });
                }
                other => {
                    return Err(
                        self.protocol(&format!("unexpected PDU {}", other.short_description()))
                    );
                }
            }
        }
        match command {
            Some(c) => Ok(Some(Message {
                context_id,
                command: c,
                data: None,
                oversize: None,
            })),
            None => Err(self.protocol("no command received")),
        }
    }

    fn protocol(&self, problem: &str) -> NodeError {
        NodeError::Protocol {
            node: self.peer.clone(),
            problem: problem.to_string(),
        }
    }

    /// Sends a failure status of `operation` as an error carrying the peer's comment.
    pub fn status_error(&self, operation: &'static str, command: &Command) -> NodeError {
        NodeError::Status {
            node: self.peer.clone(),
            operation,
            status: command.status(),
            comment: command
                .text(tag::ERROR_COMMENT)
                .filter(|s| !s.is_empty())
                .map(|s| format!(" ({s})"))
                .unwrap_or_default(),
        }
    }
}

impl Link<ClientAssociation<TcpStream>> {
    /// Releases the association (A-RELEASE), bounded by the timeout.
    pub fn release(self) -> Result<()> {
        let peer = self.peer.clone();
        self.assoc.release().map_err(|e| NodeError::Network {
            node: peer,
            problem: format!("releasing the association: {}", error_chain(&e)),
        })
    }
}
