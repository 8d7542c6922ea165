//! Requests the engine sends (NOTIFYs, SUBSCRIBEs to phones), each in a non-INVITE client
//! transaction (RFC 3261 §17.1.2): retransmitted over UDP by Timer E, given up by Timer F,
//! kept for Timer K so retransmitted responses are absorbed. The outcome goes once to the
//! part of the engine that sent the request.

use std::time::Instant;

use bytes::Bytes;
use sip_proto::Response;
use sip_proto::transaction::{ClientAction, ClientKey, ClientTransaction};

use crate::engine::{Engine, TimerKey};
use crate::peer::Peer;
use crate::subscription::SubscriptionId;
use crate::watching::WatchId;

/// What a NOTIFY was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotifyKind {
    /// Subscription state; `last` for the final `terminated` one.
    State { last: bool },
    /// An `Event: check-sync` nudge in the subscription's dialog.
    CheckSync,
}

/// Who sent a request and waits for its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A NOTIFY of one of our subscriptions.
    Notify { subscription: SubscriptionId, kind: NotifyKind },
    /// A SUBSCRIBE to a phone.
    Watch(WatchId),
    /// An out-of-dialog NOTIFY (unsolicited MWI, check-sync): nobody waits.
    Unsolicited,
}

/// NOTIFY latencies kept until the shell collects them (older ones beyond are dropped).
const MAX_LATENCIES: usize = 4096;

/// One request in flight.
#[derive(Debug)]
pub(crate) struct Outgoing {
    purpose: Purpose,
    txn: ClientTransaction,
    bytes: Bytes,
    destination: Peer,
    sent_at: Instant,
    /// The outcome was reported; the entry only absorbs retransmitted responses now.
    reported: bool,
}

impl Engine {
    /// Sends `bytes` (a request whose top Via branch makes `key`) and tracks it.
    pub(crate) fn send_request(
        &mut self,
        key: ClientKey,
        bytes: Bytes,
        destination: Peer,
        purpose: Purpose,
        now: Instant,
    ) {
        let txn = ClientTransaction::new(destination.transport.is_reliable(), self.config.timers, now);
        self.deadlines.set(TimerKey::ClientTransaction(key.clone()), txn.deadline());
        self.queue(destination, bytes.clone());
        self.outgoing.insert(key, Outgoing { purpose, txn, bytes, destination, sent_at: now, reported: false });
    }

    pub(crate) fn on_client_response(&mut self, key: ClientKey, response: &Response, now: Instant) {
        let Some(out) = self.outgoing.get_mut(&key) else { return };
        let deliver = out.txn.on_response(response.status, now) && response.status >= 200 && !out.reported;
        let report = deliver.then(|| {
            out.reported = true;
            out.purpose
        });
        let latency = now.saturating_duration_since(out.sent_at);
        self.settle(&key);
        if let Some(purpose) = report {
            if matches!(purpose, Purpose::Notify { .. }) && self.notify_latencies.len() < MAX_LATENCIES {
                self.notify_latencies.push(latency);
            }
            self.report(purpose, Some(response), now);
        }
    }

    pub(crate) fn on_client_timer(&mut self, key: ClientKey, now: Instant) {
        let Some(out) = self.outgoing.get_mut(&key) else { return };
        let action = out.txn.on_timeout(now);
        let (bytes, destination) = (out.bytes.clone(), out.destination);
        let report = (action == Some(ClientAction::TimedOut) && !out.reported).then(|| {
            out.reported = true;
            out.purpose
        });
        if action == Some(ClientAction::Retransmit) {
            self.queue(destination, bytes);
        }
        self.settle(&key);
        if let Some(purpose) = report {
            self.report(purpose, None, now);
        }
    }

    /// Hands a final response (`None`: Timer F fired) to whoever sent the request.
    fn report(&mut self, purpose: Purpose, response: Option<&Response>, now: Instant) {
        match purpose {
            Purpose::Notify { subscription, kind } => {
                match response.map(|r| r.status) {
                    None => self.stats.notify_timeouts += 1,
                    Some(200..=299) => self.stats.notifies_ok += 1,
                    Some(_) => self.stats.notifies_refused += 1,
                }
                self.notify_outcome(subscription, kind, response.map(|r| r.status), now);
            }
            Purpose::Watch(id) => self.watch_outcome(id, response, now),
            Purpose::Unsolicited => {}
        }
    }

    /// Re-arms the transaction's timer, or forgets it once terminated.
    fn settle(&mut self, key: &ClientKey) {
        let deadline = self.outgoing.get(key).and_then(|o| o.txn.deadline());
        if self.outgoing.get(key).is_some_and(|o| o.txn.is_terminated()) {
            self.outgoing.remove(key);
        }
        self.deadlines.set(TimerKey::ClientTransaction(key.clone()), deadline);
    }
}
