//! The presence engine of babble-presence, sans IO: the shell feeds it received bytes,
//! integration commands and the time, and carries out what it asks for (messages to send,
//! events to raise, the next deadline). Every protocol decision lives here, so every rule
//! is testable with a virtual clock.

pub mod api;
pub mod bodies;
pub mod call;
mod commands;
mod config;
pub mod contract;
mod digest_auth;
mod engine;
mod entity;
mod handlers;
mod ids;
mod notifier;
mod outgoing;
mod package;
mod peer;
mod persist;
pub mod profiles;
mod publication;
mod publisher;
mod registrar;
mod render;
mod reply;
mod stats;
mod subscription;
mod timers;
mod unsolicited;
pub mod views;
mod watch_persist;
mod watching;

pub use config::{AuthConfig, EngineConfig, ExpiryConfig, WatchPolicy};
pub use digest_auth::{Algorithm, Secret, User};
pub use engine::Engine;
pub use entity::{CallLimits, DndRule};
pub use handlers::ALLOWED_METHODS;
pub use peer::{FlowId, Peer, Transmit, Transport};
pub use stats::Stats;
