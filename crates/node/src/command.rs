//! DIMSE command sets (group 0000, always Implicit VR Little Endian): building them,
//! encoding them with their group length, and parsing what a peer sends, bounds-checked.

use std::collections::BTreeMap;

/// Command Field values (PS3.7 E.1).
pub mod field {
    /// C-STORE-RQ.
    pub const C_STORE_RQ: u16 = 0x0001;
    /// C-STORE-RSP.
    pub const C_STORE_RSP: u16 = 0x8001;
    /// C-GET-RQ.
    pub const C_GET_RQ: u16 = 0x0010;
    /// C-GET-RSP.
    pub const C_GET_RSP: u16 = 0x8010;
    /// C-FIND-RQ.
    pub const C_FIND_RQ: u16 = 0x0020;
    /// C-FIND-RSP.
    pub const C_FIND_RSP: u16 = 0x8020;
    /// C-ECHO-RQ.
    pub const C_ECHO_RQ: u16 = 0x0030;
    /// C-ECHO-RSP.
    pub const C_ECHO_RSP: u16 = 0x8030;
    /// C-CANCEL-RQ.
    pub const C_CANCEL_RQ: u16 = 0x0FFF;
}

/// Element numbers of group 0000 used here.
pub mod tag {
    /// Affected SOP Class UID.
    pub const AFFECTED_SOP_CLASS: u16 = 0x0002;
    /// Command Field.
    pub const COMMAND_FIELD: u16 = 0x0100;
    /// Message ID.
    pub const MESSAGE_ID: u16 = 0x0110;
    /// Message ID Being Responded To.
    pub const RESPONDED_TO: u16 = 0x0120;
    /// Priority.
    pub const PRIORITY: u16 = 0x0700;
    /// Command Data Set Type.
    pub const DATA_SET_TYPE: u16 = 0x0800;
    /// Status.
    pub const STATUS: u16 = 0x0900;
    /// Error Comment.
    pub const ERROR_COMMENT: u16 = 0x0902;
    /// Affected SOP Instance UID.
    pub const AFFECTED_SOP_INSTANCE: u16 = 0x1000;
    /// Number of Remaining Sub-operations.
    pub const REMAINING: u16 = 0x1020;
    /// Number of Completed Sub-operations.
    pub const COMPLETED: u16 = 0x1021;
    /// Number of Failed Sub-operations.
    pub const FAILED: u16 = 0x1022;
    /// Number of Warning Sub-operations.
    pub const WARNING: u16 = 0x1023;
}

/// Command Data Set Type value meaning "no data set follows".
pub const NO_DATA_SET: u16 = 0x0101;
/// Command Data Set Type value for "a data set follows".
pub const HAS_DATA_SET: u16 = 0x0000;

/// One DIMSE command set: element number of group 0000 -> raw value bytes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Command {
    elements: BTreeMap<u16, Vec<u8>>,
}

impl Command {
    /// An empty command of the given Command Field.
    pub fn new(command_field: u16) -> Self {
        let mut c = Command::default();
        c.set_u16(tag::COMMAND_FIELD, command_field);
        c
    }

    /// Sets an US element.
    pub fn set_u16(&mut self, element: u16, value: u16) -> &mut Self {
        self.elements.insert(element, value.to_le_bytes().to_vec());
        self
    }

    /// Sets a UI element (padded with NUL to even length).
    pub fn set_uid(&mut self, element: u16, value: &str) -> &mut Self {
        let mut v = value.as_bytes().to_vec();
        if v.len() % 2 == 1 {
            v.push(0);
        }
        self.elements.insert(element, v);
        self
    }

    /// Sets a text element (AE, LO; padded with a space to even length).
    pub fn set_text(&mut self, element: u16, value: &str) -> &mut Self {
        let mut v = value.as_bytes().to_vec();
        if v.len() % 2 == 1 {
            v.push(b' ');
        }
        self.elements.insert(element, v);
        self
    }

    /// An US element, if present and two bytes long.
    pub fn u16(&self, element: u16) -> Option<u16> {
        let v = self.elements.get(&element)?;
        let b: [u8; 2] = v.as_slice().try_into().ok()?;
        Some(u16::from_le_bytes(b))
    }

    /// A string element with its padding (NUL, spaces) removed.
    pub fn text(&self, element: u16) -> Option<String> {
        let v = self.elements.get(&element)?;
        let s = String::from_utf8_lossy(v);
        Some(s.trim_end_matches(['\0', ' ']).trim_start().to_string())
    }

    /// The Command Field (0 when absent).
    pub fn command_field(&self) -> u16 {
        self.u16(tag::COMMAND_FIELD).unwrap_or(0)
    }

    /// Whether a data set follows this command.
    pub fn has_data_set(&self) -> bool {
        self.u16(tag::DATA_SET_TYPE)
            .is_some_and(|v| v != NO_DATA_SET)
    }

    /// The Status of a response (0xFFFF, "unknown", when absent).
    pub fn status(&self) -> u16 {
        self.u16(tag::STATUS).unwrap_or(0xFFFF)
    }

    /// Encodes the command with its group length, Implicit VR Little Endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        for (element, value) in &self.elements {
            if *element == 0x0000 {
                continue;
            }
            body.extend_from_slice(&0u16.to_le_bytes());
            body.extend_from_slice(&element.to_le_bytes());
            body.extend_from_slice(&(value.len() as u32).to_le_bytes());
            body.extend_from_slice(value);
        }
        let mut out = Vec::with_capacity(body.len() + 12);
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&4u32.to_le_bytes());
        out.extend_from_slice(&(body.len() as u32).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    /// Parses a command set; any element outside group 0000 or past the end is an error.
    pub fn decode(bytes: &[u8]) -> Result<Command, String> {
        let mut c = Command::default();
        let mut at = 0usize;
        while at < bytes.len() {
            let header = bytes
                .get(at..at + 8)
                .ok_or_else(|| format!("command set truncated at byte {at}"))?;
            let group = u16::from_le_bytes([header[0], header[1]]);
            let element = u16::from_le_bytes([header[2], header[3]]);
            let len = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
            if group != 0 {
                return Err(format!(
                    "command set holds element ({group:04X},{element:04X}) outside group 0000"
                ));
            }
            let start = at + 8;
            let value = start
                .checked_add(len)
                .and_then(|end| bytes.get(start..end))
                .ok_or_else(|| {
                    format!("command element (0000,{element:04X}) of {len} bytes runs past the end")
                })?;
            c.elements.insert(element, value.to_vec());
            at = start + len;
        }
        Ok(c)
    }
}

/// Whether a response status means "pending" (more responses follow).
pub fn is_pending(status: u16) -> bool {
    status == 0xFF00 || status == 0xFF01
}

/// Whether a response status is a success or a warning (the operation was done).
pub fn is_success_or_warning(status: u16) -> bool {
    status == 0x0000 || status == 0x0001 || (status & 0xF000) == 0xB000 || status == 0x0107
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_round_trip_with_group_length() {
        let mut c = Command::new(field::C_ECHO_RQ);
        c.set_uid(tag::AFFECTED_SOP_CLASS, "1.2.840.10008.1.1")
            .set_u16(tag::MESSAGE_ID, 7)
            .set_u16(tag::DATA_SET_TYPE, NO_DATA_SET);
        let bytes = c.encode();
        // group length value = bytes after the 12-byte group length element
        let gl = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
        assert_eq!(gl, bytes.len() - 12);
        let d = Command::decode(&bytes).unwrap();
        assert_eq!(d.command_field(), field::C_ECHO_RQ);
        assert_eq!(d.u16(tag::MESSAGE_ID), Some(7));
        assert_eq!(
            d.text(tag::AFFECTED_SOP_CLASS).as_deref(),
            Some("1.2.840.10008.1.1")
        );
        assert!(!d.has_data_set());
        // the odd-length UID was padded with NUL to 18 bytes
        assert_eq!(d.elements[&tag::AFFECTED_SOP_CLASS].len(), 18);
    }

    #[test]
    fn decode_refuses_truncated_and_foreign_elements() {
        let mut c = Command::new(field::C_FIND_RSP);
        c.set_u16(tag::STATUS, 0xFF00);
        let bytes = c.encode();
        let err = Command::decode(&bytes[..bytes.len() - 1]).unwrap_err();
        assert!(err.contains("runs past the end"), "{err}");
        let mut foreign = bytes.clone();
        foreign.extend_from_slice(&[0x08, 0x00, 0x50, 0x00, 0, 0, 0, 0]);
        let err = Command::decode(&foreign).unwrap_err();
        assert!(err.contains("(0008,0050)"), "{err}");
        let huge = [0u8, 0, 0, 9, 0xFF, 0xFF, 0xFF, 0xFF];
        assert!(Command::decode(&huge).is_err());
    }

    #[test]
    fn statuses() {
        assert!(is_pending(0xFF00) && is_pending(0xFF01) && !is_pending(0));
        assert!(is_success_or_warning(0xB000) && !is_success_or_warning(0xA700));
    }
}
