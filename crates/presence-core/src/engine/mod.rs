//! The engine: the router the shell drives (quinn's shape). Inputs are
//! [`Engine::handle_sip`], [`Engine::handle_oversized_head`], [`Engine::handle_flow_closed`],
//! [`Engine::handle_command`] and [`Engine::handle_timeout`], each given the current time;
//! outputs are pulled with [`Engine::poll_transmit`], [`Engine::poll_event`] and
//! [`Engine::poll_timeout`]. No sockets, no clocks, no tasks.
//!
//! The engine owns the components and routes each input to the one that owns it: a request
//! by method and dialog (`route`), a response by its client transaction, a due deadline by
//! its key (`timers`), an integration's command by what it is about (`commands`). What a
//! component hands back for another (an entity update, a binding that came or went) the
//! router passes on, after the response to the request that caused it. Every `impl Engine`
//! is in this folder: `restore` (after a restart) and `views` (look-ups for the API) are
//! entry points beside the inputs above.

mod commands;
mod restore;
mod route;
mod timers;
mod views;

use std::time::{Duration, Instant};

use crate::received::Received;
use sip_proto::message::Message;

use crate::admission::Admission;
use crate::api::InEvent;
use crate::auth::Auth;
use crate::client_transactions::ClientTransactions;
use crate::config::EngineConfig;
use crate::effects::Effects;
use crate::entities::Entities;
use crate::lists::Lists;
use crate::notifier::Notifier;
use crate::peer::{FlowId, Peer, Transmit};
use crate::phones::Phones;
use crate::publications::Publications;
use crate::registrar::Registrar;
use crate::server_transactions::ServerTransactions;
use crate::stats::Stats;

/// The presence engine.
#[derive(Debug)]
pub struct Engine {
    config: EngineConfig,
    fx: Effects,
    admission: Admission,
    server: ServerTransactions,
    client: ClientTransactions,
    auth: Auth,
    entities: Entities,
    notifier: Notifier,
    publications: Publications,
    registrar: Registrar,
    phones: Phones,
    lists: Lists,
}

/// A component's [`crate::context::Ctx`], built from the engine's disjoint fields so the
/// component itself can be borrowed beside it.
macro_rules! cx {
    ($engine:ident, $now:expr) => {
        &mut crate::context::Ctx {
            config: &$engine.config,
            lists: &$engine.lists,
            fx: &mut $engine.fx,
            client: &mut $engine.client,
            now: $now,
        }
    };
}
use cx;

impl Engine {
    /// An engine with no state.
    pub fn new(config: EngineConfig) -> Self {
        Engine {
            fx: Effects::new(config.seed, config.node_id),
            auth: Auth::new(&config.auth),
            lists: Lists::new(&config),
            config,
            admission: Admission::default(),
            server: ServerTransactions::default(),
            client: ClientTransactions::default(),
            entities: Entities::default(),
            notifier: Notifier::default(),
            publications: Publications::default(),
            registrar: Registrar::default(),
            phones: Phones::default(),
        }
    }

    /// A datagram or a framed stream message arrived from `source`.
    pub fn handle_sip(&mut self, bytes: &[u8], source: Peer, now: Instant) {
        self.handle_received(Received::read(bytes, self.config.max_message_size), source, now);
    }

    /// A message arrived from `source`, already read where it arrived ([`Received::read`]).
    pub fn handle_received(&mut self, received: Received, source: Peer, now: Instant) {
        match received {
            Received::Message(Message::Request(req)) => {
                self.fx.stats.requests_in += 1;
                self.on_request(req, source, now);
            }
            Received::Message(Message::Response(resp)) => {
                self.fx.stats.responses_in += 1;
                self.on_response(&resp, now);
            }
            Received::Malformed(err) => self.on_malformed(err, source, now),
            // Over UDP nothing can be answered safely (the head may be cut); streams call
            // `handle_oversized_head` instead.
            Received::Oversized => self.fx.stats.oversized += 1,
        }
    }

    /// A stream delivered a head whose body exceeds the size limit: answer 413 from the
    /// head alone (the shell then closes the connection).
    pub fn handle_oversized_head(&mut self, head: &[u8], source: Peer, now: Instant) {
        self.fx.stats.oversized += 1;
        self.on_oversized_head(head, source, now);
    }

    /// A stream connection closed: subscriptions bound to it can no longer be notified
    /// and end (a transport error ends a stream-bound subscription).
    pub fn handle_flow_closed(&mut self, flow: FlowId, now: Instant) {
        self.notifier.on_flow_closed(flow, cx!(self, now));
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.fx.pop_transmit()
    }

    /// The next event for integrations.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<InEvent> {
        self.fx.pop_event()
    }

    /// When [`Engine::handle_timeout`] should next be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.fx.next_deadline()
    }

    /// Turns persistence on: `unix_ms` is the wall-clock time at the monotonic `now`.
    pub fn enable_persistence(&mut self, now: Instant, unix_ms: u64) {
        self.fx.enable_store(now, unix_ms);
    }

    /// The changes to store since the last call, in order.
    #[must_use]
    pub fn take_changes(&mut self) -> Vec<crate::store::Change> {
        self.fx.take_changes()
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.fx.stats
    }

    /// NOTIFY latencies (send to final response) measured since the last call.
    pub fn take_notify_latencies(&mut self) -> Vec<Duration> {
        self.fx.take_notify_latencies()
    }

    /// How many server transactions are held (for tests and metrics).
    pub fn server_transaction_count(&self) -> usize {
        self.server.len()
    }

    /// How many subscriptions are held, ending ones included (for tests and metrics).
    pub fn subscription_count(&self) -> usize {
        self.notifier.len()
    }

    /// How many contacts are registered (for tests and metrics).
    pub fn binding_count(&self) -> usize {
        self.registrar.len()
    }

    /// How many sources have rate buckets (for tests and metrics).
    pub fn source_count(&self) -> usize {
        self.admission.len()
    }

    /// How many digest nonces are outstanding (for tests and metrics).
    pub fn nonce_count(&self) -> usize {
        self.auth.nonce_count()
    }

    /// How many subscriptions to phones are held (for tests and metrics).
    pub fn watch_count(&self) -> usize {
        self.phones.len()
    }

    /// How many live publications are held (for tests and metrics).
    pub fn publication_count(&self) -> usize {
        self.publications.len()
    }

    /// How many deadlines the index holds (for tests and metrics).
    pub fn pending_timer_count(&self) -> usize {
        self.fx.deadline_count()
    }

    /// The settings the engine runs with (to normalise entity names the same way).
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Takes from `new` the settings that can change while the engine runs (a reload on
    /// SIGHUP): digest authentication (who the users are, what each may act for, what is
    /// challenged), who may watch whom, and the device profiles. Each is read afresh by every
    /// request, so the next one follows them; what is held (subscriptions, registrations) stays
    /// as it was granted. The nonce table keeps its lifetime and size, and the rest of `new` is
    /// not taken: it shapes the state held (domain aliases fold entity names, the node id is in
    /// every id, the limits size the tables), so it changes at a restart.
    pub fn reload(&mut self, new: EngineConfig) {
        let EngineConfig { auth, watch_policy, profiles, .. } = new;
        let nonces = (self.config.auth.nonce_lifetime, self.config.auth.max_nonces);
        self.config.auth = crate::AuthConfig { nonce_lifetime: nonces.0, max_nonces: nonces.1, ..auth };
        self.config.watch_policy = watch_policy;
        self.config.profiles = profiles;
    }
}
