//! Query-string parsing for the streaming subresources (`command=..&command=..`,
//! `stdin=true`, `ports=80,443`, `tailLines=10`...). Pure functions.

/// Decodes `%XX` escapes and `+` (form encoding, as Go's url.ParseQuery does).
/// Invalid escapes are kept literally.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// All `(key, value)` pairs of a raw query, decoded, in order.
pub fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

/// Parsed query with typed accessors.
#[derive(Debug, Clone, Default)]
pub struct Query(pub Vec<(String, String)>);

impl Query {
    pub fn parse(q: Option<&str>) -> Self {
        Query(parse_query(q))
    }

    /// Every value of `key`, in order (e.g. `command`).
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// A boolean parameter the way Go's strconv.ParseBool reads it
    /// (`1`, `t`, `true`, `True`, ...); absent or unparsable is `false`.
    pub fn flag(&self, key: &str) -> bool {
        matches!(
            self.get(key),
            Some("1" | "t" | "T" | "true" | "TRUE" | "True")
        )
    }

    /// An integer parameter; `Err` carries the offending text.
    pub fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.get(key) {
            None | Some("") => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| v.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_exec_queries() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo%20hi%20%26%26+exit%203&container=c&stdin=true&tty=1&x",
        ));
        assert_eq!(q.all("command"), vec!["sh", "-c", "echo hi && exit 3"]);
        assert_eq!(q.get("container"), Some("c"));
        assert!(q.flag("stdin"));
        assert!(q.flag("tty"));
        assert!(!q.flag("stdout"));
        assert_eq!(q.get("x"), Some(""));
    }

    #[test]
    fn bad_escapes_stay_literal() {
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert_eq!(percent_decode("%41%62"), "Ab");
    }

    #[test]
    fn ints() {
        let q = Query::parse(Some("tailLines=5&limitBytes=x"));
        assert_eq!(q.int("tailLines"), Ok(Some(5)));
        assert_eq!(q.int("limitBytes"), Err("x".into()));
        assert_eq!(q.int("none"), Ok(None));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = Query::parse(Some(&s));
        }
    }
}
