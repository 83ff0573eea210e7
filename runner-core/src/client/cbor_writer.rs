//! A minimal CBOR writer for envelopes that embed already-encoded CBOR payloads and must encode
//! ids as 64-bit integers (RivetKit's JavaScript client decodes those as `bigint`).

pub(super) struct CborWriter(Vec<u8>);

impl CborWriter {
    pub(super) fn new() -> Self {
        Self(Vec::new())
    }

    fn head(&mut self, major: u8, len: u64) {
        let major = major << 5;
        match len {
            0..=23 => self.0.push(major | len as u8),
            24..=0xff => {
                self.0.push(major | 24);
                self.0.push(len as u8);
            }
            0x100..=0xffff => {
                self.0.push(major | 25);
                self.0.extend_from_slice(&(len as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.0.push(major | 26);
                self.0.extend_from_slice(&(len as u32).to_be_bytes());
            }
            _ => {
                self.0.push(major | 27);
                self.0.extend_from_slice(&len.to_be_bytes());
            }
        }
    }

    pub(super) fn map(&mut self, entries: usize) -> &mut Self {
        self.head(5, entries as u64);
        self
    }

    pub(super) fn text(&mut self, value: &str) -> &mut Self {
        self.head(3, value.len() as u64);
        self.0.extend_from_slice(value.as_bytes());
        self
    }

    pub(super) fn u64_wide(&mut self, value: u64) -> &mut Self {
        self.0.push(0x1b);
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    pub(super) fn null(&mut self) -> &mut Self {
        self.0.push(0xf6);
        self
    }

    /// Appends an already-encoded CBOR item (`null` if empty).
    pub(super) fn raw(&mut self, item: &[u8]) -> &mut Self {
        if item.is_empty() {
            self.null()
        } else {
            self.0.extend_from_slice(item);
            self
        }
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_ciborium_reads() {
        let mut w = CborWriter::new();
        w.map(3)
            .text("id")
            .u64_wide(7)
            .text("x")
            .raw(&[0x18, 0x2a])
            .text("n")
            .null();
        let value: ciborium::Value = ciborium::from_reader(&w.finish()[..]).unwrap();
        let map = value.as_map().unwrap();
        assert_eq!(map[0].1, ciborium::Value::Integer(7.into()));
        assert_eq!(map[1].1, ciborium::Value::Integer(42.into()));
        assert_eq!(map[2].1, ciborium::Value::Null);
    }

    #[test]
    fn long_strings_use_wider_heads() {
        let long = "a".repeat(300);
        let mut w = CborWriter::new();
        w.text(&long);
        let value: ciborium::Value = ciborium::from_reader(&w.finish()[..]).unwrap();
        assert_eq!(value.as_text(), Some(long.as_str()));
    }
}
