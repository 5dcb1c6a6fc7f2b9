//! An incremental JSON value scanner: finds where one value ends without
//! building it, across chunk boundaries. It tracks only nesting depth and
//! string/escape state; the bytes it delimits are validated afterwards by
//! serde_json, so it never needs to be a full parser.

/// Progress through one value that may span several chunks.
#[derive(Debug, Clone, Default)]
pub(crate) struct ValueScan {
    /// Offset (relative to the value start) scanned so far.
    offset: usize,
    depth: u32,
    in_string: bool,
    escaped: bool,
    started: bool,
    /// The value is a bare scalar (number, true, false, null).
    scalar: bool,
}

/// Whether a byte may end a scalar.
fn ends_scalar(b: u8) -> bool {
    matches!(b, b',' | b']' | b'}' | b' ' | b'\t' | b'\r' | b'\n')
}

impl ValueScan {
    /// Scan `bytes` (the value and whatever follows, starting at the value's
    /// first byte). Returns the value's length once it is complete.
    pub(crate) fn scan(&mut self, bytes: &[u8]) -> Option<usize> {
        let mut i = self.offset;
        while i < bytes.len() {
            let b = bytes[i];
            if !self.started {
                self.started = true;
                match b {
                    b'{' | b'[' => self.depth = 1,
                    b'"' => {
                        self.in_string = true;
                        self.depth = 1;
                    }
                    _ => self.scalar = true,
                }
                i += 1;
                continue;
            }
            if self.scalar {
                if ends_scalar(b) {
                    self.offset = i;
                    return Some(i);
                }
                i += 1;
                continue;
            }
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                    if self.depth == 1 && bytes[0] == b'"' {
                        self.offset = i + 1;
                        return Some(i + 1);
                    }
                }
                i += 1;
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        self.offset = i + 1;
                        return Some(i + 1);
                    }
                }
                _ => {}
            }
            i += 1;
        }
        self.offset = i;
        None
    }
}

/// Skip JSON whitespace from `i`; the index of the next byte, if any.
pub(crate) fn skip_ws(bytes: &[u8], mut i: usize) -> Option<usize> {
    while i < bytes.len() {
        if !matches!(bytes[i], b' ' | b'\t' | b'\r' | b'\n') {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(s: &str) -> Option<usize> {
        ValueScan::default().scan(s.as_bytes())
    }

    #[test]
    fn finds_value_ends() {
        assert_eq!(whole(r#"{"a":[1,"]}"]},"#), Some(14));
        assert_eq!(whole(r#""a\"b","#), Some(6));
        assert_eq!(whole("123,"), Some(3));
        assert_eq!(whole("null]"), Some(4));
        assert_eq!(whole("123"), None);
        assert_eq!(whole(r#"{"a":"\\"}"#), Some(10));
        assert_eq!(whole(r#"{"a":"}"#), None);
    }

    #[test]
    fn resumes_across_chunks() {
        let text = r#"{"metadata":{"name":"a\"}"},"x":[[1],[2]]} tail"#;
        for cut in 0..text.len() {
            let mut s = ValueScan::default();
            let first = s.scan(&text.as_bytes()[..cut]);
            let end = first.or_else(|| s.scan(text.as_bytes()));
            assert_eq!(end, Some(text.len() - 5), "cut at {cut}");
        }
    }
}
