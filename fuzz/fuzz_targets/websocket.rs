//! Arbitrary bytes as what a client sends on a `ws` port: the server's handshake (its own
//! head reading and refusals, then tungstenite's upgrade) and its WebSocket message reader,
//! over an in-memory stream (`babble_presence::fuzzing::websocket_session`).
//!
//! Checked: nothing panics or hangs, and no message over the size limit is delivered
//! (tungstenite's limits are set from `sip.max_message_size`). Inputs that begin with a
//! valid upgrade reach the frame reader; the seeds in `fuzz/seeds/websocket/` do.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// Small, so that oversized messages and frames are easy to reach.
const MAX_MESSAGE_SIZE: usize = 2048;

fuzz_target!(|data: &[u8]| {
    let lengths = babble_presence::fuzzing::websocket_session(data, MAX_MESSAGE_SIZE);
    assert!(lengths.iter().all(|&len| len <= MAX_MESSAGE_SIZE));
});
