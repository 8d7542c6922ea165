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
        assert!(MediaType::parse("text/").is_err());
    }
}
