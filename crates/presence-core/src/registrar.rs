//! The registrar (RFC 3261 §10.3): bindings of contacts to an address-of-record, with the
//! Call-ID/CSeq ordering rules, `*` removal, Min-Expires, and the source address and flow
//! kept so requests reach phones behind NAT. Bindings raise `register`/`unregister`, make
//! the entity registered or offline, and start or end our subscriptions to the phone.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip_proto::header::{Contacts, NameAddr};
use sip_proto::{HeaderName, Method, Request, Response, Uri};

use crate::api::{InEvent, RegistrationEvent, SourceAddress};
use crate::engine::{Engine, TimerKey};
use crate::entity::{Changed, Registration};
use crate::peer::Peer;
use crate::watching::WatchId;

/// One contact bound to an address-of-record.
#[derive(Clone, Debug)]
pub(crate) struct Binding {
    pub(crate) contact: NameAddr,
    /// The contact URI in comparison form (RFC 3261 §10.3 step 7 compares URIs).
    pub(crate) key: String,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    pub(crate) expires_at: Instant,
    /// When the last `register` event was raised, for "refreshed past half its life".
    announced_at: Instant,
    pub(crate) granted: u32,
    pub(crate) source: Peer,
    pub(crate) user_agent: Option<String>,
    /// Methods the contact accepts: from Allow, or Polycom's Contact `methods` parameter.
    pub(crate) allow: Vec<String>,
    pub(crate) watches: Vec<WatchId>,
}

impl Binding {
    /// A binding restored from storage (announced as of `now`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn restored(
        contact: NameAddr,
        call_id: String,
        cseq: u32,
        expires_at: Instant,
        granted: u32,
        source: Peer,
        user_agent: Option<String>,
        allow: Vec<String>,
        now: Instant,
    ) -> Self {
        let key = uri_key(&contact.uri);
        Binding {
            contact,
            key,
            call_id,
            cseq,
            expires_at,
            announced_at: now,
            granted,
            source,
            user_agent,
            allow,
            watches: Vec::new(),
        }
    }

    pub(crate) fn allows(&self, method: &Method) -> bool {
        self.allow.iter().any(|m| m.eq_ignore_ascii_case(method.as_str()))
    }
}

/// Bindings per address-of-record.
#[derive(Debug, Default)]
pub(crate) struct Registrations {
    by_aor: HashMap<String, Vec<Binding>>,
}

impl Registrations {
    pub(crate) fn of(&self, aor: &str) -> &[Binding] {
        self.by_aor.get(aor).map_or(&[], Vec::as_slice)
    }

    pub(crate) fn restore(&mut self, aor: &str, binding: Binding) {
        self.by_aor.entry(aor.to_owned()).or_default().push(binding);
    }

    pub(crate) fn binding_mut(&mut self, aor: &str, index: usize) -> Option<&mut Binding> {
        self.by_aor.get_mut(aor)?.get_mut(index)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_aor.values().map(Vec::len).sum()
    }

    /// Every binding with its address-of-record.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&String, &Binding)> {
        self.by_aor.iter().flat_map(|(aor, bindings)| bindings.iter().map(move |b| (aor, b)))
    }
}

/// What one REGISTER asks for one contact.
struct Change {
    contact: NameAddr,
    key: String,
    expires: u32,
}

impl Engine {
    /// Handles a REGISTER (RFC 3261 §10.3 steps 5–8) and returns its response.
    pub(crate) fn on_register(&mut self, req: &Request, source: Peer, now: Instant) -> Response {
        let Ok(to) = req.headers.to() else { return Response::to(req, 400) };
        let aor = self.config.entity_key(&to.uri.to_string());
        let (call_id, cseq) = match (req.headers.call_id(), req.headers.cseq()) {
            (Ok(call_id), Ok(cseq)) => (call_id.to_owned(), cseq.seq),
            _ => return Response::to(req, 400),
        };
        let rules = self.config.registrar_expiry;
        let header_expires = req.headers.expires().ok().flatten();
        let changes = match req.headers.contacts() {
            Ok(Contacts::Wildcard) => {
                if header_expires != Some(0) {
                    return Response::to(req, 400).with_reason("Wildcard Contact Requires Expires 0");
                }
                let existing = self.registrations.of(&aor);
                existing.iter().map(|b| Change { contact: b.contact.clone(), key: b.key.clone(), expires: 0 }).collect()
            }
            Ok(Contacts::List(list)) => {
                let mut changes = Vec::new();
                for contact in list {
                    let asked = contact.params.get("expires").and_then(|e| e.parse().ok()).or(header_expires);
                    let expires = match rules.grant(asked, req) {
                        Ok(expires) => expires,
                        Err(refusal) => return refusal,
                    };
                    changes.push(Change { key: uri_key(&contact.uri), contact, expires });
                }
                changes
            }
            Err(_) => return Response::to(req, 400).with_reason("Malformed Contact header"),
        };
        // Step 7: a request older than a binding it touches is refused whole.
        for change in &changes {
            let stale = self
                .registrations
                .of(&aor)
                .iter()
                .any(|b| b.key == change.key && b.call_id == call_id && cseq <= b.cseq);
            if stale {
                return Response::to(req, 500).with_reason("Out of Order REGISTER");
            }
        }
        let user_agent = req.headers.get(&HeaderName::UserAgent).map(str::to_owned);
        let allow_header: Option<Vec<String>> =
            req.headers.allow().ok().flatten().map(|m| m.iter().map(ToString::to_string).collect());
        let mut changed = Changed::default();
        for change in changes {
            let allow = allow_header.clone().unwrap_or_else(|| methods_param(&change.contact));
            changed =
                changed.or(self.apply_binding(&aor, change, &call_id, cseq, source, user_agent.clone(), allow, now));
        }
        self.registration_changed(&aor, changed, now);
        let mut ok = Response::to(req, 200);
        for binding in self.registrations.of(&aor) {
            let mut contact = binding.contact.clone();
            let left = binding.expires_at.saturating_duration_since(now).as_secs();
            contact.params.set("expires", Some(&left.to_string()));
            ok.headers.push(HeaderName::Contact, contact.to_string());
        }
        ok
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_binding(
        &mut self,
        aor: &str,
        change: Change,
        call_id: &str,
        cseq: u32,
        source: Peer,
        user_agent: Option<String>,
        allow: Vec<String>,
        now: Instant,
    ) -> Changed {
        let bindings = self.registrations.by_aor.entry(aor.to_owned()).or_default();
        let existing = bindings.iter().position(|b| b.key == change.key);
        if change.expires == 0 {
            return match existing {
                Some(i) => {
                    let gone = bindings.remove(i);
                    self.binding_gone(aor, gone, now)
                }
                None => Changed::default(),
            };
        }
        let expires_at = now + Duration::from_secs(change.expires.into());
        let key = change.key.clone();
        match existing {
            Some(i) => {
                let b = &mut bindings[i];
                // A refresh is announced again once past half the life it was granted.
                let announce = now.duration_since(b.announced_at) >= Duration::from_secs(u64::from(b.granted) / 2);
                // The store keys bindings by their Contact text: a refresh that words it
                // differently (`;expires=` dropped, a new parameter) must not leave the old record.
                let old = std::mem::replace(&mut b.contact, change.contact).to_string();
                let reworded = (old != b.contact.to_string()).then_some(old);
                (b.call_id, b.cseq, b.expires_at, b.granted, b.source, b.user_agent, b.allow) =
                    (call_id.to_owned(), cseq, expires_at, change.expires, source, user_agent, allow);
                if announce {
                    b.announced_at = now;
                    let event = registration_event(aor, &bindings[i], bindings);
                    self.events.push_back(InEvent::Register(event));
                }
                if let Some(contact) = reworded {
                    self.persist(presence_store::Change::DeleteBinding { aor: aor.to_owned(), contact });
                }
            }
            None => {
                bindings.push(Binding {
                    contact: change.contact,
                    key: change.key,
                    call_id: call_id.to_owned(),
                    cseq,
                    expires_at,
                    announced_at: now,
                    granted: change.expires,
                    source,
                    user_agent,
                    allow,
                    watches: Vec::new(),
                });
                let index = bindings.len() - 1;
                let event = registration_event(aor, &bindings[index], bindings);
                self.events.push_back(InEvent::Register(event));
                self.watch_binding(aor, index, now);
            }
        }
        if let Some(binding) = self.registrations.of(aor).iter().find(|b| b.key == key).cloned() {
            self.persist_binding(aor, &binding);
        }
        Changed::default()
    }

    /// After a restart: the bindings of `aor` are back; expire what expired meanwhile, mark
    /// the entity registered, and subscribe to the phones again.
    pub(crate) fn restore_registration(&mut self, aor: &str, now: Instant) {
        self.expire_bindings(aor, now);
        for index in 0..self.registrations.of(aor).len() {
            self.watch_binding(aor, index, now);
        }
    }

    /// A binding was removed or expired: announce it and stop watching the phone. Returns
    /// what that changed in the entity, for the one notification that follows.
    fn binding_gone(&mut self, aor: &str, binding: Binding, now: Instant) -> Changed {
        self.persist(presence_store::Change::DeleteBinding {
            aor: aor.to_owned(),
            contact: binding.contact.to_string(),
        });
        let mut event = registration_event(aor, &binding, self.registrations.of(aor));
        event.expires = 0;
        self.events.push_back(InEvent::Unregister(event));
        let mut changed = Changed::default();
        for watch in binding.watches {
            if let Some((_, more)) = self.stop_watch(watch, true, now) {
                changed = changed.or(more);
            }
        }
        changed
    }

    /// Removes expired bindings of `aor`.
    pub(crate) fn expire_bindings(&mut self, aor: &str, now: Instant) {
        let Some(bindings) = self.registrations.by_aor.get_mut(aor) else { return };
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(bindings).into_iter().partition(|b| b.expires_at <= now);
        *bindings = kept;
        let mut changed = Changed::default();
        for binding in gone {
            changed = changed.or(self.binding_gone(aor, binding, now));
        }
        self.registration_changed(aor, changed, now);
    }

    /// Re-arms the expiry timer, tells the entity whether it is registered, and notifies
    /// its watchers once of that and of `changed`.
    fn registration_changed(&mut self, aor: &str, changed: Changed, now: Instant) {
        let bindings = self.registrations.of(aor);
        let next = bindings.iter().map(|b| b.expires_at).min();
        let registered = !bindings.is_empty();
        if !registered {
            self.registrations.by_aor.remove(aor);
        }
        self.deadlines.set(TimerKey::BindingExpiry(aor.to_owned()), next);
        let entity = self.entities.entry(aor.to_owned()).or_default();
        let call_count = entity.registration.map_or(0, |r| r.call_count);
        let changed = changed.or(entity.set_registration(Registration { registered, call_count }));
        self.entity_changed(aor, changed, now);
    }
}

/// RFC 3261 §19.1.4-style comparison form: scheme, user, lowercased host, port, transport.
pub(crate) fn uri_key(uri: &Uri) -> String {
    match uri {
        Uri::Sip(u) => format!(
            "{}:{}@{}:{}:{}",
            if u.secure { "sips" } else { "sip" },
            u.user.as_deref().unwrap_or_default(),
            u.host.canonical(),
            u.port.unwrap_or(if u.secure { 5061 } else { 5060 }),
            u.params.get("transport").unwrap_or("udp").to_ascii_lowercase()
        ),
        Uri::Other { .. } => uri.to_string(),
    }
}

/// Polycom lists its methods in the Contact instead of an Allow header.
fn methods_param(contact: &NameAddr) -> Vec<String> {
    contact.params.get("methods").map(|m| m.split(',').map(|s| s.trim().to_owned()).collect()).unwrap_or_default()
}

fn registration_event(aor: &str, binding: &Binding, all: &[Binding]) -> RegistrationEvent {
    RegistrationEvent {
        entity: aor.to_owned(),
        contacts: all.iter().map(|b| b.contact.uri.to_string()).collect(),
        contact: binding.contact.uri.to_string(),
        expires: binding.granted,
        user_agent: binding.user_agent.clone(),
        allow: binding.allow.clone(),
        source: SourceAddress::of(binding.source),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contact_comparison_form() {
        let a = Uri::parse("sip:1001@Phone.example.com;transport=UDP").unwrap();
        let b = Uri::parse("sip:1001@phone.example.com:5060").unwrap();
        assert_eq!(uri_key(&a), uri_key(&b));
        assert_ne!(uri_key(&a), uri_key(&Uri::parse("sip:1001@phone.example.com;transport=tcp").unwrap()));
    }

    #[test]
    fn polycom_methods_parameter() {
        let c = NameAddr::parse(r#"<sip:1001@192.0.2.5>;methods="INVITE, SUBSCRIBE, NOTIFY""#).unwrap();
        assert_eq!(methods_param(&c), vec!["INVITE", "SUBSCRIBE", "NOTIFY"]);
    }
}
