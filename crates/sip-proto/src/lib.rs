//! Sans-IO SIP for babble-presence: messages and their parsing and encoding (RFC 3261 §7,
//! §25), typed headers for the event framework (RFC 6665) and publication (RFC 3903), stream
//! framing (§18.3, RFC 5626 keep-alives), non-INVITE transactions (§17) and subscription
//! dialogs (§12).
//!
//! Nothing here touches a socket, spawns a task or reads a clock: time comes in as an
//! argument, so every rule is testable at memory speed.

pub mod dialog;
pub mod framing;
pub mod header;
pub mod message;
pub mod method;
pub mod params;
pub mod parse;
mod scan;
pub mod transaction;
pub mod uri;

pub use header::{HeaderName, Headers};
pub use message::{Message, Request, Response};
pub use method::Method;
pub use parse::{ParseError, ParseErrorKind, parse_message};
pub use uri::Uri;
