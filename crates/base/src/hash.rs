//! Content ids: a 64-bit FNV-1a hash written as 16 hex digits, to tell files and images
//! apart by what they hold (a model's weights, a knee's CT), whatever their names. Not a
//! cryptographic hash: it guards against mix-ups, not against tampering.

/// An FNV-1a hash being fed.
#[derive(Clone, Copy, Debug)]
pub struct ContentHash(u64);

impl Default for ContentHash {
    fn default() -> Self {
        ContentHash(0xcbf2_9ce4_8422_2325)
    }
}

impl ContentHash {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// The id: 16 hex digits.
    pub fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The content id of some bytes.
pub fn content_id(bytes: &[u8]) -> String {
    let mut h = ContentHash::default();
    h.write(bytes);
    h.hex()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_its_published_values() {
        // The FNV-1a 64-bit test vectors of the algorithm's authors.
        assert_eq!(content_id(b""), "cbf29ce484222325");
        assert_eq!(content_id(b"a"), "af63dc4c8601ec8c");
        assert_eq!(content_id(b"foobar"), "85944171f73967e8");
    }
}
