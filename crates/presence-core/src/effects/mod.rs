//! The one effect sink every component writes into: messages to send, events for
//! integrations, changes to store, deadlines, the counters, and the directory of entities
//! held. Components are handed it
//! (`&mut Effects`) and never reach the outside world another way; the engine drains it for
//! the shell through its `poll_*` methods. It also mints the wire tokens, so a component needs
//! nothing else to act.

mod deadlines;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::store::Change;
use bytes::Bytes;
use sip_proto::transaction::{ClientKey, ServerKey};

use std::sync::Arc;

use crate::api::InEvent;
use crate::directory::Directory;
use crate::entity_key::EntityKey;
use crate::ids::{Ids, PublicationId, SubscriptionId, WatchId};
use crate::peer::{Peer, Transmit};
use crate::stats::Stats;
use deadlines::DeadlineIndex;

/// What a deadline in the index belongs to; the engine hands each due one to its owner.
/// Transaction keys are shared with their table (`Arc`): the index holds each key twice,
/// and a key of three strings would make every entry large and every re-arm allocate.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    /// Timers J/K of a server transaction (RFC 3261 §17.2.2).
    ServerTransaction(Arc<ServerKey>),
    /// Timers E/F/K of a client transaction (RFC 3261 §17.1.2.2).
    ClientTransaction(Arc<ClientKey>),
    /// A subscription we serve expires (RFC 6665 §4.2.2).
    SubscriptionExpiry(SubscriptionId),
    /// A publication expires (RFC 3903 §6).
    PublicationExpiry(PublicationId),
    /// An entity's calls or tombstones reach the end of their lifetime.
    EntityCalls(EntityKey),
    /// A binding of this address-of-record expires (RFC 3261 §10.3).
    BindingExpiry(EntityKey),
    /// Our subscription to a phone is due for a refresh (RFC 6665 §4.1.2.2).
    WatchRefresh(WatchId),
    /// A rate-limited subscription may NOTIFY again.
    NotifyThrottle(SubscriptionId),
}

/// NOTIFY latencies kept until the shell collects them (older ones beyond are dropped).
const MAX_LATENCIES: usize = 4096;

/// Everything the engine's components ask of the outside world.
#[derive(Debug)]
pub(crate) struct Effects {
    /// Mints tags, branches, Call-IDs, entity-tags and nonces.
    pub(crate) ids: Ids,
    /// Counters of what came in and what was done with it.
    pub(crate) stats: Stats,
    /// Every entity some component holds something about, for the look-ups.
    pub(crate) directory: Directory,
    transmits: VecDeque<Transmit>,
    events: VecDeque<InEvent>,
    store: Option<StoreLog>,
    deadlines: DeadlineIndex<TimerKey>,
    notify_latencies: Vec<Duration>,
}

/// Changes to store, and the clock pair that turns our instants into stored Unix times.
#[derive(Debug)]
struct StoreLog {
    wall: Wall,
    changes: Vec<Change>,
}

/// A (monotonic, Unix milliseconds) pair of readings the shell took at one moment, so
/// stored times mean the same after a restart while the engine itself reads no clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Wall {
    at: Instant,
    unix_ms: u64,
}

impl Wall {
    /// `at` as Unix milliseconds.
    pub(crate) fn unix_ms(self, at: Instant) -> u64 {
        match at.checked_duration_since(self.at) {
            Some(later) => self.unix_ms.saturating_add(later.as_millis() as u64),
            None => self.unix_ms.saturating_sub(self.at.duration_since(at).as_millis() as u64),
        }
    }

    /// Unix milliseconds as an instant of this run.
    pub(crate) fn instant(self, unix_ms: u64) -> Instant {
        if unix_ms >= self.unix_ms {
            self.at + Duration::from_millis(unix_ms - self.unix_ms)
        } else {
            self.at.checked_sub(Duration::from_millis(self.unix_ms - unix_ms)).unwrap_or(self.at)
        }
    }
}

impl Effects {
    pub(crate) fn new(seed: u64, node: u16) -> Self {
        Effects {
            ids: Ids::new(seed, node),
            stats: Stats::default(),
            directory: Directory::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            store: None,
            deadlines: DeadlineIndex::new(),
            notify_latencies: Vec::new(),
        }
    }

    /// Queues a message to send.
    pub(crate) fn transmit(&mut self, destination: Peer, payload: Bytes) {
        self.stats.messages_out += 1;
        self.transmits.push_back(Transmit { destination, payload });
    }

    /// Raises an event for integrations.
    pub(crate) fn raise(&mut self, event: InEvent) {
        self.events.push_back(event);
    }

    /// Records a change to store, built only when persistence is on.
    pub(crate) fn store(&mut self, change: impl FnOnce(Wall) -> Change) {
        if let Some(log) = &mut self.store {
            log.changes.push(change(log.wall));
        }
    }

    /// The clock pair for stored times, when persistence is on.
    pub(crate) fn wall(&self) -> Option<Wall> {
        self.store.as_ref().map(|log| log.wall)
    }

    /// Sets (or moves, or with `None` clears) the deadline of `key`.
    pub(crate) fn set_deadline(&mut self, key: TimerKey, at: Option<Instant>) {
        self.deadlines.set(key, at);
    }

    /// The deadline of `key`, if one is set.
    pub(crate) fn deadline(&self, key: &TimerKey) -> Option<Instant> {
        self.deadlines.get(key)
    }

    /// Keeps the time a NOTIFY took to be answered, for the shell's histogram.
    pub(crate) fn record_notify_latency(&mut self, latency: Duration) {
        if self.notify_latencies.len() < MAX_LATENCIES {
            self.notify_latencies.push(latency);
        }
    }

    // What the engine drains for the shell.

    pub(crate) fn enable_store(&mut self, now: Instant, unix_ms: u64) {
        self.store = Some(StoreLog { wall: Wall { at: now, unix_ms }, changes: Vec::new() });
    }

    pub(crate) fn pop_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    pub(crate) fn pop_event(&mut self) -> Option<InEvent> {
        self.events.pop_front()
    }

    pub(crate) fn take_changes(&mut self) -> Vec<Change> {
        self.store.as_mut().map(|log| std::mem::take(&mut log.changes)).unwrap_or_default()
    }

    pub(crate) fn take_notify_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.notify_latencies)
    }

    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerKey> {
        self.deadlines.pop_due(now)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    pub(crate) fn deadline_count(&self) -> usize {
        self.deadlines.len()
    }
}
