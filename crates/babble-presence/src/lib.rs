//! babble-presence: a SIP presence server (BLF, presence/DND, message waiting). The binary
//! runs it from a TOML file; as a library, [`Server`] runs it inside a Rust program with
//! the event contract (docs/architecture.md) as typed values: `.in` events from [`Server::events`],
//! `.out` events through [`Server::send`].

pub mod backup;
pub mod certificate;
pub mod config;
mod counters;
mod driver;
mod durable;
pub mod entity_feed;
pub mod event_log;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod http;
pub mod limits_config;
pub mod profile_config;
mod server;
pub mod storage;
pub mod telemetry;
mod transport;

pub use event_log::SequencedEvent;
pub use presence_core::api;
pub use presence_core::bodies::mwi::MessageCounts;
pub use presence_core::call;
pub use presence_core::contract;
pub use presence_core::{Stats, Transport};
pub use server::{Handle, Server, ServerError};
pub use transport::tls::TlsError;
