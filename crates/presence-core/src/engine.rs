//! The engine: the pure core the shell drives (quinn's shape). Inputs are
//! [`Engine::handle_sip`], [`Engine::handle_oversized_head`], [`Engine::handle_flow_closed`],
//! [`Engine::handle_command`] and [`Engine::handle_timeout`], each given the current time;
//! outputs are pulled with [`Engine::poll_transmit`], [`Engine::poll_event`] and
//! [`Engine::poll_timeout`]. No sockets, no clocks, no tasks.
//!
//! This file owns dispatch and the server side of the transaction layer: matching requests
//! to server transactions (RFC 3261 §17.2.3), absorbing retransmissions, answering
//! malformed input, and sending responses where §18.2.2 says. Subscriptions live in
//! `notifier`, outgoing requests in `outgoing`, `.out` events in `commands`.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, Instant};

use sip_proto::message::Message;
use sip_proto::parse::{ParseError, parse_message};
use sip_proto::transaction::{ClientKey, ServerKey, ServerTransaction};
use sip_proto::{HeaderName, Headers, Method, Request, Response};

use crate::api::InEvent;
use crate::config::EngineConfig;
use crate::digest_auth::{self, Authenticator, Verdict};
use crate::entity::Entity;
use crate::handlers;
use crate::ids::Ids;
use crate::outgoing::Outgoing;
use crate::peer::{FlowId, Peer, Transmit};
use crate::publication::{PublicationId, Publications};
use crate::registrar::Registrations;
use crate::reply::{response_destination, stamp_via};
use crate::stats::Stats;
use crate::subscription::{SubscriptionId, Subscriptions};
use crate::timers::DeadlineIndex;
use crate::watching::{WatchId, Watches};

/// What a deadline in the index belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    ServerTransaction(ServerKey),
    ClientTransaction(ClientKey),
    SubscriptionExpiry(SubscriptionId),
    PublicationExpiry(PublicationId),
    EntityCalls(String),
    BindingExpiry(String),
    WatchRefresh(WatchId),
    /// A rate-limited subscription may NOTIFY again.
    NotifyThrottle(SubscriptionId),
}

/// The presence engine.
#[derive(Debug)]
pub struct Engine {
    pub(crate) config: EngineConfig,
    pub(crate) ids: Ids,
    server_transactions: HashMap<ServerKey, ServerTransaction>,
    pub(crate) outgoing: HashMap<ClientKey, Outgoing>,
    pub(crate) subscriptions: Subscriptions,
    pub(crate) publications: Publications,
    pub(crate) registrations: Registrations,
    pub(crate) watches: Watches,
    authenticator: Authenticator,
    pub(crate) entities: HashMap<String, Entity>,
    pub(crate) deadlines: DeadlineIndex<TimerKey>,
    transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<InEvent>,
    pub(crate) stats: Stats,
    /// Time from sending a NOTIFY to its final response, until the shell collects them.
    pub(crate) notify_latencies: Vec<Duration>,
    /// With persistence on: a (monotonic, Unix ms) pair of readings to convert times.
    pub(crate) wall: Option<(Instant, u64)>,
    /// Changes to store, until the shell collects them.
    pub(crate) changes: Vec<presence_store::Change>,
}

impl Engine {
    /// An engine with no state.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            ids: Ids::new(config.seed),
            authenticator: Authenticator::new(config.auth.nonce_lifetime),
            config,
            server_transactions: HashMap::new(),
            outgoing: HashMap::new(),
            subscriptions: Subscriptions::default(),
            publications: Publications::default(),
            registrations: Registrations::default(),
            watches: Watches::default(),

            entities: HashMap::new(),
            deadlines: DeadlineIndex::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
            notify_latencies: Vec::new(),
            wall: None,
            changes: Vec::new(),
        }
    }

    /// A datagram or a framed stream message arrived from `source`.
    pub fn handle_sip(&mut self, bytes: &[u8], source: Peer, now: Instant) {
        if bytes.len() > self.config.max_message_size {
            // Over UDP nothing can be answered safely (the head may be cut); streams call
            // `handle_oversized_head` instead.
            self.stats.oversized += 1;
            return;
        }
        match parse_message(bytes) {
            Ok(Message::Request(req)) => {
                self.stats.requests_in += 1;
                self.on_request(req, source, now);
            }
            Ok(Message::Response(resp)) => {
                self.stats.responses_in += 1;
                self.on_response(&resp, now);
            }
            Err(err) => self.on_malformed(err, source, now),
        }
    }

    /// A stream delivered a head whose body exceeds the size limit: answer 413 from the
    /// head alone (the shell then closes the connection).
    pub fn handle_oversized_head(&mut self, head: &[u8], source: Peer, now: Instant) {
        self.stats.oversized += 1;
        let headers = match parse_message(head) {
            Ok(Message::Request(req)) => req.headers,
            Err(ParseError { partial: Some(partial), .. }) if partial.method.is_some() => partial.headers,
            _ => return,
        };
        let response = Response::to_headers(&headers, 413);
        self.send_response(None, response, source, now);
    }

    /// A stream connection closed: subscriptions bound to it can no longer be notified
    /// and end (SPEC §4: a transport error ends a stream-bound subscription).
    pub fn handle_flow_closed(&mut self, flow: FlowId, _now: Instant) {
        for id in self.subscriptions.on_flow(flow) {
            self.end_subscription(id);
        }
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(key) = self.deadlines.pop_due(now) {
            match key {
                TimerKey::ServerTransaction(key) => {
                    if let Some(txn) = self.server_transactions.get_mut(&key) {
                        txn.on_timeout(now);
                        if txn.is_terminated() {
                            self.server_transactions.remove(&key);
                        } else {
                            let next = txn.deadline();
                            self.deadlines.set(TimerKey::ServerTransaction(key), next);
                        }
                    }
                }
                TimerKey::ClientTransaction(key) => self.on_client_timer(key, now),
                TimerKey::SubscriptionExpiry(id) => self.terminate_subscription(id, "timeout", now),
                TimerKey::PublicationExpiry(id) => self.remove_publication(id, now),
                TimerKey::EntityCalls(entity) => self.expire_calls(&entity, now),
                TimerKey::BindingExpiry(aor) => self.expire_bindings(&aor, now),
                TimerKey::WatchRefresh(id) => self.refresh_watch(id, now),
                TimerKey::NotifyThrottle(id) => {
                    // Only what changed while held back is sent.
                    if self.subscriptions.get(id).is_some_and(|s| s.dirty) {
                        self.send_notify(id, now);
                    }
                }
            }
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event for integrations.
    pub fn poll_event(&mut self) -> Option<InEvent> {
        self.events.pop_front()
    }

    /// When [`Engine::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// NOTIFY latencies (send to final response) measured since the last call.
    pub fn take_notify_latencies(&mut self) -> Vec<Duration> {
        std::mem::take(&mut self.notify_latencies)
    }

    /// How many server transactions are held (for tests and metrics).
    pub fn server_transaction_count(&self) -> usize {
        self.server_transactions.len()
    }

    /// How many subscriptions are held, ending ones included (for tests and metrics).
    pub fn subscription_count(&self) -> usize {
        self.subscriptions.len()
    }

    /// How many contacts are registered (for tests and metrics).
    pub fn binding_count(&self) -> usize {
        self.registrations.len()
    }

    /// How many subscriptions to phones are held (for tests and metrics).
    pub fn watch_count(&self) -> usize {
        self.watches.len()
    }

    /// How many live publications are held (for tests and metrics).
    pub fn publication_count(&self) -> usize {
        self.publications.len()
    }

    /// How many deadlines the index holds (for tests and metrics).
    pub fn pending_timer_count(&self) -> usize {
        self.deadlines.len()
    }

    fn on_request(&mut self, req: Request, source: Peer, now: Instant) {
        if req.method == Method::Ack {
            // ACK to a non-2xx final response is hop-by-hop and ends nothing we keep
            // (INVITE is refused statelessly); there is no ACK to a 2xx, as we never
            // accept an INVITE.
            return;
        }
        let Ok(key) = ServerKey::for_request(&req) else {
            // Unreachable in practice: parsing validated Via, From, To, Call-ID and CSeq.
            self.stats.malformed_dropped += 1;
            return;
        };
        if let Some(txn) = self.server_transactions.get(&key) {
            self.stats.retransmissions_absorbed += 1;
            if let (Some(bytes), Some(destination)) =
                (txn.on_retransmission(), response_destination(&req.headers, source))
            {
                self.queue(destination, bytes);
            }
            return;
        }
        if req.method == Method::Invite {
            // §8.2.1: INVITE is refused statelessly; a retransmission gets the same 405.
            let response = handlers::preflight(&req).unwrap_or_else(|| Response::to(&req, 405));
            self.send_response(None, response, source, now);
            return;
        }
        if self.server_transactions.len() >= self.config.max_server_transactions {
            self.stats.overload_rejections += 1;
            let busy = Response::to(&req, 503).with_reason("Service Unavailable (transaction table full)");
            self.send_response(None, busy, source, now);
            return;
        }
        let txn = ServerTransaction::new(source.transport.is_reliable(), self.config.timers);
        self.server_transactions.insert(key.clone(), txn);
        let before = self.transmits.len();
        let (response, notify) = match handlers::preflight(&req) {
            Some(refusal) => (refusal, None),
            None => self.dispatch(&req, source, now),
        };
        // The response goes out before any request its handling triggered (a REGISTER's
        // SUBSCRIBE to the phone): phones expect the final response first.
        let triggered: Vec<Transmit> = self.transmits.drain(before..).collect();
        self.send_response(Some(key), response, source, now);
        self.transmits.extend(triggered);
        // The NOTIFY a SUBSCRIBE triggers follows its response (RFC 6665 §4.2.1.2).
        if let Some(id) = notify {
            self.send_notify(id, now);
        }
    }

    /// The response to a request that passed the generic checks, and the subscription
    /// to notify once it is sent.
    fn dispatch(&mut self, req: &Request, source: Peer, now: Instant) -> (Response, Option<SubscriptionId>) {
        let target = if req.method == Method::Subscribe { self.subscribe_target(req) } else { None };
        if let Some(refusal) = self.authenticate(req, target.as_ref(), source, now) {
            return (refusal, None);
        }
        match req.method {
            Method::Options => (handlers::capabilities(Response::to(req, 200)), None),
            Method::Subscribe => self.on_subscribe(req, target, source, now),
            Method::Publish => (self.on_publish(req, source, now), None),
            Method::Register => (self.on_register(req, source, now), None),
            Method::Notify => (self.on_notify(req, source, now), None),
            // An in-dialog request for a dialog we do not have (§12.2.2), or a CANCEL for
            // a transaction we do not have (§9.2).
            _ => (Response::to(req, 481), None),
        }
    }

    /// Digest authentication for the methods configured (RFC 3261 §22.1): `None` lets the
    /// request through; otherwise the challenge or refusal to send.
    fn authenticate(
        &mut self,
        req: &Request,
        target: Option<&crate::notifier::SubscribeTarget>,
        source: Peer,
        now: Instant,
    ) -> Option<Response> {
        let auth = &self.config.auth;
        let required = match req.method {
            Method::Register => auth.register,
            Method::Subscribe => auth.subscribe && !self.refresh_skips_challenge(target, source),
            Method::Publish => auth.publish,
            _ => false,
        };
        if !required {
            return None;
        }
        let host = req.uri.as_sip().map(|u| u.host.canonical()).unwrap_or_default();
        let realm = auth.realm.clone().unwrap_or_else(|| host.clone());
        let verdict = self.authenticator.verify(req, &realm, &auth.users, now);
        let stale = match verdict {
            Verdict::Authenticated { realm, .. } if auth.realm_must_match_host && realm != host => {
                self.stats.auth_refusals += 1;
                return Some(Response::to(req, 403).with_reason("Realm Does Not Match the Domain"));
            }
            Verdict::Authenticated { .. } => return None,
            Verdict::Forbidden("Bad credentials") if auth.challenge_bad_credentials => false,
            Verdict::Forbidden(reason) => {
                self.stats.auth_refusals += 1;
                return Some(Response::to(req, 403).with_reason(reason));
            }
            Verdict::Challenge { stale } => stale,
        };
        self.stats.auth_challenges += 1;
        let (status, header) = (if auth.proxy { 407 } else { 401 }, digest_auth::challenge_header(auth.proxy));
        let nonce = self.ids.token() + &self.ids.token();
        let algorithms = self.config.auth.algorithms.clone();
        let mut challenge = Response::to(req, status);
        for value in self.authenticator.challenge(nonce, &realm, &algorithms, stale, now) {
            challenge.headers.push(header.clone(), value);
        }
        Some(challenge)
    }

    fn on_response(&mut self, resp: &Response, now: Instant) {
        match ClientKey::for_response(resp) {
            Ok(key) if self.outgoing.contains_key(&key) => self.on_client_response(key, resp, now),
            _ => self.stats.stray_responses += 1,
        }
    }

    /// Answers a malformed request with 400 (505 for another SIP version) when the headers
    /// that identify its transaction parsed, so the answer is itself well-formed and
    /// matchable (RFC 3261 §8.2.6.2, §17.1.3); anything else is dropped and counted.
    fn on_malformed(&mut self, err: ParseError, source: Peer, now: Instant) {
        let answerable = err.partial.as_ref().filter(|p| {
            let h = &p.headers;
            p.method.is_some()
                && h.top_via().is_ok()
                && h.from().is_ok()
                && h.to().is_ok()
                && h.call_id().is_ok()
                && h.cseq().is_ok()
        });
        let Some(partial) = answerable else {
            self.stats.malformed_dropped += 1;
            return;
        };
        self.stats.malformed_answered += 1;
        let mut response =
            Response::to_headers(&partial.headers, err.kind.status()).with_reason(err.kind.reason_phrase());
        if partial.headers.via().is_err()
            && let Some(top) = partial.headers.get(&HeaderName::Via)
        {
            // A lower Via that does not parse would make the answer malformed too; the peer
            // matches the answer on the top one alone (RFC 3261 §17.1.3, §18.1.2).
            let top = top.to_owned();
            response.headers.set(HeaderName::Via, top);
        }
        self.send_response(None, response, source, now);
    }

    /// Completes `response` (To tag, Server), stamps Via, hands it to the transaction if
    /// there is one, and queues it.
    fn send_response(&mut self, key: Option<ServerKey>, mut response: Response, source: Peer, now: Instant) {
        if response.status > 100 {
            self.add_to_tag(&mut response.headers);
        }
        response.headers.push(HeaderName::Server, self.config.server_name.clone());
        let Some(destination) = stamp_via(&mut response.headers, source) else {
            self.stats.malformed_dropped += 1;
            return;
        };
        let bytes = response.encode();
        if let Some(key) = key
            && let Some(txn) = self.server_transactions.get_mut(&key)
        {
            txn.on_response(response.status, bytes.clone(), now);
            if txn.is_terminated() {
                self.server_transactions.remove(&key);
                self.deadlines.set(TimerKey::ServerTransaction(key), None);
            } else {
                let next = txn.deadline();
                self.deadlines.set(TimerKey::ServerTransaction(key), next);
            }
        }
        self.queue(destination, bytes);
    }

    /// Adds a To tag when the request had none (RFC 3261 §8.2.6.2). The tag is derived from
    /// the request's identifiers and our seed, so a retransmitted request answered
    /// statelessly gets the same tag again.
    fn add_to_tag(&self, headers: &mut Headers) {
        let Some(to) = headers.get(&HeaderName::To) else { return };
        let Ok(mut to) = sip_proto::header::NameAddr::parse(to) else { return };
        if to.tag().is_some() {
            return;
        }
        let mut hasher = DefaultHasher::new();
        self.config.seed.hash(&mut hasher);
        for name in [HeaderName::Via, HeaderName::CallId, HeaderName::From, HeaderName::CSeq] {
            headers.get(&name).hash(&mut hasher);
        }
        to.params.set("tag", Some(&format!("{:016x}", hasher.finish())));
        headers.set(HeaderName::To, to.to_string());
    }

    pub(crate) fn queue(&mut self, destination: Peer, payload: bytes::Bytes) {
        self.stats.messages_out += 1;
        self.transmits.push_back(Transmit { destination, payload });
    }
}
