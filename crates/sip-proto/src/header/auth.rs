//! Digest authentication headers: `WWW-Authenticate`/`Proxy-Authenticate` challenges and
//! `Authorization`/`Proxy-Authorization` credentials (RFC 3261 §20.27, §20.44, §25.1;
//! RFC 8760 algorithms). Only the syntax lives here; computing and checking digests is the
//! application's.

use std::fmt;

use crate::scan::{is_token, quote, split_list, take_quoted};

/// `Digest realm="x", nonce="y", ...`: a scheme and its comma-separated auth-params.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthParams {
    /// The scheme, as received (`Digest`).
    pub scheme: String,
    /// `(name, value, quoted)` in order.
    pub params: Vec<(String, String, bool)>,
}

impl AuthParams {
    /// Parses a challenge or credentials value.
    pub fn parse(s: &str) -> Result<AuthParams, &'static str> {
        let s = s.trim();
        let end = s.find(|c: char| c.is_ascii_whitespace()).unwrap_or(s.len());
        let scheme = &s[..end];
        if !is_token(scheme) {
            return Err("auth scheme is not a token");
        }
        let mut params = Vec::new();
        for item in split_list(&s[end..])? {
            let (name, value) = item.split_once('=').ok_or("auth-param has no '='")?;
            let (name, value) = (name.trim(), value.trim());
            if !is_token(name) {
                return Err("auth-param name is not a token");
            }
            let (value, quoted) = if value.starts_with('"') {
                let (v, rest) = take_quoted(value)?;
                if !rest.trim().is_empty() {
                    return Err("characters after a quoted auth-param");
                }
                (v, true)
            } else if is_token(value) {
                (value.to_owned(), false)
            } else {
                return Err("auth-param value is neither token nor quoted string");
            };
            params.push((name.to_owned(), value, quoted));
        }
        Ok(AuthParams { scheme: scheme.to_owned(), params })
    }

    /// The value of the auth-param `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(n, ..)| n.eq_ignore_ascii_case(name)).map(|(_, v, _)| v.as_str())
    }

    /// Whether the scheme is `Digest`.
    pub fn is_digest(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("Digest")
    }
}

impl fmt::Display for AuthParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        for (i, (name, value, quoted)) in self.params.iter().enumerate() {
            let sep = if i == 0 { " " } else { ", " };
            if *quoted {
                write!(f, "{sep}{name}={}", quote(value))?;
            } else {
                write!(f, "{sep}{name}={value}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_credentials_with_commas_in_quotes() {
        let a = AuthParams::parse(
            r#"Digest username="1001", realm="pbx, main", nonce="abc", uri="sip:pbx.example.com", response="0123", algorithm=SHA-256, qop=auth, nc=00000001, cnonce="x""#,
        )
        .unwrap();
        assert!(a.is_digest());
        assert_eq!(a.get("REALM"), Some("pbx, main"));
        assert_eq!(a.get("nc"), Some("00000001"));
        assert_eq!(a.get("algorithm"), Some("SHA-256"));
        assert_eq!(AuthParams::parse(&a.to_string()).unwrap(), a);
        assert!(AuthParams::parse("Digest realm").is_err());
        assert!(AuthParams::parse("Digest realm=a b").is_err());
    }
}
