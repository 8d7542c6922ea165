//! Taking a SUBSCRIBE (RFC 6665 §4.2.1): a new subscription (package, format, expiry, watch
//! policy, quotas, device profile), a refresh in its dialog, an unsubscribe or a fetch, and
//! the 2xx that answers it; a feature key's request to change its user's settings in the
//! body (docs/feature-keys.md).

use std::time::Duration;

use sip_proto::header::Contacts;
use sip_proto::uri::Uri;
use sip_proto::{HeaderName, Response};

use crate::admission::Over;
use crate::api::{InEvent, NewWatcher};
use crate::bodies::feature_event;
use crate::context::Ctx;
use crate::entity_key::EntityKey;
use crate::features::FeatureChange;
use crate::ids::SubscriptionId;
use crate::packages::Package;
use crate::peer::Peer;
use crate::profiles;
use crate::request::{Incoming, with_allow_events};

use super::Notifier;
use super::subscription::{Phase, Subscription};

/// What a SUBSCRIBE with a known package is about, worked out once per request.
#[derive(Debug)]
pub(crate) struct SubscribeTarget {
    package: Package,
    event_id: Option<String>,
    /// For an in-dialog SUBSCRIBE, the subscription its dialog names (`None`: none).
    refreshes: Option<Option<SubscriptionId>>,
}

/// A SUBSCRIBE taken: the subscription to notify once the 2xx is sent (RFC 6665 §4.2.1.2),
/// and what a feature key asked to change of its user's settings, to apply first.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) id: SubscriptionId,
    pub(crate) feature: Option<(EntityKey, FeatureChange)>,
}

impl Notifier {
    /// What a SUBSCRIBE is about: `None` for an unknown (or missing) package.
    pub(crate) fn subscribe_target(&self, req: &Incoming) -> Option<SubscribeTarget> {
        let event = req.event.as_ref()?;
        let package = Package::from_event(&event.package)?;
        let event_id = event.id().map(str::to_owned);
        let refreshes =
            req.dialog.as_ref().map(|dialog| self.subscriptions.find_dialog(dialog, package, event_id.as_deref()));
        Some(SubscribeTarget { package, event_id, refreshes })
    }

    /// Whether the SUBSCRIBE refreshes a subscription whose device profile takes refreshes
    /// without a new challenge: one set up with credentials, whose dialog (Call-ID and both
    /// tags) it names, from the address the NOTIFYs go to, so the refresh cannot move them.
    pub(crate) fn refresh_skips_challenge(
        &self,
        target: Option<&SubscribeTarget>,
        source: Peer,
        profiles: &[profiles::DeviceProfile],
    ) -> bool {
        let id = target.and_then(|t| t.refreshes).flatten();
        let Some(sub) = id.and_then(|id| self.subscriptions.get(id)) else { return false };
        let trusting = sub.profile.and_then(|p| profiles.get(p)).is_some_and(|p| !p.challenge_refreshes);
        trusting && sub.authenticated && sub.peer.addr == source.addr && sub.peer.transport == source.transport
    }

    /// Handles a SUBSCRIBE: the response, and what follows once it is sent.
    pub(crate) fn on_subscribe(
        &mut self,
        req: &Incoming,
        target: Option<SubscribeTarget>,
        source: Peer,
        cx: &mut Ctx<'_>,
    ) -> (Response, Option<Accepted>) {
        let Some(SubscribeTarget { package, event_id, refreshes }) = target else {
            // RFC 6665 §4.2.1.1: an unknown (or missing) package gets 489 and Allow-Events.
            return (with_allow_events(req.answer(489)), None);
        };
        let feature = match feature_request(req, package) {
            Ok(feature) => feature,
            Err(refusal) => return (refusal, None),
        };
        if feature.is_some() && !cx.config.auth.subscribe && !cx.config.limits.trusts(source.addr.ip()) {
            // Forwarding is where the PBX sends the user's calls: without digest the From
            // is whatever the sender wrote, so only a trusted proxy may set anyone's.
            return (req.answer(403).with_reason("Feature Keys Need Authentication"), None);
        }
        let (response, id) = match refreshes {
            Some(id) => self.refresh(req, id, source, cx),
            None => self.subscribe(req, package, event_id, source, cx),
        };
        let accepted = id.map(|id| Accepted {
            id,
            feature: feature.zip(self.subscriptions.get(id)).map(|(change, sub)| (sub.entity.clone(), change)),
        });
        (response, accepted)
    }

    fn subscribe(
        &mut self,
        req: &Incoming,
        package: Package,
        event_id: Option<String>,
        source: Peer,
        cx: &mut Ctx<'_>,
    ) -> (Response, Option<SubscriptionId>) {
        let config = cx.config;
        let subscriber = config.entity_key(&req.from.uri.to_string());
        let user_agent = req.user_agent.as_deref();
        let profile = profiles::select(
            &config.profiles,
            profiles::Subscriber { key: &subscriber, source: source.addr.ip(), user_agent },
        );
        let preferred = profile.and_then(|p| config.profiles[p].presence_format);
        let Some(format) = package.negotiate(req.accept.as_deref(), preferred) else {
            let mut refusal = req.answer(406);
            let offered: Vec<&str> = package.formats().iter().map(|f| f.content_type()).collect();
            refusal.headers.push(HeaderName::Accept, offered.join(", "));
            return (refusal, None);
        };
        let expires = match config.expiry.grant(req.expires, &req.request) {
            Ok(expires) => expires,
            Err(refusal) => return (refusal, None),
        };
        let Uri::Sip(target) = &req.request.uri else { return (req.answer(416), None) };
        let entity = config.watched_key(&target.aor());
        if !config.watch_policy.allows(&subscriber, &entity) {
            return (req.answer(403).with_reason("Not Allowed to Watch This Entity"), None);
        }
        let list = cx.lists.get(&entity).filter(|l| l.packages.contains(&package));
        if list.is_some() && !req.supported.iter().any(|s| s.eq_ignore_ascii_case("eventlist")) {
            // RFC 4662 §4.3: a list is served only to subscribers that take its NOTIFYs.
            let mut refusal = req.answer(421);
            refusal.headers.push(HeaderName::Require, "eventlist");
            return (refusal, None);
        }
        if package == Package::AsFeatureEvent && subscriber != entity {
            // A feature key shows and sets its own user's settings (with digest on, From is
            // the authenticated user's: auth/identity.rs).
            return (req.answer(403).with_reason("Feature Keys Are the User's Own"), None);
        }
        // A trusted source (a proxy) vouches for the From; from anywhere else it is whatever
        // the sender chose, so rotating it must not buy more subscriptions.
        let vouched = config.limits.trusts(source.addr.ip());
        let watcher = vouched.then_some(&subscriber);
        let reason = if self.subscriptions.count_of_entity(&entity) >= config.max_subscriptions_per_entity {
            Some("Too Many Subscriptions")
        } else if let Some(over) = self.subscriptions.over_quota(source.addr.ip(), &config.limits) {
            Some(match over {
                Over::Total => "Subscription Table Full",
                Over::Source => "Too Many Subscriptions From This Source",
            })
        } else if self.subscriptions.count_of_watcher(&entity, watcher, source.addr)
            >= config.max_subscriptions_per_watcher
        {
            Some("Too Many Subscriptions From This Watcher")
        } else {
            None
        };
        if let Some(reason) = reason {
            let mut busy = req.answer(503).with_reason(reason);
            busy.headers.push(HeaderName::RetryAfter, "60");
            return (busy, None);
        }
        let local_tag = cx.fx.ids.token();
        let dialog = match req.uas_dialog(&local_tag, 0) {
            Ok(dialog) => dialog,
            Err(e) => {
                let reason = if e.reason == "missing" { format!("Missing {} header", e.header) } else { e.to_string() };
                return (req.answer(400).with_reason(reason), None);
            }
        };
        let our_host = if source.local.ip().is_unspecified() { target.host.to_string() } else { source.local_host() };
        let call_id = dialog.id.call_id.clone();
        let sub = Subscription {
            entity: entity.clone(),
            package,
            format,
            event_id,
            subscriber: subscriber.clone(),
            vouched,
            dialog,
            peer: source,
            our_host,
            expires_at: cx.now + Duration::from_secs(expires.into()),
            phase: Phase::Active,
            version: 0,
            seen_change: 0,
            in_flight: None,
            dirty: false,
            check_sync: false,
            failures: 0,
            profile,
            last_notify_at: None,
            notified: false,
            answered: false,
            // Reaching here with SUBSCRIBE authentication on means the request passed it.
            authenticated: config.auth.subscribe,
            features_sent: None,
            list: list.map(|l| vec![None; l.members.len()].into_boxed_slice()),
            stored: None,
        };
        let contact = sub.contact();
        let expires_at = sub.expires_at;
        let id = SubscriptionId(cx.fx.ids.number());
        self.subscriptions.insert(id, sub, &mut cx.fx.directory);
        if expires == 0 {
            // A fetch (RFC 6665 §4.4.3): one terminated NOTIFY with the current state.
            self.begin_termination(id, "timeout", cx.fx);
        } else {
            cx.fx.set_deadline(crate::effects::TimerKey::SubscriptionExpiry(id), Some(expires_at));
            let (entity, subscriber) = (entity.to_string(), subscriber.to_string());
            let watcher = NewWatcher { content_type: format.content_type(), entity, subscriber, expires, call_id };
            match package {
                Package::MessageSummary => cx.fx.raise(InEvent::VoicemailIn(watcher)),
                Package::Presence | Package::Dialog => cx.fx.raise(InEvent::SubscribeIn(watcher)),
                // What a feature key changes is raised as it changes (`presence.feature.in`).
                Package::AsFeatureEvent => {}
            }
        }
        let status = profile.map_or(200, |p| config.profiles[p].subscribe_status);
        let mut response = accepted(req, status, &local_tag, expires, &contact);
        if list.is_some() {
            // RFC 4662 §5.1: its NOTIFYs will need the extension.
            response.headers.push(HeaderName::Require, "eventlist");
        }
        (response, Some(id))
    }

    fn refresh(
        &mut self,
        req: &Incoming,
        id: Option<SubscriptionId>,
        source: Peer,
        cx: &mut Ctx<'_>,
    ) -> (Response, Option<SubscriptionId>) {
        let Some(id) = id else {
            return (req.answer(481).with_reason("Subscription Does Not Exist"), None);
        };
        let config = cx.config;
        let expires = match config.expiry.grant(req.expires, &req.request) {
            Ok(expires) => expires,
            Err(refusal) => return (refusal, None),
        };
        let Some(sub) = self.subscriptions.get_mut(id) else { return (req.answer(481), None) };
        if sub.dialog.accept_remote_cseq(req.cseq.seq).is_err() {
            // RFC 3261 §12.2.2: a CSeq below the last one is answered 500.
            return (req.answer(500).with_reason("CSeq Out of Order"), None);
        }
        // SUBSCRIBE is a target refresh request (RFC 6665 §4.1.2.1), and NATs rebind:
        // follow the latest Contact and source.
        if let Contacts::List(contacts) = &req.contacts
            && let Some(first) = contacts.first()
        {
            sub.dialog.remote_target = first.uri.clone();
        }
        // RFC 6665 §4.2.1.2: a refresh gets its NOTIFY at once, rate limit or not.
        sub.last_notify_at = None;
        // With every feature event, or a list's full state: the phone may have lost track.
        sub.features_sent = None;
        if let Some(sent) = sub.list.as_deref_mut() {
            sent.fill(None);
        }
        self.subscriptions.move_peer(id, source);
        let Some(sub) = self.subscriptions.get_mut(id) else { return (req.answer(481), None) };
        let contact = sub.contact();
        let local_tag = sub.dialog.id.local_tag.clone();
        let status = sub.profile.map_or(200, |p| config.profiles[p].subscribe_status);
        if expires == 0 {
            self.begin_termination(id, "timeout", cx.fx);
        } else {
            sub.expires_at = cx.now + Duration::from_secs(expires.into());
            let expires_at = sub.expires_at;
            cx.fx.set_deadline(crate::effects::TimerKey::SubscriptionExpiry(id), Some(expires_at));
        }
        (accepted(req, status, &local_tag, expires, &contact), Some(id))
    }
}

/// What a feature key's SUBSCRIBE asks to change (`None`: no body, or not that package), or
/// the refusal: 415 with Accept for another body type, 400 naming why for a body that does not
/// say what to change.
fn feature_request(req: &Incoming, package: Package) -> Result<Option<FeatureChange>, Response> {
    if package != Package::AsFeatureEvent || req.request.body.is_empty() {
        return Ok(None);
    }
    if req.content_essence() != feature_event::CONTENT_TYPE {
        let mut refusal = req.answer(415);
        refusal.headers.push(HeaderName::Accept, feature_event::CONTENT_TYPE);
        return Err(refusal);
    }
    match feature_event::parse(&req.request.body) {
        Ok(change) => Ok(Some(change)),
        Err(e) => Err(req.answer(400).with_reason(format!("Bad as-feature-event Body: {e}"))),
    }
}

/// The 2xx (`status`: 200, or 202 for a device profile that wants it) to a SUBSCRIBE: our To
/// tag, the granted Expires (RFC 6665 §4.2.1.1 requires it), our Contact, and the
/// Record-Route copied (RFC 3261 §12.1.1).
fn accepted(req: &Incoming, status: u16, local_tag: &str, expires: u32, contact: &str) -> Response {
    let mut response = req.answer(status);
    let mut to = req.to.clone();
    to.params.set("tag", Some(local_tag));
    response.headers.set(HeaderName::To, to.to_string());
    response.headers.push(HeaderName::Expires, expires.to_string());
    response.headers.push(HeaderName::Contact, contact);
    for route in req.request.headers.get_all(&HeaderName::RecordRoute) {
        response.headers.push(HeaderName::RecordRoute, route);
    }
    response
}
