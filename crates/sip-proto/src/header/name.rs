//! Header names: one table holding each known header's canonical spelling, its compact
//! form (RFC 3261 §7.3.3, RFC 6665 §8.2 for `o`/`u`, RFC 3515 for `r`/`b`) and whether its
//! value is a comma-separated list (RFC 3261 §7.3.1). Names match case-insensitively.

use std::fmt;

macro_rules! header_names {
    ($( $(#[$doc:meta])* $variant:ident = $canonical:literal, $compact:expr, $list:expr; )*) => {
        /// A header field name; unknown names are kept as [`HeaderName::Other`].
        #[derive(Clone, Debug, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum HeaderName {
            $( $(#[$doc])* $variant, )*
            /// A header this crate has no special knowledge of, with its name as received.
            Other(String),
        }

        const TABLE: &[(HeaderName, &str, Option<u8>, bool)] = &[
            $( (HeaderName::$variant, $canonical, $compact, $list), )*
        ];

        impl HeaderName {
            /// The canonical spelling, used when encoding.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canonical, )*
                    HeaderName::Other(name) => name,
                }
            }
        }
    };
}

header_names! {
    /// `Accept` (RFC 3261 §20.1).
    Accept = "Accept", None, true;
    /// `Accept-Encoding`.
    AcceptEncoding = "Accept-Encoding", None, true;
    /// `Accept-Language`.
    AcceptLanguage = "Accept-Language", None, true;
    /// `Allow`.
    Allow = "Allow", None, true;
    /// `Allow-Events` (RFC 6665 §8.2.2).
    AllowEvents = "Allow-Events", Some(b'u'), true;
    /// `Authorization`.
    Authorization = "Authorization", None, false;
    /// `Call-ID`.
    CallId = "Call-ID", Some(b'i'), false;
    /// `Contact`.
    Contact = "Contact", Some(b'm'), true;
    /// `Content-Encoding`.
    ContentEncoding = "Content-Encoding", Some(b'e'), true;
    /// `Content-Length`.
    ContentLength = "Content-Length", Some(b'l'), false;
    /// `Content-Type`.
    ContentType = "Content-Type", Some(b'c'), false;
    /// `CSeq`.
    CSeq = "CSeq", None, false;
    /// `Event` (RFC 6665 §8.2.1).
    Event = "Event", Some(b'o'), false;
    /// `Expires`.
    Expires = "Expires", None, false;
    /// `From`.
    From = "From", Some(b'f'), false;
    /// `Max-Forwards`.
    MaxForwards = "Max-Forwards", None, false;
    /// `Min-Expires`.
    MinExpires = "Min-Expires", None, false;
    /// `Path` (RFC 3327 §4).
    Path = "Path", None, true;
    /// `Proxy-Authenticate`.
    ProxyAuthenticate = "Proxy-Authenticate", None, false;
    /// `Proxy-Authorization`.
    ProxyAuthorization = "Proxy-Authorization", None, false;
    /// `Proxy-Require`.
    ProxyRequire = "Proxy-Require", None, true;
    /// `Record-Route`.
    RecordRoute = "Record-Route", None, true;
    /// `Refer-To` (RFC 3515).
    ReferTo = "Refer-To", Some(b'r'), false;
    /// `Referred-By` (RFC 3892).
    ReferredBy = "Referred-By", Some(b'b'), false;
    /// `Require`.
    Require = "Require", None, true;
    /// `Retry-After`.
    RetryAfter = "Retry-After", None, false;
    /// `Route`.
    Route = "Route", None, true;
    /// `Server`.
    Server = "Server", None, false;
    /// `SIP-ETag` (RFC 3903 §11.3.1).
    SipEtag = "SIP-ETag", None, false;
    /// `SIP-If-Match` (RFC 3903 §11.3.2).
    SipIfMatch = "SIP-If-Match", None, false;
    /// `Subject`.
    Subject = "Subject", Some(b's'), false;
    /// `Subscription-State` (RFC 6665 §8.2.3).
    SubscriptionState = "Subscription-State", None, false;
    /// `Supported`.
    Supported = "Supported", Some(b'k'), true;
    /// `To`.
    To = "To", Some(b't'), false;
    /// `Unsupported`.
    Unsupported = "Unsupported", None, true;
    /// `User-Agent`.
    UserAgent = "User-Agent", None, false;
    /// `Via`.
    Via = "Via", Some(b'v'), true;
    /// `Warning`.
    Warning = "Warning", None, true;
    /// `WWW-Authenticate`.
    WwwAuthenticate = "WWW-Authenticate", None, false;
}

impl HeaderName {
    /// Looks a name up by its full or compact form, ignoring case.
    pub fn from_wire(name: &str) -> HeaderName {
        let compact = match name.as_bytes() {
            [c] => Some(c.to_ascii_lowercase()),
            _ => None,
        };
        TABLE
            .iter()
            .find(|(_, canonical, short, _)| match compact {
                Some(c) => *short == Some(c),
                None => canonical.eq_ignore_ascii_case(name),
            })
            .map_or_else(|| HeaderName::Other(name.to_owned()), |(known, ..)| known.clone())
    }

    /// The compact form (RFC 3261 §7.3.3), if the header has one.
    pub fn compact(&self) -> Option<char> {
        TABLE.iter().find(|(known, ..)| known == self).and_then(|(_, _, short, _)| short.map(char::from))
    }

    /// Whether values of this header are comma-separated lists that may be split into one
    /// entry per element (RFC 3261 §7.3.1).
    pub fn is_list(&self) -> bool {
        TABLE.iter().any(|(known, _, _, list)| *list && known == self)
    }

    /// Whether this is the same header as `other`, comparing unknown names case-insensitively.
    pub fn matches(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case_insensitive_forms() {
        assert_eq!(HeaderName::from_wire("o"), HeaderName::Event);
        assert_eq!(HeaderName::from_wire("U"), HeaderName::AllowEvents);
        assert_eq!(HeaderName::from_wire("i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("cAlL-iD"), HeaderName::CallId);
        assert_eq!(HeaderName::from_wire("sip-etag"), HeaderName::SipEtag);
        assert_eq!(HeaderName::from_wire("q"), HeaderName::Other("q".into()));
        assert!(HeaderName::from_wire("X-Foo").matches(&HeaderName::Other("x-foo".into())));
    }

    #[test]
    fn list_flags() {
        assert!(HeaderName::Via.is_list());
        assert!(HeaderName::Contact.is_list());
        assert!(!HeaderName::WwwAuthenticate.is_list());
        assert!(!HeaderName::Other("X".into()).is_list());
    }
}
