//! The notifier role (RFC 6665 §4.2): accepting, refreshing and ending subscriptions, and
//! sending their NOTIFYs: one in flight per subscription, with state that changes
//! meanwhile merged into the next one; failures end the subscription as SPEC §4 says.

use std::time::{Duration, Instant};

use sip_proto::dialog::{Dialog, DialogId};
use sip_proto::header::Contacts;
use sip_proto::transaction::ClientKey;
use sip_proto::uri::Uri;
use sip_proto::{HeaderName, Method, Request, Response};

use crate::api::{InEvent, NewWatcher};
use crate::bodies::Format;
use crate::engine::{Engine, TimerKey};
use crate::entity::Changed;
use crate::handlers::with_allow_events;
use crate::outgoing::{NotifyKind, Purpose};
use crate::package::Package;
use crate::peer::Peer;
use crate::profiles;
use crate::render::{Watcher, render};
use crate::subscription::{Phase, Subscription, SubscriptionId};
use crate::watching::host_text;

impl Engine {
    /// What a SUBSCRIBE is about: `None` for an unknown (or missing) package.
    pub(crate) fn subscribe_target(&self, req: &Request) -> Option<SubscribeTarget> {
        let event = req.headers.event().ok().flatten()?;
        let package = Package::from_event(&event.package)?;
        let event_id = event.id().map(str::to_owned);
        let refreshes = match DialogId::of_incoming(req) {
            Ok(Some(dialog)) => Some(self.subscriptions.find_dialog(&dialog, package, event_id.as_deref())),
            _ => None,
        };
        Some(SubscribeTarget { package, event_id, refreshes })
    }

    /// Handles a SUBSCRIBE: the response, and the subscription to notify once it is sent.
    pub(crate) fn on_subscribe(
        &mut self,
        req: &Request,
        target: Option<SubscribeTarget>,
        source: Peer,
        now: Instant,
    ) -> (Response, Option<SubscriptionId>) {
        let Some(SubscribeTarget { package, event_id, refreshes }) = target else {
            // RFC 6665 §4.2.1.1: an unknown (or missing) package gets 489 and Allow-Events.
            return (with_allow_events(Response::to(req, 489)), None);
        };
        match refreshes {
            Some(id) => self.refresh(req, id, source, now),
            None => self.subscribe(req, package, event_id, source, now),
        }
    }

    /// Whether the SUBSCRIBE refreshes a subscription whose device profile takes refreshes
    /// without a new challenge: one set up with credentials, whose dialog (Call-ID and both
    /// tags) it names, from the address the NOTIFYs go to, so the refresh cannot move them.
    pub(crate) fn refresh_skips_challenge(&self, target: Option<&SubscribeTarget>, source: Peer) -> bool {
        let id = target.and_then(|t| t.refreshes).flatten();
        let Some(sub) = id.and_then(|id| self.subscriptions.get(id)) else { return false };
        let trusting = sub.profile.and_then(|p| self.config.profiles.get(p)).is_some_and(|p| !p.challenge_refreshes);
        trusting && sub.authenticated && sub.peer.addr == source.addr && sub.peer.transport == source.transport
    }

    /// The expiry to grant (RFC 6665 §4.2.1.1), or the 423 refusal.
    fn granted_expiry(&self, req: &Request) -> Result<u32, Response> {
        self.config.expiry.grant(req.headers.expires().ok().flatten(), req)
    }

    fn subscribe(
        &mut self,
        req: &Request,
        package: Package,
        event_id: Option<String>,
        source: Peer,
        now: Instant,
    ) -> (Response, Option<SubscriptionId>) {
        let subscriber = req.headers.from().map(|f| self.config.entity_key(&f.uri.to_string())).unwrap_or_default();
        let user_agent = req.headers.get(&HeaderName::UserAgent);
        let profile = profiles::select(
            &self.config.profiles,
            profiles::Subscriber { key: &subscriber, source: source.addr.ip(), user_agent },
        );
        let preferred = profile.and_then(|p| self.config.profiles[p].presence_format);
        let accept = req.headers.accept().ok().flatten();
        let Some(format) = package.negotiate(accept.as_deref(), preferred) else {
            let mut refusal = Response::to(req, 406);
            let offered: Vec<&str> = package.formats().iter().map(|f| f.content_type()).collect();
            refusal.headers.push(HeaderName::Accept, offered.join(", "));
            return (refusal, None);
        };
        let expires = match self.granted_expiry(req) {
            Ok(expires) => expires,
            Err(refusal) => return (refusal, None),
        };
        let Uri::Sip(target) = &req.uri else { return (Response::to(req, 416), None) };
        let entity = self.config.entity_key(&target.aor());
        if !self.config.watch_policy.allows(&subscriber, &entity) {
            return (Response::to(req, 403).with_reason("Not Allowed to Watch This Entity"), None);
        }
        let reason = if self.subscriptions.count_of_entity(&entity) >= self.config.max_subscriptions_per_entity {
            Some("Too Many Subscriptions")
        } else if self.subscriptions.count_of_watcher(&entity, &subscriber, source.addr)
            >= self.config.max_subscriptions_per_watcher
        {
            Some("Too Many Subscriptions From This Watcher")
        } else {
            None
        };
        if let Some(reason) = reason {
            let mut busy = Response::to(req, 503).with_reason(reason);
            busy.headers.push(HeaderName::RetryAfter, "60");
            return (busy, None);
        }
        let local_tag = self.ids.token();
        let dialog = match Dialog::as_uas(req, &local_tag, 0) {
            Ok(dialog) => dialog,
            Err(e) => {
                let reason = if e.reason == "missing" { format!("Missing {} header", e.header) } else { e.to_string() };
                return (Response::to(req, 400).with_reason(reason), None);
            }
        };
        let our_host = if source.local.ip().is_unspecified() { target.host.to_string() } else { host_text(source) };
        let call_id = dialog.id.call_id.clone();
        let sub = Subscription {
            entity: entity.clone(),
            package,
            format,
            event_id,
            subscriber: subscriber.clone(),
            dialog,
            peer: source,
            our_host,
            expires_at: now + Duration::from_secs(expires.into()),
            phase: Phase::Active,
            version: 0,
            seen_change: 0,
            in_flight: false,
            dirty: false,
            check_sync: false,
            failures: 0,
            profile,
            last_notify_at: None,
            notified: false,
            // Reaching here with SUBSCRIBE authentication on means the request passed it.
            authenticated: self.config.auth.subscribe,
        };
        let contact = contact_of(&sub);
        let id = self.subscriptions.insert(sub);
        if expires == 0 {
            // A fetch (RFC 6665 §4.4.3): one terminated NOTIFY with the current state.
            self.begin_termination(id, "timeout");
        } else {
            let expires_at = now + Duration::from_secs(expires.into());
            self.deadlines.set(TimerKey::SubscriptionExpiry(id), Some(expires_at));
            let watcher = NewWatcher { content_type: format.content_type(), entity, subscriber, expires, call_id };
            self.events.push_back(match package {
                Package::MessageSummary => InEvent::VoicemailIn(watcher),
                Package::Presence | Package::Dialog => InEvent::SubscribeIn(watcher),
            });
        }
        let status = profile.map_or(200, |p| self.config.profiles[p].subscribe_status);
        (accepted(req, status, &local_tag, expires, &contact), Some(id))
    }

    fn refresh(
        &mut self,
        req: &Request,
        id: Option<SubscriptionId>,
        source: Peer,
        now: Instant,
    ) -> (Response, Option<SubscriptionId>) {
        let Some(id) = id else {
            return (Response::to(req, 481).with_reason("Subscription Does Not Exist"), None);
        };
        let expires = match self.granted_expiry(req) {
            Ok(expires) => expires,
            Err(refusal) => return (refusal, None),
        };
        let Some(sub) = self.subscriptions.get_mut(id) else { return (Response::to(req, 481), None) };
        let seq = req.headers.cseq().map(|c| c.seq).unwrap_or_default();
        if sub.dialog.accept_remote_cseq(seq).is_err() {
            // RFC 3261 §12.2.2: a CSeq below the last one is answered 500.
            return (Response::to(req, 500).with_reason("CSeq Out of Order"), None);
        }
        // SUBSCRIBE is a target refresh request (RFC 6665 §4.1.2.1), and NATs rebind:
        // follow the latest Contact and source.
        if let Ok(Contacts::List(contacts)) = req.headers.contacts()
            && let Some(first) = contacts.first()
        {
            sub.dialog.remote_target = first.uri.clone();
        }
        sub.peer = source;
        // RFC 6665 §4.2.1.2: a refresh gets its NOTIFY at once, rate limit or not.
        sub.last_notify_at = None;
        let contact = contact_of(sub);
        let local_tag = sub.dialog.id.local_tag.clone();
        let status = sub.profile.map_or(200, |p| self.config.profiles[p].subscribe_status);
        if expires == 0 {
            self.begin_termination(id, "timeout");
        } else {
            sub.expires_at = now + Duration::from_secs(expires.into());
            let expires_at = sub.expires_at;
            self.deadlines.set(TimerKey::SubscriptionExpiry(id), Some(expires_at));
        }
        (accepted(req, status, &local_tag, expires, &contact), Some(id))
    }

    /// Ends a subscription with a final NOTIFY `terminated;reason=<reason>`.
    pub(crate) fn terminate_subscription(&mut self, id: SubscriptionId, reason: &'static str, now: Instant) {
        if self.subscriptions.get(id).is_none_or(|s| s.phase != Phase::Active) {
            return;
        }
        self.begin_termination(id, reason);
        self.send_notify(id, now);
    }

    /// Marks a subscription as ending: no further state reaches it, and its next NOTIFY is
    /// the final one.
    fn begin_termination(&mut self, id: SubscriptionId, reason: &'static str) {
        self.subscriptions.detach(id);
        self.deadlines.set(TimerKey::SubscriptionExpiry(id), None);
        if let Some(sub) = self.subscriptions.get_mut(id) {
            sub.phase = Phase::Terminating(reason);
        }
    }

    /// Forgets a subscription without a final NOTIFY (its peer cannot be reached).
    pub(crate) fn end_subscription(&mut self, id: SubscriptionId) {
        if self.subscriptions.remove(id).is_some() {
            self.stats.subscriptions_lost += 1;
            self.persist(presence_store::Change::DeleteSubscription(id));
        }
        self.deadlines.set(TimerKey::SubscriptionExpiry(id), None);
    }

    /// Notifies every subscription of `entity` whose document `changed` affects.
    pub(crate) fn notify_entity(&mut self, entity: &str, changed: Changed, now: Instant) {
        for id in self.subscriptions.of_entity(entity) {
            let affected = self.subscriptions.get(id).is_some_and(|s| match s.format {
                Format::Pidf | Format::Xpidf => changed.presence,
                Format::DialogInfo => changed.dialogs,
                Format::MessageSummary => changed.voicemail,
            });
            if affected {
                self.send_notify(id, now);
            }
        }
    }

    /// Sends the subscription's next NOTIFY now, or marks it to follow the one in flight.
    pub(crate) fn send_notify(&mut self, id: SubscriptionId, now: Instant) {
        let branch = self.ids.branch();
        let options = self.render_options();
        let Some(sub) = self.subscriptions.get_mut(id) else { return };
        if sub.in_flight {
            sub.dirty = true;
            return;
        }
        let interval = sub.profile.and_then(|p| self.config.profiles.get(p)).map_or(0, |p| p.min_notify_interval_ms);
        if let Some(last) = sub.last_notify_at.filter(|_| interval > 0 && sub.phase == Phase::Active && !sub.check_sync)
        {
            let ready = last + Duration::from_millis(interval.into());
            if now < ready {
                // Merged into one NOTIFY when the interval ends.
                sub.dirty = true;
                self.deadlines.set(TimerKey::NotifyThrottle(id), Some(ready));
                return;
            }
        }
        let entity = self.entities.get(&sub.entity);
        let kind = match sub.phase {
            Phase::Active if sub.check_sync => NotifyKind::CheckSync,
            Phase::Active => NotifyKind::State { last: false },
            Phase::Terminating(_) => NotifyKind::State { last: true },
        };
        let body = match kind {
            NotifyKind::CheckSync => None,
            NotifyKind::State { last } => {
                let profile = sub.profile.and_then(|p| self.config.profiles.get(p));
                let watcher = Watcher { version: sub.version, seen_change: sub.seen_change, profile };
                let body = render(&format!("sip:{}", sub.entity), entity, sub.format, watcher, options);
                let hold = profile.is_some_and(|p| p.hold_empty_initial_notify) && !sub.notified && !last;
                if body.is_none() && hold {
                    // The device fails on an empty first NOTIFY: it waits for the first
                    // state, whose arrival sends it. The subscription is stored meanwhile.
                    sub.dirty = false;
                    self.persist_subscription(id);
                    return;
                }
                body
            }
        };
        let mut req = sub.dialog.request(Method::Notify);
        let h = &mut req.headers;
        h.prepend(HeaderName::Via, sub.peer.via(&sub.our_host, &branch));
        h.push(HeaderName::Contact, contact_of(sub));
        h.push(HeaderName::UserAgent, self.config.server_name.clone());
        let state = match sub.phase {
            Phase::Active => format!("active;expires={}", sub.remaining_secs(now)),
            Phase::Terminating(reason) => format!("terminated;reason={reason}"),
        };
        h.push(HeaderName::SubscriptionState, state);
        if kind == NotifyKind::CheckSync {
            h.push(HeaderName::Event, "check-sync");
            sub.check_sync = false;
        } else {
            let event = match &sub.event_id {
                Some(event_id) => format!("{};id={event_id}", sub.package.name()),
                None => sub.package.name().to_owned(),
            };
            h.push(HeaderName::Event, event);
            if let Some(body) = body {
                h.push(HeaderName::ContentType, sub.format.content_type());
                req.body = body.into();
            }
            sub.version = sub.version.wrapping_add(1);
            sub.seen_change = entity.map_or(0, |e| e.change() + 1);
            sub.dirty = false;
            sub.notified = true;
            sub.last_notify_at = Some(now);
            // Whatever was held back goes out in this NOTIFY.
            self.deadlines.set(TimerKey::NotifyThrottle(id), None);
        }
        sub.in_flight = true;
        let destination = sub.peer;
        let key = ClientKey { branch, method: Method::Notify.to_string() };
        self.send_request(key, req.encode(), destination, Purpose::Notify { subscription: id, kind }, now);
        // Its CSeq, version and expiry as of this NOTIFY (creation and refresh included).
        self.persist_subscription(id);
    }

    /// A NOTIFY ended with a final response status (`None`: it timed out): SPEC §4's rules
    /// for what that means for the subscription.
    pub(crate) fn notify_outcome(&mut self, id: SubscriptionId, kind: NotifyKind, outcome: Option<u16>, now: Instant) {
        let Some(sub) = self.subscriptions.get_mut(id) else { return };
        let profile = sub.profile.and_then(|p| self.config.profiles.get(p));
        let udp_limit = profile.and_then(|p| p.udp_notify_failures).unwrap_or(self.config.udp_notify_failures);
        sub.in_flight = false;
        let failed = match (kind, outcome) {
            (_, Some(status)) if (200..300).contains(&status) => {
                sub.failures = 0;
                false
            }
            // A phone that does not understand check-sync keeps its MWI subscription.
            (NotifyKind::CheckSync, Some(status)) => status == 481,
            // RFC 6665 §4.2.2: 481 ends the subscription; so does any other error.
            (_, Some(_)) => true,
            (_, None) => {
                sub.failures += 1;
                // Retry with the current state rather than leave the watcher unsure.
                sub.dirty = true;
                sub.peer.transport.is_reliable() || sub.failures >= udp_limit
            }
        };
        if failed {
            self.end_subscription(id);
            return;
        }
        if kind == (NotifyKind::State { last: true }) {
            self.subscriptions.remove(id);
            self.persist(presence_store::Change::DeleteSubscription(id));
            return;
        }
        if matches!(sub.phase, Phase::Terminating(_)) || sub.dirty || sub.check_sync {
            self.send_notify(id, now);
        }
    }
}

/// What a SUBSCRIBE with a known package is about, worked out once per request.
pub(crate) struct SubscribeTarget {
    package: Package,
    event_id: Option<String>,
    /// For an in-dialog SUBSCRIBE, the subscription its dialog names (`None`: none).
    refreshes: Option<Option<SubscriptionId>>,
}

/// The 2xx (`status`: 200, or 202 for a device profile that wants it) to a SUBSCRIBE: our To
/// tag, the granted Expires (RFC 6665 §4.2.1.1 requires it), our Contact, and the
/// Record-Route copied (RFC 3261 §12.1.1).
fn accepted(req: &Request, status: u16, local_tag: &str, expires: u32, contact: &str) -> Response {
    let mut response = Response::to(req, status);
    if let Ok(mut to) = req.headers.to() {
        to.params.set("tag", Some(local_tag));
        response.headers.set(HeaderName::To, to.to_string());
    }
    response.headers.push(HeaderName::Expires, expires.to_string());
    response.headers.push(HeaderName::Contact, contact);
    for route in req.headers.get_all(&HeaderName::RecordRoute) {
        response.headers.push(HeaderName::RecordRoute, route);
    }
    response
}

/// Our Contact for a subscription's dialog.
fn contact_of(sub: &Subscription) -> String {
    sub.peer.contact(None, &sub.our_host)
}
