//! Addresses with parameters: From, To, Contact, Route and Record-Route values
//! (RFC 3261 §20.10, §25.1 `name-addr` / `addr-spec`).

use std::fmt;

use crate::params::Params;
use crate::scan::{quote, take_quoted};
use crate::uri::Uri;

/// `"Display" <uri>;params`, `Display <uri>`, or a bare `uri;params`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameAddr {
    /// The display name, unquoted.
    pub display: Option<String>,
    /// The address.
    pub uri: Uri,
    /// Header parameters after the address (`tag`, `expires`, `q`, `methods` ...).
    pub params: Params,
}

impl NameAddr {
    /// A name-addr for `uri` with no display name and no parameters.
    pub fn new(uri: Uri) -> Self {
        NameAddr { display: None, uri, params: Params::new() }
    }

    /// Parses one value.
    pub fn parse(s: &str) -> Result<NameAddr, &'static str> {
        let s = s.trim();
        let (display, rest) = if s.starts_with('"') {
            let (display, rest) = take_quoted(s)?;
            if !rest.trim_start().starts_with('<') {
                return Err("quoted display name without <address>");
            }
            (Some(display), rest.trim_start())
        } else if let Some(lt) = s.find('<') {
            let display = s[..lt].trim();
            if !display.split_ascii_whitespace().all(crate::scan::is_token) {
                return Err("malformed display name");
            }
            ((!display.is_empty()).then(|| display.to_owned()), &s[lt..])
        } else {
            (None, s)
        };
        if let Some(inner) = rest.strip_prefix('<') {
            let close = inner.find('>').ok_or("unterminated <address>")?;
            let uri = Uri::parse(&inner[..close]).map_err(|e| e.0)?;
            let (params, after) = Params::parse(&inner[close + 1..], b"")?;
            if !after.trim().is_empty() {
                return Err("unexpected characters after address");
            }
            return Ok(NameAddr { display, uri, params });
        }
        // addr-spec form: the URI ends at the first ';', and what follows are header
        // parameters. RFC 3261 §20.10: a URI with a comma, '?' or ';' must be in <>.
        let end = rest.find([';', ' ', '\t']).unwrap_or(rest.len());
        if rest[..end].contains('?') {
            return Err("a URI with headers must be enclosed in <>");
        }
        let uri = Uri::parse(&rest[..end]).map_err(|e| e.0)?;
        let (params, after) = Params::parse(&rest[end..], b"")?;
        if !after.trim().is_empty() {
            return Err("unexpected characters after address");
        }
        Ok(NameAddr { display: None, uri, params })
    }

    /// The `tag` parameter (From/To, RFC 3261 §19.3).
    pub fn tag(&self) -> Option<&str> {
        self.params.get("tag")
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display {
            write!(f, "{} ", quote(d))?;
        }
        // Always use angle brackets: they are valid for every URI and keep URI parameters
        // apart from header parameters.
        write!(f, "<{}>{}", self.uri, self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms() {
        let a = NameAddr::parse(r#""Bob \"B\"" <sip:bob@example.com;transport=tcp>;tag=abc"#).unwrap();
        assert_eq!(a.display.as_deref(), Some(r#"Bob "B""#));
        assert_eq!(a.tag(), Some("abc"));
        assert_eq!(a.uri.as_sip().unwrap().params.get("transport"), Some("tcp"));

        let b = NameAddr::parse("Bob Smith <sip:bob@example.com>").unwrap();
        assert_eq!(b.display.as_deref(), Some("Bob Smith"));

        let c = NameAddr::parse("sip:bob@example.com;tag=xyz;expires=60").unwrap();
        assert!(c.display.is_none());
        assert_eq!(c.tag(), Some("xyz"));
        assert!(c.uri.as_sip().unwrap().params.is_empty());
    }

    #[test]
    fn round_trips_through_display() {
        let a = NameAddr::parse(r#""A, B" <sip:1001@10.0.0.1:5062>;expires=30;+sip.instance="<urn:uuid:1>""#).unwrap();
        assert_eq!(NameAddr::parse(&a.to_string()).unwrap(), a);
    }

    #[test]
    fn refuses_broken_addresses() {
        for bad in ["<sip:a@b", "sip:a@b?Route=x", "\"x\" sip:a@b", "<nocolon>", "sip:a@b junk", "\"open <sip:a@b>"] {
            assert!(NameAddr::parse(bad).is_err(), "{bad}");
        }
    }
}
