//! Server transactions (RFC 3261 §17.2): owns the table of non-INVITE server transactions,
//! matches a request to one (§17.2.3), answers retransmissions from it until Timer J (or,
//! when the table is full, until the room is needed: see [`ServerTransactions::make_room`]), and
//! sends every response the engine makes: completed (To tag, Server), stamped (Via
//! `received`/`rport`) and addressed where §18.2.2 says (`addressing`).

mod addressing;

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use sip_proto::transaction::{ServerKey, ServerState, ServerTransaction, TimerConfig};
use sip_proto::{HeaderName, Headers, Request, Response};

use crate::admission::{Limits, Quota, Tally};
use crate::effects::{Effects, TimerKey};
use crate::peer::Peer;
use crate::tables::FastMap;

/// The server transactions in progress.
#[derive(Debug, Default)]
pub(crate) struct ServerTransactions {
    by_key: FastMap<Arc<ServerKey>, Held>,
    /// How many each source holds, for its share (see [`crate::admission`]).
    tally: Tally,
    /// Transactions that answered and wait out Timer J, oldest first. Timer J is the same
    /// for all of them (UDP's 64*T1; over streams it is zero and nothing waits), so they
    /// also leave in this order, and the front is trimmed as they do.
    waiting_out: VecDeque<Arc<ServerKey>>,
}

/// A transaction and the address of the source it serves.
#[derive(Debug)]
struct Held {
    txn: ServerTransaction,
    source: IpAddr,
}

/// What the server stamps on every response.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Stamp<'a> {
    /// The `Server` header value.
    pub(crate) server_name: &'a str,
    /// Mixed into the To tags of responses sent without a transaction, so a retransmitted
    /// request answered statelessly gets the same tag again, yet outsiders cannot predict it.
    pub(crate) seed: u64,
}

impl ServerTransactions {
    /// Answers a retransmission of a request whose transaction exists: the last response
    /// again, if there is one (§17.2.2). False when the request starts a new transaction.
    pub(crate) fn absorb(&self, key: &ServerKey, req: &Request, source: Peer, fx: &mut Effects) -> bool {
        let Some(held) = self.by_key.get(key) else { return false };
        fx.stats.retransmissions_absorbed += 1;
        if let (Some(bytes), Some(destination)) =
            (held.txn.on_retransmission(), addressing::response_destination(&req.headers, source))
        {
            fx.transmit(destination, bytes);
        }
        true
    }

    /// Makes room for a new transaction in a table of at most `max`: when full, the oldest
    /// answered transaction is forgotten before its Timer J (and counted). Timer J only lets
    /// a retransmitted request get the same answer again (§17.2.2); a sender whose answer was
    /// lost retransmits within T2 (4 s), so what goes is the one least likely to be asked
    /// again, and under a sustained load of more than `max` per 64*T1 new requests are still
    /// answered instead of refused. Every transaction is answered when it opens (the engine
    /// answers at once), so there is always one to forget.
    pub(crate) fn make_room(&mut self, max: usize, fx: &mut Effects) {
        while self.by_key.len() >= max {
            let Some(oldest) = self.waiting_out.pop_front() else { return };
            if let Some(held) = self.by_key.remove(&*oldest) {
                self.tally.remove(held.source);
                fx.stats.transactions_forgotten_early += 1;
                fx.set_deadline(TimerKey::ServerTransaction(oldest), None);
            }
        }
    }

    /// Whether `source` holds its whole share of the table, so its new requests wait until
    /// some of its transactions end.
    pub(crate) fn source_is_over_share(&self, source: IpAddr, limits: &Limits) -> bool {
        let share = Quota { per_source: limits.transactions_per_source, total: usize::MAX };
        self.tally.over(source, share, limits).is_some()
    }

    /// Starts the transaction of a new request; its key, for [`ServerTransactions::respond`].
    pub(crate) fn open(&mut self, key: ServerKey, source: Peer, timers: TimerConfig) -> Arc<ServerKey> {
        let key = Arc::new(key);
        let txn = ServerTransaction::new(source.transport.is_reliable(), timers);
        let (source, previous) =
            (source.addr.ip(), self.by_key.insert(key.clone(), Held { txn, source: source.addr.ip() }));
        self.tally.add(source);
        if let Some(previous) = previous {
            self.tally.remove(previous.source);
        }
        key
    }

    /// Completes `response` (To tag, Server), stamps its Via, hands it to the transaction
    /// `key` if there is one (so retransmissions get it again), and sends it.
    pub(crate) fn respond(
        &mut self,
        key: Option<Arc<ServerKey>>,
        mut response: Response,
        source: Peer,
        stamp: Stamp<'_>,
        fx: &mut Effects,
        now: Instant,
    ) {
        if response.status > 100 {
            add_to_tag(&mut response.headers, stamp.seed);
        }
        response.headers.push(HeaderName::Server, stamp.server_name);
        let Some(destination) = addressing::stamp_via(&mut response.headers, source) else {
            fx.stats.malformed_dropped += 1;
            return;
        };
        let bytes = response.encode();
        if let Some(key) = key
            && let Some(Held { txn, .. }) = self.by_key.get_mut(&*key)
        {
            txn.on_response(response.status, bytes.clone(), now);
            if txn.state() == ServerState::Completed {
                self.waiting_out.push_back(key.clone());
            }
            self.settle(key, fx);
        }
        fx.transmit(destination, bytes);
    }

    /// Timer J (or K) of transaction `key` fired.
    pub(crate) fn on_timer(&mut self, key: Arc<ServerKey>, fx: &mut Effects, now: Instant) {
        if let Some(Held { txn, .. }) = self.by_key.get_mut(&*key) {
            txn.on_timeout(now);
            self.settle(key, fx);
        }
    }

    /// How many transactions are held.
    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }

    /// Re-arms the transaction's timer, or forgets it once terminated.
    fn settle(&mut self, key: Arc<ServerKey>, fx: &mut Effects) {
        let Some(Held { txn, source }) = self.by_key.get(&*key) else { return };
        if txn.is_terminated() {
            self.tally.remove(*source);
            self.by_key.remove(&*key);
            // Those that left before it (in order, see `waiting_out`) go from the queue too.
            while self.waiting_out.front().is_some_and(|front| !self.by_key.contains_key(&**front)) {
                self.waiting_out.pop_front();
            }
            crate::tables::shrink_when_drained(&mut self.by_key);
            fx.set_deadline(TimerKey::ServerTransaction(key), None);
        } else {
            let next = txn.deadline();
            fx.set_deadline(TimerKey::ServerTransaction(key), next);
        }
    }
}

/// Adds a To tag when the request had none (RFC 3261 §8.2.6.2). The tag is derived from
/// the request's identifiers and `seed`, so a retransmitted request answered statelessly
/// gets the same tag again.
fn add_to_tag(headers: &mut Headers, seed: u64) {
    let Some(to) = headers.get(&HeaderName::To) else { return };
    let Ok(mut to) = sip_proto::header::NameAddr::parse(to) else { return };
    if to.tag().is_some() {
        return;
    }
    let mut hasher = DefaultHasher::new();
    seed.hash(&mut hasher);
    for name in [HeaderName::Via, HeaderName::CallId, HeaderName::From, HeaderName::CSeq] {
        headers.get(&name).hash(&mut hasher);
    }
    to.params.set("tag", Some(&format!("{:016x}", hasher.finish())));
    headers.set(HeaderName::To, to.to_string());
}
