//! The Via header (RFC 3261 §8.1.1.7, §20.42) with the `rport` extension (RFC 3581).

use std::fmt;

use crate::params::Params;
use crate::scan::is_token;
use crate::uri::Host;

/// The magic cookie that marks an RFC 3261 branch (§8.1.1.7).
pub const BRANCH_MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Via {
    /// The protocol version (`2.0`). Other versions parse, so a 505 can still be addressed.
    pub version: String,
    /// The transport token, uppercased (`UDP`, `TCP`, `TLS`, `WS`, `WSS`, ...).
    pub transport: String,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Via parameters: `branch`, `rport`, `received`, `maddr`, `ttl` ...
    pub params: Params,
}

impl Via {
    /// Parses one Via value. LWS around the `/` separators is allowed (RFC 3261 SLASH), and
    /// the protocol version is any token (RFC 3261 §25.1 `protocol-version`).
    pub fn parse(s: &str) -> Result<Via, &'static str> {
        let mut parts = s.splitn(3, '/');
        let (Some(proto), Some(version), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err("Via has no SIP/2.0/transport");
        };
        let version = version.trim();
        if !proto.trim().eq_ignore_ascii_case("SIP") || !is_token(version) {
            return Err("Via protocol is not SIP/<version>");
        }
        let rest = rest.trim_start();
        let transport_end = rest.find(|c: char| c.is_ascii_whitespace()).ok_or("Via has no sent-by")?;
        let transport = &rest[..transport_end];
        if !is_token(transport) {
            return Err("malformed Via transport");
        }
        let rest = rest[transport_end..].trim_start();
        let sent_by_end = rest.find(|c: char| c == ';' || c.is_ascii_whitespace()).unwrap_or(rest.len());
        let (host, port) = Host::parse_hostport(&rest[..sent_by_end]).map_err(|e| e.0)?;
        let (params, after) = Params::parse(&rest[sent_by_end..], b"")?;
        if !after.trim().is_empty() {
            return Err("unexpected characters in Via");
        }
        if params.get("branch").is_some_and(|branch| !is_token(branch)) {
            return Err("malformed Via branch");
        }
        Ok(Via { version: version.to_owned(), transport: transport.to_ascii_uppercase(), host, port, params })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.params.get("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie, so it alone identifies the
    /// transaction (§17.2.3).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(BRANCH_MAGIC_COOKIE))
    }

    /// Whether the sender asked for `rport` (RFC 3581 §3), with or without a value.
    pub fn wants_rport(&self) -> bool {
        self.params.contains("rport")
    }

    /// The `sent-by` as `host[:port]` text, as used in transaction keys.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{}", self.host.canonical(), p),
            None => self.host.canonical(),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/{}/{} {}", self.version, self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}", self.params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spaced_via_with_rport() {
        let v = Via::parse("SIP / 2.0 / udp 192.0.2.1:5060 ;branch=z9hG4bK776;rport;received=192.0.2.9").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.port, Some(5060));
        assert!(v.has_rfc3261_branch());
        assert!(v.wants_rport());
        assert_eq!(v.params.get("received"), Some("192.0.2.9"));
        assert_eq!(v.sent_by(), "192.0.2.1:5060");
        assert_eq!(v.to_string(), "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776;rport;received=192.0.2.9");
    }

    #[test]
    fn parses_ipv6_sent_by() {
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9]:5061;branch=z9hG4bKa").unwrap();
        assert_eq!(v.host, Host::V6("2001:db8::9".parse().unwrap()));
        assert_eq!(v.port, Some(5061));
    }

    #[test]
    fn refuses_bad_vias() {
        for bad in ["SIP/2.0/UDP", "SIP/ /UDP h", "HTTP/2.0/UDP h", "SIP/2.0/UDP h;branch=", "SIP/2.0/UDP h junk"] {
            assert!(Via::parse(bad).is_err(), "{bad}");
        }
        // Another version parses, so a 505 can still be addressed.
        assert_eq!(Via::parse("SIP/7.0/UDP h").unwrap().version, "7.0");
    }
}
