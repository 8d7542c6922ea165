//! Arbitrary bytes into `sip_proto::parse_message`.
//!
//! On success every typed header accessor is exercised (results ignored: a parsed message may
//! legitimately carry headers that the parser does not validate, such as Allow or SIP-ETag),
//! and the message must survive an encode/parse round trip. On failure the error must still
//! yield a status and reason phrase, and the partial head must still be answerable (the
//! server builds its 400/505 from it).
//!
//! Round trip: `Message::encode` drops every Content-Length line and appends one computed
//! from the body (documented on `Request::headers`/`Response::headers`). So the re-parsed
//! message is compared with the original after the same normalisation: Content-Length
//! removed, then `Content-Length: <body len>` appended as the last header. Everything else
//! (start line, header names/values/order, body) must be identical.

#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use sip_proto::message::Response;
use sip_proto::{HeaderName, Headers, Message, parse_message};

fuzz_target!(|data: &[u8]| {
    match parse_message(data) {
        Ok(msg) => {
            exercise_headers(msg.headers());

            let wire = msg.encode();
            let again = match parse_message(&wire) {
                Ok(again) => again,
                Err(e) => panic!(
                    "re-encoded message does not parse: {e:?}\nencoded: {:?}\noriginal: {msg:#?}",
                    String::from_utf8_lossy(&wire)
                ),
            };
            let expected = normalised(&msg);
            assert_eq!(
                again,
                expected,
                "round trip changed the message\nencoded: {:?}",
                String::from_utf8_lossy(&wire)
            );
            // Encoding is then a fixed point.
            assert_eq!(again.encode(), wire, "second encoding differs from the first");
        }
        Err(e) => {
            let status = e.kind.status();
            assert!((100..700).contains(&status), "status {status} out of range");
            black_box(e.kind.reason_phrase());
            black_box(e.to_string());
            if let Some(partial) = &e.partial {
                // What the server does with a request it cannot parse (RFC 3261 §8.2.6).
                let resp = Response::to_headers(&partial.headers, status).with_reason(e.kind.reason_phrase());
                black_box(resp.encode());
                exercise_headers(&partial.headers);
            }
        }
    }
});

/// What `encode` followed by `parse_message` should give back.
fn normalised(msg: &Message) -> Message {
    let mut msg = msg.clone();
    let (headers, body_len) = match &mut msg {
        Message::Request(r) => (&mut r.headers, r.body.len()),
        Message::Response(r) => (&mut r.headers, r.body.len()),
    };
    headers.remove(&HeaderName::ContentLength);
    headers.push(HeaderName::ContentLength, body_len.to_string());
    msg
}

fn exercise_headers(h: &Headers) {
    let _ = black_box(h.via());
    let _ = black_box(h.top_via());
    let _ = black_box(h.from());
    let _ = black_box(h.to());
    let _ = black_box(h.call_id());
    let _ = black_box(h.cseq());
    let _ = black_box(h.contacts());
    let _ = black_box(h.routes());
    let _ = black_box(h.record_routes());
    let _ = black_box(h.expires());
    let _ = black_box(h.min_expires());
    let _ = black_box(h.max_forwards());
    let _ = black_box(h.content_length());
    let _ = black_box(h.event());
    let _ = black_box(h.subscription_state());
    let _ = black_box(h.content_type());
    let _ = black_box(h.accept());
    let _ = black_box(h.allow());
    let _ = black_box(h.allow_events());
    let _ = black_box(h.supported());
    let _ = black_box(h.require());
    let _ = black_box(h.sip_etag());
    let _ = black_box(h.sip_if_match());
    let _ = black_box(h.www_authenticate());
    let _ = black_box(h.authorization());
    let _ = black_box(h.proxy_authenticate());
    let _ = black_box(h.proxy_authorization());
}
