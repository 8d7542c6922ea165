//! Header fields: an ordered multimap of [`HeaderName`] to value text, and typed access to
//! the headers a presence server reads. List-valued headers are stored one element per
//! entry (RFC 3261 §7.3.1 makes `A: x, y` and `A: x` + `A: y` equivalent), so a malformed
//! element is found at parse time instead of silently dropped later.

mod auth;
mod cseq;
mod event;
mod media;
mod name;
mod name_addr;
mod via;

pub use auth::AuthParams;
pub use cseq::CSeq;
pub use event::{Event, SubState, SubscriptionState};
pub use media::MediaType;
pub use name::HeaderName;
pub use name_addr::NameAddr;
pub use via::{BRANCH_MAGIC_COOKIE, Via};

use crate::method::Method;
use crate::scan::{is_token, parse_u32, split_list};

/// One header line: a name and its (unfolded, trimmed) value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderField {
    /// The name.
    pub name: HeaderName,
    /// The value text.
    pub value: String,
}

/// The headers of a message, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(Vec<HeaderField>);

/// A header that is missing or does not parse; names the header so a 400 can say which.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{header}: {reason}")]
pub struct HeaderError {
    /// The header at fault.
    pub header: HeaderName,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// A Contact header's value: `*` (only in a REGISTER removing all bindings) or addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contacts {
    /// `Contact: *` (RFC 3261 §10.2.2).
    Wildcard,
    /// Zero or more addresses.
    List(Vec<NameAddr>),
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a header line; list-valued headers are not split here.
    pub fn push(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.push(HeaderField { name, value: value.into() });
    }

    /// Inserts a header line before all others (a new top Via).
    pub fn prepend(&mut self, name: HeaderName, value: impl Into<String>) {
        self.0.insert(0, HeaderField { name, value: value.into() });
    }

    /// Replaces every line of `name` with one line holding `value`, where the first one
    /// stood (or at the end when there was none).
    pub fn set(&mut self, name: HeaderName, value: impl Into<String>) {
        let value = value.into();
        match self.0.iter().position(|h| h.name.matches(&name)) {
            Some(first) => {
                self.0[first].value = value;
                let mut seen = false;
                // Keeps the first line of the name (now `value`) and drops the others.
                self.0.retain(|h| !h.name.matches(&name) || !std::mem::replace(&mut seen, true));
            }
            None => self.push(name, value),
        }
    }

    /// Replaces the value of the first line of `name` only (e.g. the top Via), keeping
    /// later lines. Returns false when there is no such line.
    pub fn replace_first(&mut self, name: &HeaderName, value: impl Into<String>) -> bool {
        match self.0.iter_mut().find(|h| h.name.matches(name)) {
            Some(field) => {
                field.value = value.into();
                true
            }
            None => false,
        }
    }

    /// Removes every line of `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        self.0.retain(|h| !h.name.matches(name));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&str> {
        self.0.iter().find(|h| h.name.matches(name)).map(|h| h.value.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |h| h.name.matches(name)).map(|h| h.value.as_str())
    }

    /// Whether any line of `name` is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// Every line, in order.
    pub fn iter(&self) -> impl Iterator<Item = &HeaderField> {
        self.0.iter()
    }

    /// The number of lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a received header line, splitting list-valued headers into elements.
    pub(crate) fn push_received(&mut self, name: HeaderName, value: &str) -> Result<(), HeaderError> {
        let is_wildcard_contact = name == HeaderName::Contact && value.trim() == "*";
        if !name.is_list() || is_wildcard_contact {
            self.push(name, value.trim());
            return Ok(());
        }
        let elements = split_list(value).map_err(|reason| HeaderError { header: name.clone(), reason })?;
        if elements.is_empty() {
            // An empty list is meaningful (e.g. `Accept:` accepts no body), so keep the line.
            self.push(name.clone(), "");
        }
        for element in elements {
            self.push(name.clone(), element);
        }
        Ok(())
    }

    fn required(&self, name: HeaderName) -> Result<&str, HeaderError> {
        self.get(&name).ok_or(HeaderError { header: name, reason: "missing" })
    }

    fn typed<T>(&self, name: HeaderName, parse: fn(&str) -> Result<T, &'static str>) -> Result<Option<T>, HeaderError> {
        self.get(&name).map(|v| parse(v).map_err(|reason| HeaderError { header: name.clone(), reason })).transpose()
    }

    fn typed_list<T>(
        &self,
        name: HeaderName,
        parse: fn(&str) -> Result<T, &'static str>,
    ) -> Result<Vec<T>, HeaderError> {
        self.get_all(&name)
            .filter(|v| !v.is_empty())
            .map(|v| parse(v).map_err(|reason| HeaderError { header: name.clone(), reason }))
            .collect()
    }

    fn number(&self, name: HeaderName) -> Result<Option<u32>, HeaderError> {
        self.typed(name, |v| parse_u32(v).ok_or("not a decimal number"))
    }

    fn tokens(&self, name: HeaderName) -> Result<Vec<String>, HeaderError> {
        self.typed_list(name, |v| if is_token(v) { Ok(v.to_owned()) } else { Err("element is not a token") })
    }

    /// Every Via, top first.
    pub fn via(&self) -> Result<Vec<Via>, HeaderError> {
        let vias = self.typed_list(HeaderName::Via, Via::parse)?;
        if vias.is_empty() {
            return Err(HeaderError { header: HeaderName::Via, reason: "missing" });
        }
        Ok(vias)
    }

    /// The top Via.
    pub fn top_via(&self) -> Result<Via, HeaderError> {
        Via::parse(self.required(HeaderName::Via)?).map_err(|reason| HeaderError { header: HeaderName::Via, reason })
    }

    /// From.
    pub fn from(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(self.required(HeaderName::From)?)
            .map_err(|reason| HeaderError { header: HeaderName::From, reason })
    }

    /// To.
    pub fn to(&self) -> Result<NameAddr, HeaderError> {
        NameAddr::parse(self.required(HeaderName::To)?).map_err(|reason| HeaderError { header: HeaderName::To, reason })
    }

    /// Call-ID (RFC 3261 §20.8: `word [@ word]`, here any non-empty value without white space).
    pub fn call_id(&self) -> Result<&str, HeaderError> {
        let v = self.required(HeaderName::CallId)?;
        if v.is_empty() || v.bytes().any(|b| b.is_ascii_whitespace()) {
            return Err(HeaderError { header: HeaderName::CallId, reason: "not a single word" });
        }
        Ok(v)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<CSeq, HeaderError> {
        CSeq::parse(self.required(HeaderName::CSeq)?).map_err(|reason| HeaderError { header: HeaderName::CSeq, reason })
    }

    /// Contact: `*` or the addresses (none when absent).
    pub fn contacts(&self) -> Result<Contacts, HeaderError> {
        if self.get_all(&HeaderName::Contact).any(|v| v == "*") {
            if self.get_all(&HeaderName::Contact).count() > 1 {
                return Err(HeaderError { header: HeaderName::Contact, reason: "'*' mixed with addresses" });
            }
            return Ok(Contacts::Wildcard);
        }
        self.typed_list(HeaderName::Contact, NameAddr::parse).map(Contacts::List)
    }

    /// Route values, in order.
    pub fn routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.typed_list(HeaderName::Route, NameAddr::parse)
    }

    /// Record-Route values, in order.
    pub fn record_routes(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.typed_list(HeaderName::RecordRoute, NameAddr::parse)
    }

    /// Path values (RFC 3327 §4), in order: the proxy nearest the registrar first.
    pub fn paths(&self) -> Result<Vec<NameAddr>, HeaderError> {
        self.typed_list(HeaderName::Path, NameAddr::parse)
    }

    /// Expires, in seconds.
    pub fn expires(&self) -> Result<Option<u32>, HeaderError> {
        self.number(HeaderName::Expires)
    }

    /// Min-Expires, in seconds.
    pub fn min_expires(&self) -> Result<Option<u32>, HeaderError> {
        self.number(HeaderName::MinExpires)
    }

    /// Max-Forwards.
    pub fn max_forwards(&self) -> Result<Option<u32>, HeaderError> {
        self.number(HeaderName::MaxForwards)
    }

    /// Content-Length.
    pub fn content_length(&self) -> Result<Option<u32>, HeaderError> {
        self.number(HeaderName::ContentLength)
    }

    /// Event.
    pub fn event(&self) -> Result<Option<Event>, HeaderError> {
        self.typed(HeaderName::Event, Event::parse)
    }

    /// Subscription-State.
    pub fn subscription_state(&self) -> Result<Option<SubscriptionState>, HeaderError> {
        self.typed(HeaderName::SubscriptionState, SubscriptionState::parse)
    }

    /// Content-Type.
    pub fn content_type(&self) -> Result<Option<MediaType>, HeaderError> {
        self.typed(HeaderName::ContentType, MediaType::parse)
    }

    /// Accept: `None` when absent, `Some(empty)` for an empty Accept.
    pub fn accept(&self) -> Result<Option<Vec<MediaType>>, HeaderError> {
        if !self.contains(&HeaderName::Accept) {
            return Ok(None);
        }
        let range = |v: &str| MediaType::parse(v).and_then(|range| range.quality().map(|_| range));
        self.typed_list(HeaderName::Accept, range).map(Some)
    }

    /// Allow: `None` when absent.
    pub fn allow(&self) -> Result<Option<Vec<Method>>, HeaderError> {
        if !self.contains(&HeaderName::Allow) {
            return Ok(None);
        }
        self.typed_list(HeaderName::Allow, |v| v.parse().map_err(|_| "method is not a token")).map(Some)
    }

    /// Allow-Events package names, lowercased.
    pub fn allow_events(&self) -> Result<Vec<String>, HeaderError> {
        Ok(self.tokens(HeaderName::AllowEvents)?.into_iter().map(|t| t.to_ascii_lowercase()).collect())
    }

    /// Supported option tags.
    pub fn supported(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::Supported)
    }

    /// Require option tags.
    pub fn require(&self) -> Result<Vec<String>, HeaderError> {
        self.tokens(HeaderName::Require)
    }

    /// SIP-ETag (RFC 3903 §11.3.1).
    pub fn sip_etag(&self) -> Result<Option<String>, HeaderError> {
        self.typed(HeaderName::SipEtag, entity_tag)
    }

    /// SIP-If-Match (RFC 3903 §11.3.2).
    pub fn sip_if_match(&self) -> Result<Option<String>, HeaderError> {
        self.typed(HeaderName::SipIfMatch, entity_tag)
    }

    /// WWW-Authenticate challenges.
    pub fn www_authenticate(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.typed_list(HeaderName::WwwAuthenticate, AuthParams::parse)
    }

    /// Proxy-Authenticate challenges.
    pub fn proxy_authenticate(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.typed_list(HeaderName::ProxyAuthenticate, AuthParams::parse)
    }

    /// Authorization credentials.
    pub fn authorization(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.typed_list(HeaderName::Authorization, AuthParams::parse)
    }

    /// Proxy-Authorization credentials.
    pub fn proxy_authorization(&self) -> Result<Vec<AuthParams>, HeaderError> {
        self.typed_list(HeaderName::ProxyAuthorization, AuthParams::parse)
    }
}

/// An RFC 3903 entity-tag is a token.
fn entity_tag(v: &str) -> Result<String, &'static str> {
    if is_token(v) { Ok(v.to_owned()) } else { Err("entity-tag is not a token") }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push_received(HeaderName::from_wire(n), v).unwrap();
        }
        h
    }

    #[test]
    fn lists_are_split_and_typed() {
        let h = headers(&[
            ("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b;branch=z9hG4bK2"),
            ("Accept", "application/pidf+xml, application/xpidf+xml"),
            ("u", "presence, Dialog"),
            ("Allow", "INVITE, SUBSCRIBE"),
        ]);
        assert_eq!(h.via().unwrap().len(), 2);
        assert_eq!(h.accept().unwrap().unwrap().len(), 2);
        assert_eq!(h.allow_events().unwrap(), vec!["presence", "dialog"]);
        assert_eq!(h.allow().unwrap().unwrap(), vec![Method::Invite, Method::Subscribe]);
    }

    #[test]
    fn set_keeps_position_and_replace_first_keeps_later_lines() {
        let mut h = headers(&[("To", "<sip:a@b>"), ("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"), ("To", "<sip:x@y>")]);
        h.set(HeaderName::To, "<sip:a@b>;tag=1");
        assert_eq!(
            h.iter().map(|f| f.value.as_str()).collect::<Vec<_>>(),
            vec!["<sip:a@b>;tag=1", "SIP/2.0/UDP a", "SIP/2.0/UDP b"]
        );
        assert!(h.replace_first(&HeaderName::Via, "SIP/2.0/UDP c"));
        assert_eq!(h.get_all(&HeaderName::Via).collect::<Vec<_>>(), vec!["SIP/2.0/UDP c", "SIP/2.0/UDP b"]);
        assert!(!h.replace_first(&HeaderName::Route, "x"));
    }

    #[test]
    fn empty_accept_differs_from_absent() {
        assert_eq!(headers(&[("Accept", "")]).accept().unwrap(), Some(vec![]));
        assert_eq!(headers(&[]).accept().unwrap(), None);
    }

    #[test]
    fn wildcard_contact() {
        assert_eq!(headers(&[("m", "*")]).contacts().unwrap(), Contacts::Wildcard);
        assert!(headers(&[("m", "*"), ("m", "<sip:a@b>")]).contacts().is_err());
        let Contacts::List(l) = headers(&[("Contact", "<sip:a@b>;expires=5, sip:c@d")]).contacts().unwrap() else {
            panic!("wildcard")
        };
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].params.get("expires"), Some("5"));
    }

    #[test]
    fn errors_name_the_header() {
        let h = headers(&[("Expires", "soon"), ("CSeq", "1")]);
        assert_eq!(h.expires().unwrap_err().header, HeaderName::Expires);
        assert_eq!(h.cseq().unwrap_err().header, HeaderName::CSeq);
        assert_eq!(h.call_id().unwrap_err(), HeaderError { header: HeaderName::CallId, reason: "missing" });
    }
}
