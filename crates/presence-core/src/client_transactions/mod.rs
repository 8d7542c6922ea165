//! Client transactions (RFC 3261 §17.1.2): owns every request the engine has sent (NOTIFYs,
//! SUBSCRIBEs to phones, unsolicited NOTIFYs), each in a non-INVITE client transaction:
//! retransmitted over UDP by Timer E, given up by Timer F, kept for Timer K so retransmitted
//! responses are absorbed. The outcome is reported once, with the [`Purpose`] the sender
//! gave, for the engine to hand back to that sender. What goes to an address that has never
//! answered is bounded by [`reach`].

mod reach;

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sip_proto::Response;
use sip_proto::transaction::{ClientAction, ClientKey, ClientTransaction};

use crate::config::EngineConfig;

use crate::effects::{Effects, TimerKey};
use crate::ids::{SubscriptionId, WatchId};
use crate::peer::Peer;
use crate::tables::FastMap;
use reach::Reach;

/// Who sent a request and waits for its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// A NOTIFY of a subscription we serve.
    Notify(SubscriptionId),
    /// A SUBSCRIBE to a phone.
    Watch(WatchId),
    /// An out-of-dialog NOTIFY (unsolicited MWI, check-sync): nobody waits.
    Unsolicited,
}

/// The final outcome of a request: its final response, or `None` when Timer F fired.
#[derive(Debug)]
pub(crate) struct Outcome<'r> {
    pub(crate) purpose: Purpose,
    pub(crate) response: Option<&'r Response>,
}

/// One request in flight.
#[derive(Debug)]
struct Outgoing {
    purpose: Purpose,
    txn: ClientTransaction,
    bytes: Bytes,
    destination: Peer,
    sent_at: Instant,
    /// The outcome was reported; the entry only absorbs retransmitted responses now.
    reported: bool,
}

/// Every request in flight, and who has shown it receives them.
#[derive(Debug, Default)]
pub(crate) struct ClientTransactions {
    by_key: FastMap<Arc<ClientKey>, Outgoing>,
    reach: Reach,
}

impl ClientTransactions {
    /// Sends `bytes` (a request whose top Via branch makes `key`) and tracks it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send(
        &mut self,
        key: ClientKey,
        bytes: Bytes,
        destination: Peer,
        purpose: Purpose,
        config: &EngineConfig,
        fx: &mut Effects,
        now: Instant,
    ) {
        let txn = ClientTransaction::new(destination.transport.is_reliable(), config.timers, now);
        let key = Arc::new(key);
        fx.set_deadline(TimerKey::ClientTransaction(key.clone()), txn.deadline());
        self.transmit(destination, &bytes, config, fx, now);
        self.by_key.insert(key, Outgoing { purpose, txn, bytes, destination, sent_at: now, reported: false });
    }

    /// Sends `bytes` to `destination` unless it is held back by [`reach`] (counted; Timer E
    /// sends it again later).
    fn transmit(&mut self, destination: Peer, bytes: &Bytes, config: &EngineConfig, fx: &mut Effects, now: Instant) {
        if self.reach.may_send(destination, bytes.len(), &config.limits, now) {
            fx.transmit(destination, bytes.clone());
        } else {
            fx.stats.sends_to_unproven_held += 1;
        }
    }

    /// `addr` has shown it receives what we send (it answered our challenge).
    pub(crate) fn prove(&mut self, addr: std::net::SocketAddr, config: &EngineConfig) {
        self.reach.prove(addr, &config.limits);
    }

    /// A response arrived: the outcome to report when it is the request's first final one.
    /// Its destination has shown it receives what we send.
    pub(crate) fn on_response<'r>(
        &mut self,
        response: &'r Response,
        config: &EngineConfig,
        fx: &mut Effects,
        now: Instant,
    ) -> Option<Outcome<'r>> {
        let found = ClientKey::for_response(response).ok().and_then(|key| self.by_key.get_key_value(&key));
        let Some(key) = found.map(|(key, _)| key.clone()) else {
            fx.stats.stray_responses += 1;
            return None;
        };
        let out = self.by_key.get_mut(&*key)?;
        // Only a peer that got the request knows its branch.
        self.reach.prove(out.destination.addr, &config.limits);
        let deliver = out.txn.on_response(response.status, now) && response.status >= 200 && !out.reported;
        let purpose = out.purpose;
        if deliver {
            out.reported = true;
            if matches!(purpose, Purpose::Notify(_)) {
                fx.record_notify_latency(now.saturating_duration_since(out.sent_at));
            }
        }
        self.settle(&key, fx);
        deliver.then_some(Outcome { purpose, response: Some(response) })
    }

    /// A timer of transaction `key` fired: a retransmission, or the outcome of a request
    /// that got no final response (Timer F).
    pub(crate) fn on_timer(
        &mut self,
        key: Arc<ClientKey>,
        config: &EngineConfig,
        fx: &mut Effects,
        now: Instant,
    ) -> Option<Outcome<'static>> {
        let out = self.by_key.get_mut(&*key)?;
        let action = out.txn.on_timeout(now);
        if action == Some(ClientAction::Retransmit) {
            let (destination, bytes) = (out.destination, out.bytes.clone());
            self.transmit(destination, &bytes, config, fx, now);
        }
        let out = self.by_key.get_mut(&*key)?;
        let timed_out = action == Some(ClientAction::TimedOut) && !out.reported;
        if timed_out {
            out.reported = true;
        }
        let purpose = out.purpose;
        self.settle(&key, fx);
        timed_out.then_some(Outcome { purpose, response: None })
    }

    /// Re-arms the transaction's timer, or forgets it once terminated.
    fn settle(&mut self, key: &Arc<ClientKey>, fx: &mut Effects) {
        let deadline = self.by_key.get(&**key).and_then(|o| o.txn.deadline());
        if self.by_key.get(&**key).is_some_and(|o| o.txn.is_terminated()) {
            self.by_key.remove(&**key);
            crate::tables::shrink_when_drained(&mut self.by_key);
        }
        fx.set_deadline(TimerKey::ClientTransaction(key.clone()), deadline);
    }
}
