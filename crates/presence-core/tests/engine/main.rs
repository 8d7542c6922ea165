//! Engine tests: every rule driven through the public API with a virtual clock (an
//! `Instant` captured once and advanced by adding durations), and no sockets.

mod support;
mod transport_rules;
