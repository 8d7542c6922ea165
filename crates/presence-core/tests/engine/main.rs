//! Engine tests: every rule driven through the public API with a virtual clock (an
//! `Instant` captured once and advanced by adding durations), and no sockets.

// Test helpers fail the test by panicking; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod features;
mod identity;
mod invariants;
mod lamps;
mod limits;
mod lists;
mod live_view;
mod notifier;
mod outbound;
mod profiles;
mod publisher;
mod registrar;
mod restart;
mod support;
mod torture;
mod transport_rules;
mod watching;
