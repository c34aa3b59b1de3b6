//! C-ECHO (verification): does a configured node answer, and how fast.

use std::time::{Duration, Instant};

use crate::command::{Command, NO_DATA_SET, field, tag};
use crate::config::{LocalConfig, NodeConfig};
use crate::error::{NodeError, Result};
use crate::message::connect;
use crate::uids::{EXPLICIT_LE, IMPLICIT_LE, VERIFICATION};

/// Sends one C-ECHO to a node; returns the round trip (association, echo and release).
pub fn echo(local: &LocalConfig, name: &str, node: &NodeConfig) -> Result<Duration> {
    let start = Instant::now();
    let mut link = connect(
        local,
        name,
        node,
        &[(VERIFICATION, &[EXPLICIT_LE, IMPLICIT_LE])],
        &[],
    )?;
    let (ctx, _) = link
        .context_for(VERIFICATION)
        .ok_or_else(|| NodeError::Association {
            node: name.to_string(),
            problem: "the node refused the Verification SOP class".into(),
        })?;
    let mut rq = Command::new(field::C_ECHO_RQ);
    let id = link.next_message_id();
    rq.set_uid(tag::AFFECTED_SOP_CLASS, VERIFICATION)
        .set_u16(tag::MESSAGE_ID, id)
        .set_u16(tag::DATA_SET_TYPE, NO_DATA_SET);
    link.send(ctx, &rq, None)?;
    let rsp = link.receive()?;
    if rsp.command.command_field() != field::C_ECHO_RSP {
        return Err(NodeError::Protocol {
            node: name.to_string(),
            problem: format!(
                "expected C-ECHO-RSP, got command 0x{:04X}",
                rsp.command.command_field()
            ),
        });
    }
    if rsp.command.status() != 0 {
        return Err(link.status_error("C-ECHO", &rsp.command));
    }
    link.release()?;
    Ok(start.elapsed())
}
