//! The `.in` events raised: numbered in order, handed to every stream consumer (a broadcast),
//! and the last [`KEPT`] of them kept, so a consumer that reconnects resumes where it left off
//! instead of missing what happened meanwhile. Numbers start at 1 in every run, and each run
//! has its own epoch (its start time), so a consumer can tell a restarted server, whose events
//! it cannot have, from a gap.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use presence_core::api::InEvent;
use tokio::sync::broadcast;

/// How many of the last events are kept for consumers that reconnect (and how many a live
/// consumer may fall behind before it is dropped).
pub const KEPT: usize = 4096;

/// An `.in` event with its sequence number (1, 2, ... for the server's lifetime), so a
/// stream consumer can tell whether it missed any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequencedEvent {
    /// The sequence number.
    pub seq: u64,
    /// The event.
    pub event: InEvent,
}

/// Where a consumer is: the run and the last event it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// The run's epoch.
    pub epoch: u64,
    /// The sequence number of the last event the consumer has.
    pub seq: u64,
}

impl Cursor {
    /// Reads `EPOCH-SEQ`, the form stream ids take.
    pub fn parse(s: &str) -> Option<Cursor> {
        let (epoch, seq) = s.trim().split_once('-')?;
        Some(Cursor { epoch: epoch.parse().ok()?, seq: seq.parse().ok()? })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

/// Why a consumer cannot resume from its cursor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gap {
    /// The cursor is from another run: the server restarted since.
    Restarted,
    /// Events after the cursor are no longer kept.
    TooFarBehind,
}

/// The events of this run.
#[derive(Debug)]
pub struct EventLog {
    epoch: u64,
    live: broadcast::Sender<SequencedEvent>,
    kept: Mutex<Kept>,
}

#[derive(Debug)]
struct Kept {
    next_seq: u64,
    recent: VecDeque<SequencedEvent>,
}

impl Default for EventLog {
    fn default() -> Self {
        // Microseconds since 1970: a new value at every start.
        let epoch = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        EventLog {
            epoch,
            live: broadcast::channel(KEPT).0,
            kept: Mutex::new(Kept { next_seq: 1, recent: VecDeque::with_capacity(KEPT) }),
        }
    }
}

impl EventLog {
    /// This run's epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Numbers `event`, keeps it, and hands it to every consumer.
    pub(crate) fn publish(&self, event: InEvent) {
        let mut kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let event = SequencedEvent { seq: kept.next_seq, event };
        kept.next_seq += 1;
        if kept.recent.len() == KEPT {
            kept.recent.pop_front();
        }
        kept.recent.push_back(event.clone());
        // Sent under the lock, so what is kept and what is broadcast are in one order.
        // Nobody listening is not an error: nobody is integrated yet.
        let _ = self.live.send(event);
    }

    /// The last `n` kept events that `about` picks, oldest first.
    pub fn last_about(&self, n: usize, about: impl Fn(&InEvent) -> bool) -> Vec<SequencedEvent> {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut last: Vec<SequencedEvent> =
            kept.recent.iter().rev().filter(|e| about(&e.event)).take(n).cloned().collect();
        last.reverse();
        last
    }

    /// The events raised from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<SequencedEvent> {
        self.live.subscribe()
    }

    /// Where the log is now, and the events raised after that.
    pub fn follow(&self) -> (Cursor, broadcast::Receiver<SequencedEvent>) {
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        (Cursor { epoch: self.epoch, seq: kept.next_seq - 1 }, self.live.subscribe())
    }

    /// The kept events after `cursor`, and the events raised after them; or why they cannot
    /// all be had.
    pub fn resume(&self, cursor: Cursor) -> Result<(Vec<SequencedEvent>, broadcast::Receiver<SequencedEvent>), Gap> {
        if cursor.epoch != self.epoch {
            return Err(Gap::Restarted);
        }
        let kept = self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        // Subscribed under the lock: nothing is published between the copy and the subscription.
        let live = self.live.subscribe();
        let oldest = kept.recent.front().map_or(kept.next_seq, |e| e.seq);
        if cursor.seq + 1 < oldest || cursor.seq >= kept.next_seq {
            return Err(Gap::TooFarBehind);
        }
        let missed = kept.recent.iter().filter(|e| e.seq > cursor.seq).cloned().collect();
        Ok((missed, live))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use presence_core::api::NewWatcher;

    fn event(n: u64) -> InEvent {
        InEvent::SubscribeIn(NewWatcher {
            content_type: "application/dialog-info+xml",
            entity: format!("{n}@pbx"),
            subscriber: "w@pbx".into(),
            expires: 600,
            call_id: format!("c{n}"),
        })
    }

    #[test]
    fn a_consumer_resumes_after_its_cursor_and_hears_what_follows() {
        let log = EventLog::default();
        for n in 0..5 {
            log.publish(event(n));
        }
        let (missed, mut live) = log.resume(Cursor { epoch: log.epoch(), seq: 2 }).unwrap();
        assert_eq!(missed.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        log.publish(event(5));
        assert_eq!(live.try_recv().unwrap().seq, 6);
        let (none_missed, _) = log.resume(Cursor { epoch: log.epoch(), seq: 6 }).unwrap();
        assert!(none_missed.is_empty());
        assert_eq!(Cursor::parse(&Cursor { epoch: 7, seq: 9 }.to_string()), Some(Cursor { epoch: 7, seq: 9 }));
    }

    #[test]
    fn another_run_or_a_cursor_past_what_is_kept_is_a_gap() {
        let log = EventLog::default();
        for n in 0..(KEPT as u64 + 10) {
            log.publish(event(n));
        }
        let epoch = log.epoch();
        assert_eq!(log.resume(Cursor { epoch: epoch + 1, seq: 1 }).unwrap_err(), Gap::Restarted);
        assert_eq!(log.resume(Cursor { epoch, seq: 5 }).unwrap_err(), Gap::TooFarBehind);
        assert_eq!(log.resume(Cursor { epoch, seq: 10_000_000 }).unwrap_err(), Gap::TooFarBehind);
        let (missed, _) = log.resume(Cursor { epoch, seq: 10 }).unwrap();
        assert_eq!(missed.len(), KEPT, "the oldest kept is the one after the cursor");
    }
}
