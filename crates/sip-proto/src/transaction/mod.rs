//! Non-INVITE transactions (RFC 3261 §17.1.2, §17.2.2) as pure state machines: the caller
//! passes in events and the current time, asks for the next deadline, and carries out what
//! the machine returns. No clocks, no sockets, no tasks; one deadline index in the caller
//! can drive any number of them.
//!
//! INVITE transactions are deliberately absent: a presence server refuses INVITE statelessly
//! with 405 (§8.2.1), and a retransmitted INVITE simply gets the same 405 again.

mod client;
mod key;
mod server;

use std::time::Duration;

pub use client::{ClientAction, ClientState, ClientTransaction};
pub use key::{ClientKey, ServerKey};
pub use server::{ServerState, ServerTransaction};

/// The RFC 3261 §17.1.1.1 timer values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerConfig {
    /// T1, the round-trip estimate (default 500 ms).
    pub t1: Duration,
    /// T2, the cap on non-INVITE retransmission intervals (default 4 s).
    pub t2: Duration,
    /// T4, how long a message may linger in the network (default 5 s).
    pub t4: Duration,
}

impl Default for TimerConfig {
    fn default() -> Self {
        TimerConfig { t1: Duration::from_millis(500), t2: Duration::from_secs(4), t4: Duration::from_secs(5) }
    }
}

impl TimerConfig {
    /// 64·T1: Timer F (client) and Timer J (server) over unreliable transports.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }
}
