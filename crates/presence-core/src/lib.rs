//! The presence engine of babble-presence, sans IO: the shell feeds it received bytes,
//! integration commands and the time, and carries out what it asks for (messages to send,
//! events to raise, changes to store, the next deadline). Every protocol decision lives
//! here, so every rule is testable with a virtual clock.
//!
//! The engine (`engine`) is a router over components that each own their state: the
//! notifier (subscriptions we serve), publications, the registrar, our subscriptions to
//! phones (`phones`), entity state and its composition (`entities`), client and server
//! transactions, and digest authentication (`auth`). They act only through the effect sink
//! (`effects`) they are handed. docs/architecture.md maps each rule to the file that owns it.

mod admission;
pub mod aliases;
pub mod api;
mod auth;
pub mod bodies;
pub mod call;
mod client_transactions;
mod config;
mod context;
pub mod contract;
mod directory;
mod effects;
mod engine;
mod entities;
mod entity_key;
pub mod features;
mod ids;
pub mod lamp;
pub mod lists;
mod name_index;
mod notifier;
mod packages;
mod peer;
mod phones;
pub mod profiles;
mod publications;
mod received;
mod registrar;
mod request;
mod server_transactions;
mod stats;
pub mod store;
mod tables;
mod unsolicited;
pub mod views;

pub use admission::{FloodGate, Limits, Quota, Rate};
pub use auth::{Algorithm, AuthConfig, Grant, Secret, User};
pub use config::{EngineConfig, ExpiryConfig, WatchPolicy};
pub use directory::Touched;
pub use engine::Engine;
pub use entities::{CallLimits, DndRule};
pub use entity_key::EntityKey;
pub use name_index::NameIndex;
pub use peer::{FlowId, Peer, Transmit, Transport};
pub use received::Received;
pub use request::ALLOWED_METHODS;
pub use stats::Stats;
