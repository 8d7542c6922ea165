//! A message as read off the wire: parsed where it arrived, by the transport task that read
//! it, so the engine's one thread spends its time on the protocol rather than on text. The
//! engine takes it in [`crate::Engine::handle_received`].

use sip_proto::Message;
use sip_proto::parse::{ParseError, parse_message};

/// A datagram or framed stream message, read.
#[derive(Debug)]
pub enum Received {
    /// It parsed.
    Message(Message),
    /// It did not; the error holds what could be read (to answer with a 400).
    Malformed(ParseError),
    /// It is larger than the configured maximum and was not read (RFC 3261 §18.1.1 lets a
    /// UDP message that large be discarded).
    Oversized,
}

impl Received {
    /// Reads `bytes`, refusing more than `max_message_size` (the engine's
    /// [`crate::EngineConfig::max_message_size`]).
    pub fn read(bytes: &[u8], max_message_size: usize) -> Received {
        if bytes.len() > max_message_size {
            return Received::Oversized;
        }
        match parse_message(bytes) {
            Ok(message) => Received::Message(message),
            Err(err) => Received::Malformed(err),
        }
    }

    /// Whether it would start new work: a request outside any dialog (its To has no tag,
    /// RFC 3261 §12.2), or one that did not parse. Under overload these are shed first:
    /// a response or an in-dialog request finishes work already done (a subscription set
    /// up, a NOTIFY sent), and losing it would waste that work.
    pub fn starts_work(&self) -> bool {
        match self {
            Received::Message(Message::Request(request)) => !request.headers.to().is_ok_and(|to| to.tag().is_some()),
            Received::Message(Message::Response(_)) => false,
            Received::Malformed(_) | Received::Oversized => true,
        }
    }
}
