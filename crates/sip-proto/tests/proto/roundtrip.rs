//! Properties of parsing and encoding:
//! - serialize ∘ parse is the identity on the typed form: a request built from typed
//!   values encodes and parses back to the same values;
//! - the wire spelling does not matter: compact or long names in any case, folded lines and
//!   several list elements per line all parse to the same typed message, and re-encoding
//!   that message parses to it again.

use bytes::Bytes;
use proptest::prelude::*;
use sip_proto::header::{CSeq, Event, MediaType, NameAddr, Via};
use sip_proto::message::Message;
use sip_proto::params::Params;
use sip_proto::uri::{Host, SipUri};
use sip_proto::{HeaderName, Headers, Method, Request, Uri, parse_message};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,5}){0,2}".prop_map(Host::Domain),
        any::<[u8; 4]>().prop_map(|o| Host::V4(o.into())),
        any::<[u16; 8]>().prop_map(|s| Host::V6(s.into())),
    ]
}

/// Header parameters: flags, tokens and quoted strings with awkward characters.
fn params() -> impl Strategy<Value = Params> {
    params_quoted_if(any::<bool>())
}

/// URI parameters: flags and tokens only (RFC 3261 §19.1.1 has no quoted form).
fn uri_params() -> impl Strategy<Value = Params> {
    params_quoted_if(Just(false))
}

fn params_quoted_if(quote: impl Strategy<Value = bool>) -> impl Strategy<Value = Params> {
    proptest::collection::vec((token(), proptest::option::of(token()), quote), 0..3).prop_map(|list| {
        let mut p = Params::new();
        for (i, (name, value, quoted)) in list.into_iter().enumerate() {
            // Distinct names, so later `set` calls do not merge entries.
            let name = format!("{name}{i}");
            match (value, quoted) {
                (Some(v), true) => p.set_quoted(&name, &format!("{v} ;,\"\\")),
                (value, _) => p.set(&name, value.as_deref()),
            }
        }
        p
    })
}

fn sip_uri() -> impl Strategy<Value = Uri> {
    (proptest::option::of("[a-z0-9]{1,8}"), host(), proptest::option::of(1u16..), uri_params(), any::<bool>()).prop_map(
        |(user, host, port, params, secure)| {
            Uri::Sip(SipUri { secure, user, password: None, host, port, params, headers: None })
        },
    )
}

fn name_addr() -> impl Strategy<Value = NameAddr> {
    (proptest::option::of("[a-zA-Z ,\"\\\\]{1,12}"), sip_uri(), params()).prop_map(|(display, uri, params)| NameAddr {
        display,
        uri,
        params,
    })
}

fn via() -> impl Strategy<Value = Via> {
    (prop_oneof![Just("UDP"), Just("TCP"), Just("TLS")], host(), proptest::option::of(1u16..), token(), params())
        .prop_map(|(transport, host, port, branch, mut params)| {
            params.set("branch", Some(&format!("z9hG4bK{branch}")));
            Via { version: "2.0".to_owned(), transport: transport.to_owned(), host, port, params }
        })
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Subscribe),
        Just(Method::Notify),
        Just(Method::Publish),
        Just(Method::Register),
        Just(Method::Options),
        "[A-Z]{3,10}".prop_map(|m| m.parse().unwrap()),
    ]
}

/// A request and the typed values it was built from.
#[derive(Debug, Clone)]
struct Typed {
    method: Method,
    uri: Uri,
    vias: Vec<Via>,
    from: NameAddr,
    to: NameAddr,
    call_id: String,
    seq: u32,
    contacts: Vec<NameAddr>,
    event: Option<Event>,
    expires: Option<u32>,
    accept: Vec<MediaType>,
    body: Vec<u8>,
}

fn typed() -> impl Strategy<Value = Typed> {
    (
        (method(), sip_uri(), proptest::collection::vec(via(), 1..4), name_addr(), name_addr()),
        ("[a-zA-Z0-9.@-]{1,20}", 0u32..(1 << 31), proptest::collection::vec(name_addr(), 0..3)),
        (proptest::option::of((token(), params())), proptest::option::of(any::<u32>())),
        (
            proptest::collection::vec(("[a-z]{1,8}", "[a-z+.-]{1,10}", params()), 0..3),
            proptest::collection::vec(any::<u8>(), 0..64),
        ),
    )
        .prop_map(|((method, uri, vias, from, to), (call_id, seq, contacts), (event, expires), (accept, body))| {
            Typed {
                method,
                uri,
                vias,
                from,
                to,
                call_id,
                seq,
                contacts,
                event: event.map(|(package, params)| Event { package: package.to_ascii_lowercase(), params }),
                expires,
                accept: accept.into_iter().map(|(kind, subtype, params)| MediaType { kind, subtype, params }).collect(),
                body,
            }
        })
}

impl Typed {
    fn request(&self) -> Request {
        let mut h = Headers::new();
        for v in &self.vias {
            h.push(HeaderName::Via, v.to_string());
        }
        h.push(HeaderName::From, self.from.to_string());
        h.push(HeaderName::To, self.to.to_string());
        h.push(HeaderName::CallId, self.call_id.clone());
        h.push(HeaderName::CSeq, CSeq { seq: self.seq, method: self.method.clone() }.to_string());
        for c in &self.contacts {
            h.push(HeaderName::Contact, c.to_string());
        }
        if let Some(e) = &self.event {
            h.push(HeaderName::Event, e.to_string());
        }
        if let Some(x) = self.expires {
            h.push(HeaderName::Expires, x.to_string());
        }
        for a in &self.accept {
            h.push(HeaderName::Accept, a.to_string());
        }
        Request { method: self.method.clone(), uri: self.uri.clone(), headers: h, body: Bytes::from(self.body.clone()) }
    }

    fn assert_matches(&self, parsed: &Request) {
        let h = &parsed.headers;
        assert_eq!(parsed.method, self.method);
        assert_eq!(parsed.uri, self.uri);
        assert_eq!(h.via().unwrap(), self.vias);
        assert_eq!(h.from().unwrap(), self.from);
        assert_eq!(h.to().unwrap(), self.to);
        assert_eq!(h.call_id().unwrap(), self.call_id);
        assert_eq!(h.cseq().unwrap(), CSeq { seq: self.seq, method: self.method.clone() });
        assert_eq!(h.contacts().unwrap(), sip_proto::header::Contacts::List(self.contacts.clone()));
        assert_eq!(h.event().unwrap(), self.event);
        assert_eq!(h.expires().unwrap(), self.expires);
        let accept = h.accept().unwrap().unwrap_or_default();
        assert_eq!(accept, self.accept);
        assert_eq!(&parsed.body[..], &self.body[..]);
    }
}

fn parse_request(bytes: &[u8]) -> Request {
    match parse_message(bytes) {
        Ok(Message::Request(r)) => r,
        other => panic!("did not parse as a request: {other:?}\n{}", String::from_utf8_lossy(bytes)),
    }
}

/// Writes the request the way a careless phone might: random name spelling (compact,
/// upper, lower), list elements joined on one line or split, and some lines folded.
fn wire_variant(req: &Request, seed: &[u8]) -> Vec<u8> {
    let mut out = format!("{} {} SIP/2.0\r\n", req.method, req.uri).into_bytes();
    let fields: Vec<_> = req.headers.iter().collect();
    let mut i = 0;
    let mut k = 0;
    while i < fields.len() {
        let pick = seed.get(k % seed.len().max(1)).copied().unwrap_or(0);
        k += 1;
        let name = &fields[i].name;
        let mut values = vec![fields[i].value.clone()];
        // Join following elements of the same list header onto this line.
        while pick & 1 == 1 && name.is_list() && i + 1 < fields.len() && fields[i + 1].name == *name {
            i += 1;
            values.push(fields[i].value.clone());
        }
        let spelled = match (pick >> 1) % 3 {
            0 => name.compact().map_or_else(|| name.as_str().to_owned(), String::from),
            1 => name.as_str().to_ascii_uppercase(),
            _ => name.as_str().to_ascii_lowercase(),
        };
        let joined = values.join(if pick & 8 == 8 { " ,\r\n\t" } else { ", " });
        let sep = if pick & 16 == 16 { " :\r\n " } else { ": " };
        out.extend_from_slice(format!("{spelled}{sep}{joined}\r\n").as_bytes());
        i += 1;
    }
    out.extend_from_slice(format!("l: {}\r\n\r\n", req.body.len()).as_bytes());
    out.extend_from_slice(&req.body);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn typed_request_survives_encode_and_parse(t in typed()) {
        let parsed = parse_request(&t.request().encode());
        t.assert_matches(&parsed);
    }

    #[test]
    fn wire_spelling_does_not_change_the_typed_message(t in typed(), seed in proptest::collection::vec(any::<u8>(), 1..16)) {
        let parsed = parse_request(&wire_variant(&t.request(), &seed));
        t.assert_matches(&parsed);
        let again = parse_request(&parsed.encode());
        prop_assert_eq!(again, parsed);
    }
}
