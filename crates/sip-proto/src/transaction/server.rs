//! The non-INVITE server transaction (RFC 3261 §17.2.2, Figure 8).

use std::time::Instant;

use bytes::Bytes;

use super::TimerConfig;

/// Figure 8's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerState {
    /// The request arrived; no response sent yet.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; Timer J runs.
    Completed,
    /// Done; the transaction can be forgotten.
    Terminated,
}

/// One non-INVITE server transaction.
#[derive(Clone, Debug)]
pub struct ServerTransaction {
    state: ServerState,
    reliable: bool,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
    timers: TimerConfig,
}

impl ServerTransaction {
    /// A transaction for a request that just arrived over a reliable (stream) or
    /// unreliable (UDP) transport.
    pub fn new(reliable: bool, timers: TimerConfig) -> Self {
        ServerTransaction { state: ServerState::Trying, reliable, last_response: None, timer_j: None, timers }
    }

    /// The current state.
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// A retransmission of the request arrived: returns the last response to send again
    /// (Proceeding and Completed), or `None` to absorb it silently (Trying).
    pub fn on_retransmission(&self) -> Option<Bytes> {
        match self.state {
            ServerState::Proceeding | ServerState::Completed => self.last_response.clone(),
            ServerState::Trying | ServerState::Terminated => None,
        }
    }

    /// The transaction user sends a response with `status`, already encoded. Returns false
    /// (and changes nothing) if a final response was already sent.
    pub fn on_response(&mut self, status: u16, encoded: Bytes, now: Instant) -> bool {
        if matches!(self.state, ServerState::Completed | ServerState::Terminated) {
            return false;
        }
        self.last_response = Some(encoded);
        if status < 200 {
            self.state = ServerState::Proceeding;
        } else if self.reliable {
            // Timer J is zero over reliable transports: no retransmissions to absorb.
            self.state = ServerState::Terminated;
        } else {
            self.state = ServerState::Completed;
            self.timer_j = Some(now + self.timers.timeout());
        }
        true
    }

    /// When [`ServerTransaction::on_timeout`] next needs to be called.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            ServerState::Completed => self.timer_j,
            _ => None,
        }
    }

    /// Fires due timers: Timer J ends the Completed state.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.state == ServerState::Completed && self.timer_j.is_some_and(|j| j <= now) {
            self.state = ServerState::Terminated;
        }
    }

    /// Whether the transaction can be forgotten.
    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }
}
