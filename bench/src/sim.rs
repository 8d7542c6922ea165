//! Driving the sans-IO engine as the shell would, for the engine-level benchmarks: a virtual
//! clock, phones at addresses of their own, and phones that answer every NOTIFY with 200.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use presence_core::{Engine, FlowId, Peer, Transport};
use sip_proto::{Message, Response, parse_message};

/// A virtual clock that moves a microsecond per step, so no timer falls due unless a
/// benchmark moves it on.
pub struct Clock {
    t0: Instant,
    elapsed: Duration,
}

impl Clock {
    /// A clock at `t0`.
    pub fn new(t0: Instant) -> Self {
        Clock { t0, elapsed: Duration::ZERO }
    }

    /// A microsecond on.
    pub fn tick(&mut self) -> Instant {
        self.advance(Duration::from_micros(1))
    }

    /// `by` on.
    pub fn advance(&mut self, by: Duration) -> Instant {
        self.elapsed += by;
        self.t0 + self.elapsed
    }
}

/// Subscriber `n`'s phone: its own address, so no per-watcher quota applies.
pub fn phone(n: usize) -> Peer {
    Peer {
        transport: Transport::Udp,
        addr: SocketAddr::from(([10, (n >> 16) as u8, (n >> 8) as u8, n as u8], 5060)),
        flow: Some(FlowId(1)),
        local: SocketAddr::from(([198, 51, 100, 1], 5060)),
    }
}

/// What the engine sent, as the phones saw it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sent {
    /// NOTIFYs (each answered 200).
    pub notifies: usize,
    /// Bytes of every message the engine sent (NOTIFYs and responses).
    pub bytes: usize,
    /// Changes handed to the store.
    pub stored: usize,
}

/// Answers every NOTIFY the engine sent with 200, as the phones would, and takes the changes
/// to store as the server's driver does after each event.
pub fn answer_notifies(engine: &mut Engine, clock: &mut Clock) -> Sent {
    let mut sent = Sent::default();
    let mut answers = Vec::new();
    while let Some(transmit) = engine.poll_transmit() {
        sent.bytes += transmit.payload.len();
        if let Ok(Message::Request(request)) = parse_message(&transmit.payload) {
            answers.push((Response::to(&request, 200).encode(), transmit.destination));
        }
    }
    sent.notifies = answers.len();
    sent.stored += engine.take_changes().len();
    for (ok, peer) in &answers {
        engine.handle_sip(ok, *peer, clock.tick());
        sent.stored += engine.take_changes().len();
    }
    sent
}

impl std::ops::AddAssign for Sent {
    fn add_assign(&mut self, other: Sent) {
        self.notifies += other.notifies;
        self.bytes += other.bytes;
        self.stored += other.stored;
    }
}
