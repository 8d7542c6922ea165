//! The CSeq header (RFC 3261 §8.1.1.5, §20.16).

use std::fmt;

use crate::method::Method;

/// `CSeq: <number> <method>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number; RFC 3261 §8.1.1.5 limits it to below 2^31.
    pub seq: u32,
    /// The method of the request.
    pub method: Method,
}

impl CSeq {
    /// Parses `1 SUBSCRIBE`.
    pub fn parse(s: &str) -> Result<CSeq, &'static str> {
        let mut parts = s.split_ascii_whitespace();
        let (Some(num), Some(method), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err("CSeq is not <number> <method>");
        };
        let seq = crate::scan::parse_u32(num).filter(|n| *n < 1 << 31).ok_or("CSeq number is not below 2**31")?;
        let method = method.parse().map_err(|_| "CSeq method is not a token")?;
        Ok(CSeq { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        assert_eq!(CSeq::parse("  42   NOTIFY ").unwrap(), CSeq { seq: 42, method: Method::Notify });
        for bad in ["42", "x NOTIFY", "4294967296 NOTIFY", "2147483648 NOTIFY", "1 NOTIFY extra", "-1 A"] {
            assert!(CSeq::parse(bad).is_err(), "{bad}");
        }
    }
}
