//! Requests the engine sends (NOTIFYs), each in a non-INVITE client transaction
//! (RFC 3261 §17.1.2): retransmitted over UDP by Timer E, given up by Timer F, kept for
//! Timer K so retransmitted responses are absorbed. The outcome goes to the notifier once.

use std::time::Instant;

use bytes::Bytes;
use sip_proto::transaction::{ClientAction, ClientKey, ClientTransaction};

use crate::engine::{Engine, TimerKey};
use crate::peer::Peer;
use crate::subscription::SubscriptionId;

/// What a NOTIFY was for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotifyKind {
    /// Subscription state; `last` for the final `terminated` one.
    State { last: bool },
    /// An `Event: check-sync` nudge in the subscription's dialog.
    CheckSync,
}

/// How a NOTIFY ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A final response with this status.
    Final(u16),
    /// Timer F fired: no final response.
    Timeout,
}

/// One request in flight.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) subscription: SubscriptionId,
    pub(crate) kind: NotifyKind,
    txn: ClientTransaction,
    bytes: Bytes,
    destination: Peer,
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
        subscription: SubscriptionId,
        kind: NotifyKind,
        now: Instant,
    ) {
        let txn = ClientTransaction::new(destination.transport.is_reliable(), self.config.timers, now);
        self.deadlines.set(TimerKey::ClientTransaction(key.clone()), txn.deadline());
        self.queue(destination, bytes.clone());
        self.outgoing.insert(key, Outgoing { subscription, kind, txn, bytes, destination, reported: false });
    }

    pub(crate) fn on_client_response(&mut self, key: ClientKey, status: u16, now: Instant) {
        let Some(out) = self.outgoing.get_mut(&key) else { return };
        let deliver = out.txn.on_response(status, now) && status >= 200 && !out.reported;
        let report = deliver.then(|| {
            out.reported = true;
            (out.subscription, out.kind)
        });
        self.settle(&key);
        if let Some((subscription, kind)) = report {
            self.notify_outcome(subscription, kind, Outcome::Final(status), now);
        }
    }

    pub(crate) fn on_client_timer(&mut self, key: ClientKey, now: Instant) {
        let Some(out) = self.outgoing.get_mut(&key) else { return };
        let action = out.txn.on_timeout(now);
        let (bytes, destination) = (out.bytes.clone(), out.destination);
        let report = (action == Some(ClientAction::TimedOut) && !out.reported).then(|| {
            out.reported = true;
            (out.subscription, out.kind)
        });
        if action == Some(ClientAction::Retransmit) {
            self.queue(destination, bytes);
        }
        self.settle(&key);
        if let Some((subscription, kind)) = report {
            self.stats.notify_timeouts += 1;
            self.notify_outcome(subscription, kind, Outcome::Timeout, now);
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
