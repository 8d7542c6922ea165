//! Media types for `Content-Type` and `Accept` (RFC 3261 §20.1, §20.15).

use std::fmt;

use crate::params::Params;
use crate::scan::is_token;

/// `type/subtype;params`. Type and subtype are lowercased; they compare case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaType {
    /// The top-level type (`application`, or `*` in Accept).
    pub kind: String,
    /// The subtype (`pidf+xml`, or `*`).
    pub subtype: String,
    /// Parameters such as `charset` or `q`.
    pub params: Params,
}

impl MediaType {
    /// Parses one media type or media range.
    pub fn parse(s: &str) -> Result<MediaType, &'static str> {
        let s = s.trim();
        let (kind, rest) = s.split_once('/').ok_or("media type has no '/'")?;
        let end = rest.find(|c: char| c == ';' || c.is_ascii_whitespace()).unwrap_or(rest.len());
        let (kind, subtype) = (kind.trim(), &rest[..end]);
        if !is_token(kind) || !is_token(subtype) {
            return Err("malformed media type");
        }
        let (params, after) = Params::parse(&rest[end..], b"")?;
        if !after.trim().is_empty() {
            return Err("unexpected characters after media type");
        }
        Ok(MediaType { kind: kind.to_ascii_lowercase(), subtype: subtype.to_ascii_lowercase(), params })
    }

    /// The range's `q` in thousandths, 1000 when absent (RFC 3261 §20.1 takes Accept's
    /// grammar from RFC 2616 §3.9: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`).
    pub fn quality(&self) -> Result<u32, &'static str> {
        let Some(q) = self.params.get("q") else { return Ok(1000) };
        let (whole, fraction) = q.split_once('.').unwrap_or((q, ""));
        let not_qvalue = "q is not a qvalue (0 to 1, three decimals at most)";
        if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
            return Err(not_qvalue);
        }
        // Only digits from here: the fraction padded to three places is the thousandths.
        let thousandths =
            fraction.bytes().chain(std::iter::repeat(b'0')).take(3).fold(0, |n, b| n * 10 + u32::from(b - b'0'));
        match whole {
            "0" => Ok(thousandths),
            "1" if thousandths == 0 => Ok(1000),
            _ => Err(not_qvalue),
        }
    }

    /// `type/subtype` without parameters.
    pub fn essence(&self) -> String {
        format!("{}/{}", self.kind, self.subtype)
    }

    /// Whether this Accept range covers the concrete type `essence` (`a/b`), honouring `*`.
    pub fn covers(&self, essence: &str) -> bool {
        let Some((kind, subtype)) = essence.split_once('/') else {
            return false;
        };
        (self.kind == "*" || self.kind.eq_ignore_ascii_case(kind))
            && (self.subtype == "*" || self.subtype.eq_ignore_ascii_case(subtype))
    }
}

impl fmt::Display for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}{}", self.kind, self.subtype, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_matches_ranges() {
        let m = MediaType::parse("Application/PIDF+XML; charset=utf-8").unwrap();
        assert_eq!(m.essence(), "application/pidf+xml");
        assert_eq!(m.params.get("charset"), Some("utf-8"));
        assert!(MediaType::parse("application/*").unwrap().covers("application/dialog-info+xml"));
        assert!(MediaType::parse("*/*").unwrap().covers("text/plain"));
        assert!(!m.covers("application/xpidf+xml"));
        assert!(MediaType::parse("text").is_err());
        let q = |range: &str| MediaType::parse(range).unwrap().quality();
        assert_eq!(q("text/plain"), Ok(1000));
        assert_eq!(q("text/plain;q=0.5"), Ok(500));
        assert_eq!(q("text/plain;q=0.05"), Ok(50));
        assert_eq!(q("text/plain;q=1.000"), Ok(1000));
        assert_eq!(q("text/plain;q=0"), Ok(0));
        for bad in ["q=2", "q=1.5", "q=0.1234", "q=high", "q=-0.5", "q=.5", "q=0.-5", "q=0.!"] {
            assert!(q(&format!("text/plain;{bad}")).is_err(), "{bad}");
        }
        assert!(MediaType::parse("text/").is_err());
    }
}
