//! Generic parameters (`;name=value`) as they appear after URIs and header values
//! (RFC 3261 §19.1.1 uri-parameters, §25.1 generic-param). Names compare case-insensitively;
//! order is kept so a message re-encodes the way it arrived.

use std::fmt;

use crate::scan::{quote, take_quoted};

/// One parameter: a name and an optional value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The name as received.
    pub name: String,
    /// The value, unescaped if it was a quoted string; `None` for a flag such as `;lr`.
    pub value: Option<String>,
    /// Whether the value was (and will be written as) a quoted string.
    pub quoted: bool,
}

/// An ordered list of parameters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<Param>);

impl Params {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether a parameter named `name` is present, with or without a value.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The value of `name`; `None` when absent or when present without a value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.find(name).and_then(|p| p.value.as_deref())
    }

    /// Sets `name` to `value` (a token; `None` for a flag), replacing any earlier value.
    pub fn set(&mut self, name: &str, value: Option<&str>) {
        let param = Param { name: name.to_owned(), value: value.map(str::to_owned), quoted: false };
        match self.0.iter_mut().find(|p| p.name.eq_ignore_ascii_case(name)) {
            Some(existing) => *existing = param,
            None => self.0.push(param),
        }
    }

    /// Sets `name` to a value written as a quoted string.
    pub fn set_quoted(&mut self, name: &str, value: &str) {
        self.set(name, Some(value));
        if let Some(p) = self.0.iter_mut().find(|p| p.name.eq_ignore_ascii_case(name)) {
            p.quoted = true;
        }
    }

    /// Removes `name`, if present.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|p| !p.name.eq_ignore_ascii_case(name));
    }

    /// The parameters in order.
    pub fn iter(&self) -> impl Iterator<Item = &Param> {
        self.0.iter()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn find(&self, name: &str) -> Option<&Param> {
        self.0.iter().find(|p| p.name.eq_ignore_ascii_case(name))
    }

    /// Parses `token;a=b;c`: a leading token and its parameters, with nothing after them
    /// (the shape of Event and Subscription-State values).
    pub(crate) fn parse_token_value(s: &str) -> Result<(&str, Params), &'static str> {
        let s = s.trim();
        let end = s.find(|c: char| c == ';' || c.is_ascii_whitespace()).unwrap_or(s.len());
        let token = &s[..end];
        if !crate::scan::is_token(token) {
            return Err("value is not a token");
        }
        let (params, rest) = Params::parse(&s[end..], b"")?;
        if !rest.trim().is_empty() {
            return Err("unexpected characters after the parameters");
        }
        Ok((token, params))
    }

    /// Parses `;a=b;c;d="e f"` (the leading `;` included). Whitespace around `;` and `=` is
    /// allowed (RFC 3261 SEMI and EQUAL are SWS-padded). `stop` bytes end the list and are
    /// left in the returned remainder.
    pub(crate) fn parse<'a>(mut s: &'a str, stop: &[u8]) -> Result<(Params, &'a str), &'static str> {
        let mut params = Params::new();
        loop {
            s = s.trim_start();
            let Some(rest) = s.strip_prefix(';') else {
                return Ok((params, s));
            };
            let rest = rest.trim_start();
            let name_end = rest
                .find(|c: char| c == '=' || c == ';' || c.is_ascii_whitespace() || stop.contains(&(c as u8)))
                .unwrap_or(rest.len());
            let name = &rest[..name_end];
            if name.is_empty() || !name.bytes().all(is_param_char) {
                return Err("malformed parameter name");
            }
            let after_name = rest[name_end..].trim_start();
            if let Some(v) = after_name.strip_prefix('=') {
                let v = v.trim_start();
                let (value, quoted, remainder) = if v.starts_with('"') {
                    let (value, remainder) = take_quoted(v)?;
                    (value, true, remainder)
                } else {
                    let end = v
                        .find(|c: char| c == ';' || c.is_ascii_whitespace() || stop.contains(&(c as u8)))
                        .unwrap_or(v.len());
                    if end == 0 {
                        return Err("parameter has an empty value");
                    }
                    if !v[..end].bytes().all(is_param_value_char) {
                        return Err("malformed parameter value");
                    }
                    (v[..end].to_owned(), false, &v[end..])
                };
                params.0.push(Param { name: name.to_owned(), value: Some(value), quoted });
                s = remainder;
            } else {
                params.0.push(Param { name: name.to_owned(), value: None, quoted: false });
                s = after_name;
            }
        }
    }
}

/// Characters of a parameter name: token characters plus the URI `paramchar` extras.
fn is_param_char(b: u8) -> bool {
    crate::scan::is_token_char(b) || b"[]/:&+$".contains(&b)
}

/// Characters of an unquoted value: token, host (IPv6 references) and URI `paramchar`.
fn is_param_value_char(b: u8) -> bool {
    is_param_char(b) || b == b'@' || b >= 0x80
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for p in &self.0 {
            match (&p.value, p.quoted) {
                (None, _) => write!(f, ";{}", p.name)?,
                (Some(v), true) => write!(f, ";{}={}", p.name, quote(v))?,
                (Some(v), false) => write!(f, ";{}={}", p.name, v)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_values_quotes_and_spacing() {
        let (p, rest) = Params::parse(" ; branch=z9hG4bK1 ;rport; lr ; x = \"a;b\">tail", b">").unwrap();
        assert_eq!(p.get("BRANCH"), Some("z9hG4bK1"));
        assert!(p.contains("rport") && p.get("rport").is_none());
        assert!(p.contains("lr"));
        assert_eq!(p.get("x"), Some("a;b"));
        assert_eq!(rest, ">tail");
        assert_eq!(p.to_string(), ";branch=z9hG4bK1;rport;lr;x=\"a;b\"");
    }

    #[test]
    fn refuses_empty_names_and_values() {
        assert!(Params::parse(";=1", b"").is_err());
        assert!(Params::parse(";a=", b"").is_err());
        assert!(Params::parse(";a=\"open", b"").is_err());
    }

    #[test]
    fn set_replaces_case_insensitively() {
        let mut p = Params::new();
        p.set("Tag", Some("1"));
        p.set("tag", Some("2"));
        assert_eq!(p.iter().count(), 1);
        assert_eq!(p.get("TAG"), Some("2"));
        p.remove("tag");
        assert!(p.is_empty());
    }
}
