//! Arbitrary bytes as a stream buffer for `sip_proto::framing::frame`, consumed the way the
//! transport does: skip keep-alives, cut and parse each framed message, stop when the framer
//! needs more bytes or gives up on the stream.
//!
//! Checked: every reported length fits in the buffer, every advance is positive (so the
//! loop always terminates), the limits are honoured (`head_len <= max_head`,
//! `len - head_len <= max_body`), and a framed message that parses has exactly the body the
//! framer cut (the two once disagreed about bare-LF and white-space-only blank lines).

#![no_main]

use std::hint::black_box;

use libfuzzer_sys::fuzz_target;
use sip_proto::framing::{Frame, FrameLimits, frame};
use sip_proto::parse_message;

const LIMITS: FrameLimits = FrameLimits {
    max_head: 2048,
    max_body: 4096,
};

fuzz_target!(|data: &[u8]| {
    let mut rest: &[u8] = data;
    loop {
        let advance = match frame(rest, &LIMITS) {
            Frame::Ping(n) | Frame::Pong(n) => {
                assert!(n <= rest.len(), "keep-alive of {n} bytes in a {}-byte buffer", rest.len());
                n
            }
            Frame::Message { head_len, len } => {
                assert!(len <= rest.len(), "message of {len} bytes in a {}-byte buffer", rest.len());
                assert!(head_len <= len, "head_len {head_len} > len {len}");
                assert!(head_len <= LIMITS.max_head, "head_len {head_len} over the limit");
                assert!(len - head_len <= LIMITS.max_body, "body {} over the limit", len - head_len);
                if let Ok(message) = parse_message(&rest[..len]) {
                    let body = match &message {
                        sip_proto::Message::Request(r) => r.body.len(),
                        sip_proto::Message::Response(r) => r.body.len(),
                    };
                    assert_eq!(body, len - head_len, "framer and parser disagree on the body");
                    black_box(message);
                }
                len
            }
            Frame::BodyTooLarge { head_len } => {
                assert!(head_len <= rest.len(), "head of {head_len} bytes in a {}-byte buffer", rest.len());
                assert!(head_len <= LIMITS.max_head, "head_len {head_len} over the limit");
                break;
            }
            Frame::UnreadableLength { head_len } => {
                assert!(head_len <= rest.len(), "head of {head_len} bytes in a {}-byte buffer", rest.len());
                assert!(parse_message(&rest[..head_len]).is_err(), "the parser took a length the framer could not read");
                break;
            }
            Frame::Incomplete | Frame::Invalid(_) => break,
        };
        assert!(advance > 0, "frame() reported a zero-length item: no progress");
        rest = &rest[advance..];
    }
});
