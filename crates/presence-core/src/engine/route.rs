//! Routing SIP messages: a request to its server transaction (RFC 3261 §17.2.3), then past
//! the generic checks (§8.2) and authentication to the component that owns it by method and
//! dialog; a response to the client transaction it answers, and its outcome to whoever
//! sent the request; malformed input to a 400 or a counted drop. The response to a request
//! is sent before anything its handling triggers (a NOTIFY, a SUBSCRIBE to a phone): the
//! handlers return what follows, and the router carries it out after responding.

use std::sync::Arc;
use std::time::Instant;

use sip_proto::parse::{ParseError, parse_message};
use sip_proto::transaction::ServerKey;
use sip_proto::{HeaderName, Message, Method, Request, Response};

use crate::admission::Draw;
use crate::api::{FeatureReport, InEvent, SourceAddress};
use crate::client_transactions::{Outcome, Purpose};
use crate::entities::{Changed, Update};
use crate::entity_key::EntityKey;
use crate::features::FeatureChange;
use crate::ids::SubscriptionId;
use crate::peer::Peer;
use crate::phones::Phone;
use crate::registrar::{Binding, BindingChange, Registered};
use crate::request::{Incoming, capabilities, preflight};
use crate::server_transactions::Stamp;
use crate::unsolicited;

use super::{Engine, cx};

/// What a request's handling leaves to do once its response is sent.
enum Then {
    Nothing,
    /// The first NOTIFY of a subscription, or the one a refresh gets (RFC 6665 §4.2.1.2).
    Notify(SubscriptionId),
    /// A feature key's change to its user's settings, then its subscription's NOTIFY.
    Feature(EntityKey, FeatureChange, SubscriptionId),
    /// Updates of entities' state, to apply and notify.
    Updates(Vec<(EntityKey, Update)>),
    /// Bindings that came or went.
    Registered(Registered),
}

impl Engine {
    pub(super) fn on_request(&mut self, req: Request, source: Peer, now: Instant) {
        if req.method == Method::Ack {
            // ACK to a non-2xx final response is hop-by-hop and ends nothing we keep
            // (INVITE is refused statelessly); there is no ACK to a 2xx, as we never
            // accept an INVITE.
            return;
        }
        let Ok(key) = ServerKey::for_request(&req) else {
            // Unreachable in practice: parsing validated Via, From, To, Call-ID and CSeq.
            self.fx.stats.malformed_dropped += 1;
            return;
        };
        if !self.admission.admit(source.addr.ip(), Draw::Request, &self.config.limits, now) {
            self.throttle(&req, source, now);
            return;
        }
        if self.server.absorb(&key, &req, source, &mut self.fx) {
            return;
        }
        let req = match Incoming::decode(req) {
            Ok(req) => req,
            Err(refusal) => {
                // Answered like a message that failed to parse: statelessly, the same again
                // for a retransmission.
                self.fx.stats.malformed_answered += 1;
                self.respond(None, refusal, source, now);
                return;
            }
        };
        if *req.method() == Method::Invite {
            // §8.2.1: INVITE is refused statelessly; a retransmission gets the same 405.
            let response = preflight(&req).unwrap_or_else(|| req.answer(405));
            self.respond(None, response, source, now);
            return;
        }
        let ip = source.addr.ip();
        let limits = &self.config.limits;
        if (creates_state(&req) && !self.admission.admit(ip, Draw::NewState, limits, now))
            || self.server.source_is_over_share(ip, limits)
        {
            self.throttle(&req.request, source, now);
            return;
        }
        self.server.make_room(self.config.max_server_transactions, &mut self.fx);
        let key = self.server.open(key, source, self.config.timers);
        let (response, then) = match preflight(&req) {
            Some(refusal) => (refusal, Then::Nothing),
            None => self.dispatch(&req, source, now),
        };
        self.respond(Some(key), response, source, now);
        match then {
            Then::Nothing => {}
            Then::Notify(id) => self.notifier.send_notify(id, &self.entities, cx!(self, now)),
            Then::Feature(entity, change, id) => self.feature_key(entity, change, id, source, now),
            Then::Updates(updates) => self.apply(updates, now),
            Then::Registered(registered) => self.registered(registered, now),
        }
    }

    /// The response to a request that passed the generic checks, and what follows it.
    fn dispatch(&mut self, req: &Incoming, source: Peer, now: Instant) -> (Response, Then) {
        let method = req.method();
        let target = (*method == Method::Subscribe).then(|| self.notifier.subscribe_target(req)).flatten();
        let auth = &self.config.auth;
        let protected = match method {
            Method::Register => auth.register,
            Method::Subscribe => {
                auth.subscribe && !self.notifier.refresh_skips_challenge(target.as_ref(), source, &self.config.profiles)
            }
            Method::Publish => auth.publish,
            _ => false,
        };
        if protected {
            match self.auth.check(req, &self.config, &mut self.fx, now) {
                Err(refusal) => return (refusal, Then::Nothing),
                // Its credentials answer the nonce we sent to its address: it receives there.
                Ok(()) => self.client.prove(source.addr, &self.config),
            }
        }
        match method {
            Method::Options => (capabilities(req.answer(200)), Then::Nothing),
            Method::Subscribe => {
                let (response, accepted) = self.notifier.on_subscribe(req, target, source, cx!(self, now));
                let then = accepted.map_or(Then::Nothing, |accepted| match accepted.feature {
                    Some((entity, change)) => Then::Feature(entity, change, accepted.id),
                    None => Then::Notify(accepted.id),
                });
                (response, then)
            }
            Method::Publish => {
                let (response, update) = self.publications.on_publish(req, source, cx!(self, now));
                (response, Then::Updates(update.into_iter().collect()))
            }
            Method::Register => {
                let (response, registered) = self.registrar.on_register(req, source, cx!(self, now));
                (response, registered.map_or(Then::Nothing, Then::Registered))
            }
            Method::Notify => {
                let (response, updates) = self.phones.on_notify(req, source, cx!(self, now));
                (response, Then::Updates(updates))
            }
            // An in-dialog request for a dialog we do not have (§12.2.2), or a CANCEL for
            // a transaction we do not have (§9.2).
            _ => (req.answer(481), Then::Nothing),
        }
    }

    /// A request over its source's rate or share: dropped on UDP, where an answer would go to
    /// an address nobody has proven (and a flood is best met with silence); refused with 503
    /// on a stream, whose peer completed a handshake and would otherwise wait for Timer F.
    fn throttle(&mut self, req: &Request, source: Peer, now: Instant) {
        self.fx.stats.requests_throttled += 1;
        if source.transport.is_reliable() {
            let mut busy = Response::to(req, 503).with_reason("Too Many Requests From This Source");
            busy.headers.push(HeaderName::RetryAfter, "10");
            self.respond(None, busy, source, now);
        }
    }

    /// Sends a response, through transaction `key` when there is one.
    fn respond(&mut self, key: Option<Arc<ServerKey>>, response: Response, source: Peer, now: Instant) {
        let stamp = Stamp { server_name: &self.config.server_name, seed: self.config.seed };
        self.server.respond(key, response, source, stamp, &mut self.fx, now);
    }

    pub(super) fn on_response(&mut self, resp: &Response, now: Instant) {
        if let Some(outcome) = self.client.on_response(resp, &self.config, &mut self.fx, now) {
            self.outcome(outcome, now);
        }
    }

    /// Hands a request's final outcome to whoever sent it.
    pub(super) fn outcome(&mut self, outcome: Outcome<'_>, now: Instant) {
        match outcome.purpose {
            Purpose::Notify(id) => {
                let status = outcome.response.map(|r| r.status);
                self.notifier.notify_outcome(id, status, &self.entities, cx!(self, now));
            }
            Purpose::Watch(id) => {
                let update = self.phones.subscribe_outcome(id, outcome.response, cx!(self, now));
                self.apply(update.into_iter().collect(), now);
            }
            Purpose::Unsolicited => {}
        }
    }

    /// Answers a malformed request with 400 (505 for another SIP version) when the headers
    /// that identify its transaction parsed, so the answer is itself well-formed and
    /// matchable (RFC 3261 §8.2.6.2, §17.1.3); anything else is dropped and counted.
    pub(super) fn on_malformed(&mut self, err: ParseError, source: Peer, now: Instant) {
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
            self.fx.stats.malformed_dropped += 1;
            return;
        };
        self.fx.stats.malformed_answered += 1;
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
        self.respond(None, response, source, now);
    }

    /// 413 from the head alone of a stream message whose body is over the limit.
    pub(super) fn on_oversized_head(&mut self, head: &[u8], source: Peer, now: Instant) {
        let headers = match parse_message(head) {
            Ok(Message::Request(req)) => req.headers,
            Err(ParseError { partial: Some(partial), .. }) if partial.method.is_some() => partial.headers,
            _ => return,
        };
        self.respond(None, Response::to_headers(&headers, 413), source, now);
    }

    /// Applies entity updates in order; each entity's watchers are notified once for the
    /// updates to it that come together.
    pub(super) fn apply(&mut self, updates: Vec<(EntityKey, Update)>, now: Instant) {
        let mut pending: Option<(EntityKey, Changed)> = None;
        for (entity, update) in updates {
            let (calls, options) = (&self.config.calls, self.config.render_options());
            let changed = self.entities.apply(&entity, update, calls, options, &mut self.fx, now);
            pending = match pending {
                Some((same, before)) if same == entity => Some((same, before.or(changed))),
                Some((other, before)) => {
                    self.changed(&other, before, now);
                    Some((entity, changed))
                }
                None => Some((entity, changed)),
            };
        }
        if let Some((entity, changed)) = pending {
            self.changed(&entity, changed, now);
        }
    }

    /// A feature key changed its user's settings: every feature key of the user is sent the
    /// change (when there is one: the same state is never announced twice, so phones that
    /// answer a NOTIFY by setting what it says cannot loop), integrations are told, and the
    /// key that asked gets the NOTIFY its SUBSCRIBE is owed.
    fn feature_key(&mut self, entity: EntityKey, change: FeatureChange, id: SubscriptionId, from: Peer, now: Instant) {
        let (calls, options) = (&self.config.calls, self.config.render_options());
        let settings = |entities: &crate::entities::Entities| {
            entities.get(&entity).map(|e| (e.settings_record().0, e.settings_record().1.clone()))
        };
        let before = settings(&self.entities);
        let changed = self.entities.apply(&entity, Update::Feature(change), calls, options, &mut self.fx, now);
        self.changed(&entity, changed, now);
        // Integrations hear of a setting that moved, even to what the sources already showed.
        if settings(&self.entities) != before
            && let Some(state) = self.entities.get(&entity).map(|e| e.feature_state(options))
        {
            let source = SourceAddress::of(from);
            self.fx.raise(InEvent::FeatureIn(FeatureReport { entity: entity.to_string(), state, source }));
        }
        self.notifier.notify_unless_current(id, &self.entities, cx!(self, now));
    }

    /// Bindings came, went or moved: subscribe to the new phones, unsubscribe from the gone
    /// ones and follow the moved ones, in order, then show the entity registered or not,
    /// notifying its watchers once.
    pub(super) fn registered(&mut self, registered: Registered, now: Instant) {
        let Registered { aor, bindings, registered } = registered;
        if !bindings.is_empty() {
            // Its contacts (and their User-Agents) are part of its look-up.
            self.fx.directory.touch(&aor);
        }
        let mut updates = Vec::new();
        for change in bindings {
            match change {
                BindingChange::Added(key) => {
                    if let Some(phone) = self.registrar.binding(&aor, &key).map(|b| phone(&aor, b)) {
                        self.phones.watch(&phone, cx!(self, now));
                    }
                }
                BindingChange::Removed(key) => updates.extend(self.phones.unwatch(&aor, &key, cx!(self, now))),
                BindingChange::Moved(key) => {
                    if let Some(phone) = self.registrar.binding(&aor, &key).map(|b| phone(&aor, b)) {
                        self.phones.moved(&phone, cx!(self, now));
                    }
                }
            }
        }
        updates.push((aor, Update::Registered(registered)));
        self.apply(updates, now);
    }

    /// After entity `key` changed: the entity settles (stored, timers re-armed), its
    /// watchers whose documents the change affects are notified, and so are those of the
    /// lists it is in, and a voicemail change is pushed to its phones that do not subscribe
    /// to it.
    pub(super) fn changed(&mut self, key: &EntityKey, changed: Changed, now: Instant) {
        if changed.any() {
            self.fx.directory.touch(key);
        }
        self.entities.settle(key, changed, &mut self.fx);
        self.notifier.notify_entity(key, changed, &self.entities, cx!(self, now));
        for list in self.lists.containing(key) {
            self.notifier.notify_list(list, changed, &self.entities, cx!(self, now));
        }
        if changed.voicemail && self.config.unsolicited_mwi {
            let counts = self.entities.get(key).and_then(|e| e.voicemail).unwrap_or_default();
            let subscribed = self.notifier.mwi_subscriber_addrs(key);
            unsolicited::mwi(key, counts, self.registrar.bindings_of(key), &subscribed, cx!(self, now));
        }
    }
}

/// Whether `req` may create state, and so draws on its source's new-state bucket: an
/// out-of-dialog SUBSCRIBE (a subscription), a REGISTER (bindings), a PUBLISH without
/// SIP-If-Match (a publication); each may also cost a nonce.
fn creates_state(req: &Incoming) -> bool {
    match req.method() {
        Method::Subscribe => req.dialog.is_none(),
        Method::Register => true,
        Method::Publish => req.sip_if_match.is_none(),
        _ => false,
    }
}

/// A binding as our subscriptions to phones need it.
pub(super) fn phone(aor: &EntityKey, b: &Binding) -> Phone {
    Phone {
        aor: aor.clone(),
        key: b.key.clone(),
        contact: b.contact.to_string(),
        target: b.contact.uri.clone(),
        peer: b.source,
        route: b.path.clone(),
        accepts_subscribe: b.allows(&Method::Subscribe),
    }
}
