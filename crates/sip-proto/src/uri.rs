//! URIs as SIP carries them (RFC 3261 §19.1): `sip:` and `sips:` URIs parsed into parts,
//! IPv4, IPv6 references and domain names as hosts, and any other absolute URI (`tel:`,
//! `pres:`, `mailto:` ...) kept whole so the application can refuse it with 416.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::params::Params;

/// A URI from a Request-URI, a name-addr or a Via-independent header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Uri {
    /// A `sip:` or `sips:` URI.
    Sip(SipUri),
    /// Any other absolute URI, kept as text after the scheme.
    Other {
        /// The scheme, lowercased.
        scheme: String,
        /// Everything after the `:`.
        rest: String,
    },
}

/// The parts of a `sip:`/`sips:` URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipUri {
    /// `true` for `sips:`.
    pub secure: bool,
    /// The user part, still %-escaped as received.
    pub user: Option<String>,
    /// The password part (deprecated by RFC 3261, but legal).
    pub password: Option<String>,
    /// The host.
    pub host: Host,
    /// The explicit port, if any.
    pub port: Option<u16>,
    /// URI parameters (`;transport=tcp;lr`).
    pub params: Params,
    /// The header part after `?`, kept verbatim.
    pub headers: Option<String>,
}

/// A host: a domain name or an IP address literal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name, as received (compare with [`Host::canonical`]).
    Domain(String),
    /// An IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 address (written in brackets).
    V6(Ipv6Addr),
}

/// Why a URI or host did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UriError(pub &'static str);

impl Uri {
    /// Parses an absolute URI.
    pub fn parse(s: &str) -> Result<Uri, UriError> {
        let colon = s.find(':').ok_or(UriError("URI has no scheme"))?;
        let scheme = &s[..colon];
        let valid_scheme = scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid_scheme {
            return Err(UriError("malformed URI scheme"));
        }
        let rest = &s[colon + 1..];
        if rest.bytes().any(|b| b <= b' ' || b == b'<' || b == b'>' || b == b'"') {
            return Err(UriError("URI contains white space or a delimiter"));
        }
        if scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips") {
            return SipUri::parse_after_scheme(scheme.eq_ignore_ascii_case("sips"), rest).map(Uri::Sip);
        }
        if rest.is_empty() {
            return Err(UriError("URI is empty after its scheme"));
        }
        Ok(Uri::Other { scheme: scheme.to_ascii_lowercase(), rest: rest.to_owned() })
    }

    /// The SIP URI, if this is one.
    pub fn as_sip(&self) -> Option<&SipUri> {
        match self {
            Uri::Sip(u) => Some(u),
            Uri::Other { .. } => None,
        }
    }
}

impl SipUri {
    fn parse_after_scheme(secure: bool, s: &str) -> Result<SipUri, UriError> {
        // '@' may only appear as the userinfo delimiter: RFC 3261 §25.1 excludes it from
        // user-unreserved, paramchar and hvalue, so the first one ends the userinfo.
        let (userinfo, hostpart) = match s.find('@') {
            Some(at) => (Some(&s[..at]), &s[at + 1..]),
            None => (None, s),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some("") => return Err(UriError("URI has an empty user part")),
            Some(ui) => match ui.split_once(':') {
                Some((u, p)) => (Some(u.to_owned()), Some(p.to_owned())),
                None => (Some(ui.to_owned()), None),
            },
        };
        if let Some(u) = &user {
            check_escapes(u)?;
        }
        let (hostport, after) = split_hostport(hostpart);
        let (host, port) = Host::parse_hostport(hostport)?;
        let (params, after) = Params::parse(after, b"?").map_err(UriError)?;
        let headers = match after.strip_prefix('?') {
            Some(h) => Some(h.to_owned()),
            None if after.is_empty() => None,
            None => return Err(UriError("unexpected characters after URI parameters")),
        };
        Ok(SipUri { secure, user, password, host, port, params, headers })
    }

    /// `user@host` with the host lowercased (or just the host): the address-of-record form
    /// used to key entities and registrations.
    pub fn aor(&self) -> String {
        match &self.user {
            Some(u) => format!("{}@{}", u, self.host.canonical()),
            None => self.host.canonical(),
        }
    }
}

/// Splits `host[:port]` from what follows (`;params` or `?headers`).
fn split_hostport(s: &str) -> (&str, &str) {
    let search_from = if s.starts_with('[') { s.find(']').unwrap_or(0) } else { 0 };
    match s[search_from..].find([';', '?']) {
        Some(i) => s.split_at(search_from + i),
        None => (s, ""),
    }
}

/// Refuses a `%` not followed by two hex digits.
fn check_escapes(s: &str) -> Result<(), UriError> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let ok = b.get(i + 1).is_some_and(u8::is_ascii_hexdigit) && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit);
            if !ok {
                return Err(UriError("malformed %-escape in URI"));
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    Ok(())
}

impl Host {
    /// Parses `host[:port]`, where host may be an `[IPv6]` reference.
    pub fn parse_hostport(s: &str) -> Result<(Host, Option<u16>), UriError> {
        let (host, port) = if let Some(v6) = s.strip_prefix('[') {
            let close = v6.find(']').ok_or(UriError("unterminated IPv6 reference"))?;
            let addr: Ipv6Addr = v6[..close].parse().map_err(|_| UriError("malformed IPv6 address"))?;
            (Host::V6(addr), &v6[close + 1..])
        } else {
            let (h, p) = match s.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (s, None),
            };
            (Host::parse(h)?, p.map_or("", |_| &s[h.len()..]))
        };
        let port = match port.strip_prefix(':') {
            None if port.is_empty() => None,
            None => return Err(UriError("unexpected characters after host")),
            Some(p) => {
                Some(crate::scan::parse_u32(p).and_then(|n| u16::try_from(n).ok()).ok_or(UriError("malformed port"))?)
            }
        };
        Ok((host, port))
    }

    /// Parses a host without port: an IPv4 literal, `[IPv6]`, or a domain name.
    pub fn parse(s: &str) -> Result<Host, UriError> {
        if let Some(v6) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            return v6.parse().map(Host::V6).map_err(|_| UriError("malformed IPv6 address"));
        }
        if let Ok(v4) = s.parse::<Ipv4Addr>() {
            return Ok(Host::V4(v4));
        }
        let valid_domain = !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            && !s.starts_with(['-', '.']);
        if !valid_domain {
            return Err(UriError("malformed host"));
        }
        // All-numeric dotted names that failed to parse as IPv4 (e.g. 10.0.0.256) are not hosts.
        if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            return Err(UriError("malformed IPv4 address"));
        }
        Ok(Host::Domain(s.to_owned()))
    }

    /// The host in the form used for comparisons and keys: domains lowercased.
    pub fn canonical(&self) -> String {
        match self {
            Host::Domain(d) => d.to_ascii_lowercase(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(d),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

impl fmt::Display for SipUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.secure { "sips:" } else { "sip:" })?;
        if let Some(u) = &self.user {
            f.write_str(u)?;
            if let Some(p) = &self.password {
                write!(f, ":{p}")?;
            }
            f.write_str("@")?;
        }
        write!(f, "{}", self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)?;
        if let Some(h) = &self.headers {
            write!(f, "?{h}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Uri::Sip(u) => write!(f, "{u}"),
            Uri::Other { scheme, rest } => write!(f, "{scheme}:{rest}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_full_sip_uri() {
        let Uri::Sip(u) = Uri::parse("sips:alice:secret@Example.COM:5061;transport=tcp;lr?subject=hi").unwrap() else {
            panic!("not a sip uri")
        };
        assert!(u.secure);
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert_eq!(u.password.as_deref(), Some("secret"));
        assert_eq!(u.host, Host::Domain("Example.COM".into()));
        assert_eq!(u.port, Some(5061));
        assert_eq!(u.params.get("transport"), Some("tcp"));
        assert!(u.params.contains("lr"));
        assert_eq!(u.headers.as_deref(), Some("subject=hi"));
        assert_eq!(u.aor(), "alice@example.com");
        assert_eq!(u.to_string(), "sips:alice:secret@Example.COM:5061;transport=tcp;lr?subject=hi");
    }

    #[test]
    fn parses_ipv6_and_escaped_users() {
        let Uri::Sip(u) = Uri::parse("sip:sips%3Auser%40example.com@[2001:db8::10]:5070").unwrap() else {
            panic!("not a sip uri")
        };
        assert_eq!(u.host, Host::V6("2001:db8::10".parse().unwrap()));
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.to_string(), "sip:sips%3Auser%40example.com@[2001:db8::10]:5070");
    }

    #[test]
    fn keeps_other_schemes_and_refuses_garbage() {
        assert_eq!(Uri::parse("tel:+1-555").unwrap(), Uri::Other { scheme: "tel".into(), rest: "+1-555".into() });
        for bad in
            ["sip:", "sip:@host", "sip:a@[::1", "sip:a@host:99999", "nocolon", "1sip:a", "sip:a b@c", "sip:%zz@h"]
        {
            assert!(Uri::parse(bad).is_err(), "{bad} should not parse");
        }
    }
}
