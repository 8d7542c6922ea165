//! The non-INVITE client transaction (RFC 3261 §17.1.2, Figure 6): Timer E retransmits
//! over UDP starting at T1 and doubling up to T2 (T2 once a provisional arrived), Timer F
//! gives up after 64·T1, Timer K absorbs response retransmissions for T4.

use std::time::{Duration, Instant};

use super::TimerConfig;

/// Figure 6's states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    /// The request was sent; no response yet.
    Trying,
    /// A provisional response arrived.
    Proceeding,
    /// A final response arrived; Timer K runs.
    Completed,
    /// Done; the transaction can be forgotten.
    Terminated,
}

/// What the caller must do after a timer fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAction {
    /// Send the request again (Timer E).
    Retransmit,
    /// No final response in time (Timer F): report a timeout (treated as 408) to the user.
    TimedOut,
}

/// One non-INVITE client transaction.
#[derive(Clone, Debug)]
pub struct ClientTransaction {
    state: ClientState,
    reliable: bool,
    timers: TimerConfig,
    timer_e: Option<Instant>,
    interval_e: Duration,
    timer_f: Instant,
    timer_k: Option<Instant>,
}

impl ClientTransaction {
    /// A transaction whose request the caller sends now.
    pub fn new(reliable: bool, timers: TimerConfig, now: Instant) -> Self {
        ClientTransaction {
            state: ClientState::Trying,
            reliable,
            timers,
            // Timer E only runs over unreliable transports.
            timer_e: (!reliable).then(|| now + timers.t1),
            interval_e: timers.t1,
            timer_f: now + timers.timeout(),
            timer_k: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// A response with `status` arrived. Returns true if it must be passed to the
    /// transaction user, false if it is a retransmission to absorb.
    pub fn on_response(&mut self, status: u16, now: Instant) -> bool {
        match self.state {
            ClientState::Trying | ClientState::Proceeding if status < 200 => {
                self.state = ClientState::Proceeding;
                true
            }
            ClientState::Trying | ClientState::Proceeding => {
                self.timer_e = None;
                if self.reliable {
                    self.state = ClientState::Terminated;
                } else {
                    self.state = ClientState::Completed;
                    self.timer_k = Some(now + self.timers.t4);
                }
                true
            }
            ClientState::Completed | ClientState::Terminated => false,
        }
    }

    /// The transport reported an error sending the request: the transaction ends
    /// (§17.1.4), and the caller reports the failure to the user.
    pub fn on_transport_error(&mut self) {
        self.state = ClientState::Terminated;
    }

    /// When [`ClientTransaction::on_timeout`] next needs to be called.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            ClientState::Trying | ClientState::Proceeding => {
                Some(self.timer_e.map_or(self.timer_f, |e| e.min(self.timer_f)))
            }
            ClientState::Completed => self.timer_k,
            ClientState::Terminated => None,
        }
    }

    /// Fires due timers.
    pub fn on_timeout(&mut self, now: Instant) -> Option<ClientAction> {
        match self.state {
            ClientState::Trying | ClientState::Proceeding if self.timer_f <= now => {
                self.state = ClientState::Terminated;
                Some(ClientAction::TimedOut)
            }
            ClientState::Trying | ClientState::Proceeding if self.timer_e.is_some_and(|e| e <= now) => {
                self.interval_e = if self.state == ClientState::Trying {
                    (self.interval_e * 2).min(self.timers.t2)
                } else {
                    self.timers.t2
                };
                self.timer_e = Some(now + self.interval_e);
                Some(ClientAction::Retransmit)
            }
            ClientState::Completed if self.timer_k.is_some_and(|k| k <= now) => {
                self.state = ClientState::Terminated;
                None
            }
            _ => None,
        }
    }

    /// Whether the transaction can be forgotten.
    pub fn is_terminated(&self) -> bool {
        self.state == ClientState::Terminated
    }
}
