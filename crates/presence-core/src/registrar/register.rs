//! Taking a REGISTER (RFC 3261 §10.3 steps 5–8): the contacts it adds, refreshes or removes,
//! `*` removal, Min-Expires, the Call-ID/CSeq ordering rule, and the 200 listing every
//! binding (with what RFC 5626 and RFC 3327 add, see `outbound`); and the expiry of
//! bindings. Each binding raises `register`/`unregister` and is stored; what it means
//! elsewhere (subscribing to the phone, the entity's registration) goes back to the engine as
//! a [`Registered`].

use std::time::{Duration, Instant};

use sip_proto::header::{Contacts, NameAddr};
use sip_proto::{HeaderName, Response};

use crate::admission::Over;
use crate::api::InEvent;
use crate::config::EngineConfig;
use crate::context::Ctx;
use crate::effects::{Effects, TimerKey};
use crate::entity_key::EntityKey;
use crate::peer::Peer;
use crate::request::Incoming;

use super::binding::{Binding, methods_param};
use super::outbound::{self, binding_key};
use super::{BindingChange, Registered, Registrar};

/// What one REGISTER asks for one contact.
struct Asked {
    contact: NameAddr,
    key: String,
    expires: u32,
}

/// What the REGISTER itself says of every contact it lists.
struct Registering<'a> {
    call_id: &'a str,
    cseq: u32,
    source: Peer,
    user_agent: Option<String>,
    allow: Option<Vec<String>>,
    path: Vec<NameAddr>,
}

impl Registrar {
    /// Handles a REGISTER: its response, and what changed for the address-of-record.
    pub(crate) fn on_register(
        &mut self,
        req: &Incoming,
        source: Peer,
        cx: &mut Ctx<'_>,
    ) -> (Response, Option<Registered>) {
        let aor = cx.config.entity_key(&req.to.uri.to_string());
        let flow = match outbound::registers_flow(req) {
            Ok(flow) => flow,
            Err(refusal) => return (refusal, None),
        };
        let (call_id, cseq) = (req.call_id.as_str(), req.cseq.seq);
        let rules = cx.config.registrar_expiry;
        let asked = match &req.contacts {
            Contacts::Wildcard => {
                if req.expires != Some(0) {
                    let refusal = req.answer(400).with_reason("Wildcard Contact Requires Expires 0");
                    return (refusal, None);
                }
                let existing = self.bindings.of(&aor);
                existing.iter().map(|b| Asked { contact: b.contact.clone(), key: b.key.clone(), expires: 0 }).collect()
            }
            Contacts::List(list) => {
                let mut asked = Vec::new();
                for contact in list.iter().cloned() {
                    let requested = match contact.params.get("expires").map(str::parse) {
                        None => req.expires,
                        Some(Ok(seconds)) => Some(seconds),
                        // RFC 3261 §20.10: `expires` is delta-seconds; anything else is refused.
                        Some(Err(_)) => {
                            return (req.answer(400).with_reason("Malformed Contact expires parameter"), None);
                        }
                    };
                    let expires = match rules.grant(requested, &req.request) {
                        Ok(expires) => expires,
                        Err(refusal) => return (refusal, None),
                    };
                    asked.push(Asked { key: binding_key(&contact), contact, expires });
                }
                asked
            }
        };
        // Step 7: a request older than a binding it touches is refused whole.
        for a in &asked {
            let stale = self.bindings.of(&aor).iter().any(|b| b.key == a.key && b.call_id == call_id && cseq <= b.cseq);
            if stale {
                return (req.answer(500).with_reason("Out of Order REGISTER"), None);
            }
        }
        if let Some(refusal) = self.over_limits(req, &aor, &asked, source, cx.config) {
            return (refusal, None);
        }
        let request = Registering {
            call_id,
            cseq,
            source,
            user_agent: req.user_agent.clone(),
            allow: req.allow.as_ref().map(|m| m.iter().map(ToString::to_string).collect()),
            path: req.paths.clone(),
        };
        let mut changes = Vec::new();
        for a in asked {
            changes.extend(self.apply(&aor, a, &request, cx.fx, cx.now));
        }
        let outcome = self.settle(aor, changes, cx.fx);
        let mut ok = req.answer(200);
        for binding in self.bindings.of(&outcome.aor) {
            let mut contact = binding.contact.clone();
            let left = binding.expires_at.saturating_duration_since(cx.now).as_secs();
            contact.params.set("expires", Some(&left.to_string()));
            ok.headers.push(HeaderName::Contact, contact.to_string());
        }
        outbound::decorate(&mut ok, req, flow);
        (ok, Some(outcome))
    }

    /// The refusal of a REGISTER that would bind more contacts to `aor` than one AoR may
    /// have (403: asking again will not help), or add bindings past the source's share or
    /// the table's total (503: it may, later).
    fn over_limits(
        &self,
        req: &Incoming,
        aor: &EntityKey,
        asked: &[Asked],
        source: Peer,
        config: &EngineConfig,
    ) -> Option<Response> {
        let existing = self.bindings.of(aor);
        let bound = |a: &Asked| existing.iter().any(|b| b.key == a.key);
        let adding = asked.iter().filter(|a| a.expires > 0 && !bound(a)).count();
        let removing = asked.iter().filter(|a| a.expires == 0 && bound(a)).count();
        let limits = &config.limits;
        // Saturating: a REGISTER may name one contact twice.
        if (existing.len() + adding).saturating_sub(removing) > limits.max_bindings_per_aor {
            let reason = format!("Too Many Contacts (at most {} per address)", limits.max_bindings_per_aor);
            return Some(req.answer(403).with_reason(reason));
        }
        let over = (adding > 0).then(|| self.bindings.tally.over(source.addr.ip(), limits.registrations, limits));
        let reason = match over.flatten()? {
            Over::Total => "Registrar Full",
            Over::Source => "Too Many Registrations From This Source",
        };
        let mut busy = req.answer(503).with_reason(reason);
        busy.headers.push(HeaderName::RetryAfter, "60");
        Some(busy)
    }

    /// Removes the expired bindings of `aor`.
    pub(crate) fn expire(&mut self, aor: &EntityKey, fx: &mut Effects, now: Instant) -> Registered {
        let mut changes = Vec::new();
        if let Some(bindings) = self.bindings.by_aor.get_mut(aor) {
            let (gone, kept): (Vec<_>, Vec<_>) =
                std::mem::take(bindings).into_iter().partition(|b| b.expires_at <= now);
            *bindings = kept;
            for binding in gone {
                self.bindings.tally.remove(binding.source.addr.ip());
                changes.push(self.gone(aor, binding, fx));
            }
        }
        self.settle(aor.clone(), changes, fx)
    }

    /// Applies one contact of a REGISTER: added, refreshed or removed.
    fn apply(
        &mut self,
        aor: &EntityKey,
        asked: Asked,
        req: &Registering<'_>,
        fx: &mut Effects,
        now: Instant,
    ) -> Option<BindingChange> {
        let bindings = self.bindings.by_aor.entry(aor.clone()).or_insert_with(|| {
            fx.directory.add(aor);
            Vec::new()
        });
        let existing = bindings.iter().position(|b| b.key == asked.key);
        if asked.expires == 0 {
            let gone = bindings.remove(existing?);
            self.bindings.tally.remove(gone.source.addr.ip());
            return Some(self.gone(aor, gone, fx));
        }
        let expires_at = now + Duration::from_secs(asked.expires.into());
        let allow = req.allow.clone().unwrap_or_else(|| methods_param(&asked.contact));
        let change = match existing {
            Some(i) => {
                let b = &mut bindings[i];
                let announce = b.due_for_announcement(now);
                // The store keys bindings by their Contact text: a refresh that words it
                // differently (`;expires=` dropped, a new parameter) must not leave the old record.
                let old = std::mem::replace(&mut b.contact, asked.contact).to_string();
                let reworded = (old != b.contact.to_string()).then_some(old);
                self.bindings.tally.moved(b.source.addr.ip(), req.source.addr.ip());
                let moved = b.source != req.source;
                (b.call_id, b.cseq, b.expires_at, b.granted, b.source, b.user_agent, b.allow, b.path) = (
                    req.call_id.to_owned(),
                    req.cseq,
                    expires_at,
                    asked.expires,
                    req.source,
                    req.user_agent.clone(),
                    allow,
                    req.path.clone(),
                );
                if announce {
                    b.announced_at = now;
                    fx.raise(InEvent::Register(bindings[i].event(aor, bindings)));
                }
                if let Some(contact) = reworded {
                    fx.store(|_| crate::store::Change::DeleteBinding { aor: aor.to_string(), contact });
                }
                moved.then(|| BindingChange::Moved(asked.key.clone()))
            }
            None => {
                self.bindings.tally.add(req.source.addr.ip());
                bindings.push(Binding {
                    contact: asked.contact,
                    key: asked.key.clone(),
                    call_id: req.call_id.to_owned(),
                    cseq: req.cseq,
                    expires_at,
                    announced_at: now,
                    granted: asked.expires,
                    source: req.source,
                    user_agent: req.user_agent.clone(),
                    allow,
                    path: req.path.clone(),
                });
                let added = &bindings[bindings.len() - 1];
                fx.raise(InEvent::Register(added.event(aor, bindings)));
                Some(BindingChange::Added(asked.key.clone()))
            }
        };
        self.store_binding(aor, &asked.key, fx);
        change
    }

    /// A binding was removed or expired: forget it in the store and announce it.
    fn gone(&self, aor: &EntityKey, binding: Binding, fx: &mut Effects) -> BindingChange {
        let contact = binding.contact.to_string();
        fx.store(|_| crate::store::Change::DeleteBinding { aor: aor.to_string(), contact });
        let mut event = binding.event(aor, self.bindings.of(aor));
        event.expires = 0;
        fx.raise(InEvent::Unregister(event));
        BindingChange::Removed(binding.key)
    }

    /// Re-arms the AoR's expiry timer and says whether it is registered now.
    fn settle(&mut self, aor: EntityKey, bindings: Vec<BindingChange>, fx: &mut Effects) -> Registered {
        let current = self.bindings.of(&aor);
        let next = current.iter().map(|b| b.expires_at).min();
        let registered = !current.is_empty();
        if !registered && self.bindings.by_aor.remove(&aor).is_some() {
            fx.directory.remove(&aor);
        }
        fx.set_deadline(TimerKey::BindingExpiry(aor.clone()), next);
        Registered { aor, bindings, registered }
    }
}
