//! The presence engine of babble-presence, sans IO: the shell feeds it received bytes and
//! the time, and carries out what it asks for (messages to send, the next deadline). Every
//! protocol decision lives here, so every rule is testable with a virtual clock.

pub mod bodies;
pub mod call;
mod config;

mod engine;
mod handlers;
mod peer;
mod reply;
mod stats;
mod timers;

pub use config::EngineConfig;
pub use engine::Engine;
pub use handlers::ALLOWED_METHODS;
pub use peer::{FlowId, Peer, Transmit, Transport};
pub use stats::Stats;
