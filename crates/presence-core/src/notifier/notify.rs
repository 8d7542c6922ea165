//! Sending a subscription's NOTIFYs (RFC 6665 §4.2.2): one in flight at a time, with state
//! that changes meanwhile merged into the next one; a device profile's rate limit; the final
//! `terminated` NOTIFY; and what a NOTIFY's outcome means for the subscription (a 481 or any
//! other error ends it, timeouts end a stream-bound one at once and a UDP one after a few in
//! a row: docs/architecture.md, "Rules that are ours").

use std::time::Duration;

use sip_proto::transaction::ClientKey;
use sip_proto::{HeaderName, Method};

use crate::bodies::Format;
use crate::client_transactions::Purpose;
use crate::context::Ctx;
use crate::effects::{Effects, TimerKey};
use crate::entities::{Changed, Entities};
use crate::entity_key::EntityKey;
use crate::ids::SubscriptionId;
use crate::packages::rlmi::{self, ListNotify};
use crate::packages::{Watcher, render};

use super::Notifier;
use super::subscription::{NotifyKind, Phase};

impl Notifier {
    /// Notifies every subscription of `entity` whose document `changed` affects.
    pub(crate) fn notify_entity(
        &mut self,
        entity: &EntityKey,
        changed: Changed,
        entities: &Entities,
        cx: &mut Ctx<'_>,
    ) {
        for id in self.subscriptions.of_entity(entity) {
            let affected = self.subscriptions.get(id).is_some_and(|s| shown_by(s.format, changed));
            if affected {
                self.send_notify(id, entities, cx);
            }
        }
    }

    /// A member of list `list` changed by `changed`: its subscriptions whose parts that
    /// affects are notified once the batch interval has gathered what else changes (at once
    /// with no interval; merged into the NOTIFY in flight, if one is).
    pub(crate) fn notify_list(&mut self, list: &EntityKey, changed: Changed, entities: &Entities, cx: &mut Ctx<'_>) {
        let Some(defined) = cx.lists.get(list) else { return };
        for id in self.subscriptions.of_entity(list) {
            let Some(sub) = self.subscriptions.get_mut(id) else { continue };
            // A list serves dialog and presence only (`lists::check`).
            if sub.list.is_none() || !shown_by(sub.format, changed) {
                continue;
            }
            let profile = sub.profile.and_then(|p| cx.config.profiles.get(p));
            let interval = profile.and_then(|p| p.list_batch_interval_ms).unwrap_or(defined.batch_interval_ms);
            if interval == 0 {
                self.send_notify(id, entities, cx);
            } else if !sub.dirty && sub.in_flight.is_none() {
                // The first change of a batch: the NOTIFY waits for the others.
                sub.dirty = true;
                let at = cx.now + Duration::from_millis(interval.into());
                cx.fx.set_deadline(TimerKey::NotifyThrottle(id), Some(at));
            } else {
                // A batch is gathering, or a NOTIFY is in flight: this goes in the next one.
                sub.dirty = true;
            }
        }
    }

    /// Ends a subscription with a final NOTIFY `terminated;reason=<reason>` (RFC 6665
    /// §4.2.2: expiry, unsubscribe, or ended from outside).
    pub(crate) fn terminate(
        &mut self,
        id: SubscriptionId,
        reason: &'static str,
        entities: &Entities,
        cx: &mut Ctx<'_>,
    ) {
        if self.subscriptions.get(id).is_none_or(|s| s.phase != Phase::Active) {
            return;
        }
        self.begin_termination(id, reason, cx.fx);
        self.send_notify(id, entities, cx);
    }

    /// Marks a subscription as ending: no further state reaches it, and its next NOTIFY is
    /// the final one.
    pub(super) fn begin_termination(&mut self, id: SubscriptionId, reason: &'static str, fx: &mut Effects) {
        self.subscriptions.detach(id, &mut fx.directory);
        fx.set_deadline(TimerKey::SubscriptionExpiry(id), None);
        if let Some(sub) = self.subscriptions.get_mut(id) {
            sub.phase = Phase::Terminating(reason);
        }
    }

    /// Forgets a subscription without a final NOTIFY (its peer cannot be reached).
    pub(super) fn end_subscription(&mut self, id: SubscriptionId, fx: &mut Effects) {
        if self.subscriptions.remove(id, &mut fx.directory).is_some() {
            fx.stats.subscriptions_lost += 1;
            fx.store(|_| crate::store::Change::DeleteSubscription(id.0));
        }
        fx.set_deadline(TimerKey::SubscriptionExpiry(id), None);
    }

    /// A rate-limited subscription may NOTIFY again: only what changed while it was held
    /// back is sent.
    pub(crate) fn throttle_ended(&mut self, id: SubscriptionId, entities: &Entities, cx: &mut Ctx<'_>) {
        if self.subscriptions.get(id).is_some_and(|s| s.dirty) {
            self.send_notify(id, entities, cx);
        }
    }

    /// Sends the subscription's next NOTIFY now, or marks it to follow the one in flight.
    pub(crate) fn send_notify(&mut self, id: SubscriptionId, entities: &Entities, cx: &mut Ctx<'_>) {
        let (config, now) = (cx.config, cx.now);
        let branch = cx.fx.ids.branch();
        let Some(sub) = self.subscriptions.get_mut(id) else { return };
        if sub.in_flight.is_some() {
            sub.dirty = true;
            return;
        }
        let profile = sub.profile.and_then(|p| config.profiles.get(p));
        let interval = profile.map_or(0, |p| p.min_notify_interval_ms);
        if let Some(last) = sub.last_notify_at.filter(|_| interval > 0 && sub.phase == Phase::Active && !sub.check_sync)
        {
            let ready = last + Duration::from_millis(interval.into());
            if now < ready {
                // Merged into one NOTIFY when the interval ends.
                sub.dirty = true;
                cx.fx.set_deadline(TimerKey::NotifyThrottle(id), Some(ready));
                return;
            }
        }
        let entity = entities.get(&sub.entity);
        let kind = match sub.phase {
            Phase::Active if sub.check_sync => NotifyKind::CheckSync,
            Phase::Active => NotifyKind::State { last: false },
            Phase::Terminating(_) => NotifyKind::State { last: true },
        };
        let body = match kind {
            NotifyKind::CheckSync => None,
            NotifyKind::State { last } => {
                let features_sent = sub.features_sent.as_deref();
                let watcher = Watcher { version: sub.version, seen_change: sub.seen_change, profile, features_sent };
                let options = config.render_options();
                let list = sub.list.as_mut().zip(cx.lists.get(&sub.entity));
                let body = match list {
                    Some((sent, list)) => {
                        let (tag, host) = (&sub.dialog.id.local_tag, &sub.our_host);
                        let n = ListNotify { uri: &sub.entity, list, format: sub.format, tag, host };
                        rlmi::list_body(n, entities, watcher, sent, options)
                    }
                    None => render(&sub.entity.uri(), entity, sub.format, watcher, options),
                };
                let nothing_new = sub.format == Format::FeatureEvent || sub.list.is_some();
                if body.is_none() && nothing_new && !last {
                    // The key, or the list, already shows all of it: nothing is announced twice.
                    sub.dirty = false;
                    return;
                }
                let hold = profile.is_some_and(|p| p.hold_empty_initial_notify) && !sub.notified && !last;
                if body.is_none() && hold {
                    // The device fails on an empty first NOTIFY: it waits for the first
                    // state, whose arrival sends it. The subscription is stored meanwhile.
                    sub.dirty = false;
                    self.store(id, config, cx.fx);
                    return;
                }
                body
            }
        };
        let mut req = sub.dialog.request(Method::Notify);
        let h = &mut req.headers;
        h.prepend(HeaderName::Via, sub.peer.via(&sub.our_host, &branch));
        h.push(HeaderName::Contact, sub.contact());
        h.push(HeaderName::UserAgent, config.server_name.clone());
        let state = match sub.phase {
            Phase::Active => format!("active;expires={}", sub.remaining_secs(now)),
            Phase::Terminating(reason) => format!("terminated;reason={reason}"),
        };
        h.push(HeaderName::SubscriptionState, state);
        if sub.list.is_some() {
            // RFC 4662 §5.1: every NOTIFY of a list subscription.
            h.push(HeaderName::Require, "eventlist");
        }
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
                if body.calls_left_out > 0 {
                    cx.fx.stats.notify_bodies_trimmed += 1;
                }
                let content_type = body.content_type.as_deref().unwrap_or(sub.format.content_type());
                h.push(HeaderName::ContentType, content_type);
                req.body = body.text.into();
            }
            sub.version = sub.version.wrapping_add(1);
            sub.seen_change = seen_after(entity);
            if sub.format == Format::FeatureEvent {
                let shown = entity.map(|e| e.feature_state(config.render_options())).unwrap_or_default();
                sub.features_sent = Some(Box::new(shown));
            }
            sub.dirty = false;
            sub.notified = true;
            sub.last_notify_at = Some(now);
            // Whatever was held back goes out in this NOTIFY.
            cx.fx.set_deadline(TimerKey::NotifyThrottle(id), None);
        }
        sub.in_flight = Some(kind);
        let destination = sub.peer;
        let key = ClientKey { branch, method: Method::Notify.to_string() };
        cx.client.send(key, req.encode(), destination, Purpose::Notify(id), config, cx.fx, now);
        // Its CSeq, version and expiry as of this NOTIFY (creation and refresh included).
        self.store(id, config, cx.fx);
    }

    /// Sends the subscription's next NOTIFY unless the one in flight already shows the
    /// entity's current state (a change just notified it).
    pub(crate) fn notify_unless_current(&mut self, id: SubscriptionId, entities: &Entities, cx: &mut Ctx<'_>) {
        let current = self.subscriptions.get(id).is_some_and(|s| {
            s.in_flight == Some(NotifyKind::State { last: false })
                && !s.dirty
                && s.seen_change == seen_after(entities.get(&s.entity))
        });
        if !current {
            self.send_notify(id, entities, cx);
        }
    }

    /// A NOTIFY ended with a final response status (`None`: it timed out).
    pub(crate) fn notify_outcome(
        &mut self,
        id: SubscriptionId,
        outcome: Option<u16>,
        entities: &Entities,
        cx: &mut Ctx<'_>,
    ) {
        match outcome {
            None => cx.fx.stats.notify_timeouts += 1,
            Some(200..=299) => cx.fx.stats.notifies_ok += 1,
            Some(_) => cx.fx.stats.notifies_refused += 1,
        }
        let Some(sub) = self.subscriptions.get_mut(id) else { return };
        let Some(kind) = sub.in_flight.take() else { return };
        let profile = sub.profile.and_then(|p| cx.config.profiles.get(p));
        let udp_limit = profile.and_then(|p| p.udp_notify_failures).unwrap_or(cx.config.udp_notify_failures);
        let failed = match (kind, outcome) {
            (_, Some(status)) if (200..300).contains(&status) => {
                sub.failures = 0;
                sub.answered = true;
                false
            }
            // A phone that does not understand check-sync keeps its MWI subscription.
            (NotifyKind::CheckSync, Some(status)) => status == 481,
            // RFC 6665 §4.2.2: 481 ends the subscription; so does any other error.
            (_, Some(_)) => true,
            (_, None) => {
                sub.failures += 1;
                // Retry with the current state rather than leave the watcher unsure (a
                // feature key with all of it: it may not have had the lost one).
                sub.dirty = true;
                sub.features_sent = None;
                if let Some(sent) = sub.list.as_deref_mut() {
                    sent.fill(None);
                }
                sub.peer.transport.is_reliable() || sub.failures >= udp_limit || !sub.answered
            }
        };
        if failed {
            self.end_subscription(id, cx.fx);
            return;
        }
        if kind == (NotifyKind::State { last: true }) {
            self.subscriptions.remove(id, &mut cx.fx.directory);
            cx.fx.store(|_| crate::store::Change::DeleteSubscription(id.0));
            return;
        }
        if matches!(sub.phase, Phase::Terminating(_)) || sub.dirty || sub.check_sync {
            self.send_notify(id, entities, cx);
        }
    }

    /// An `Event: check-sync` NOTIFY in each of the entity's message-summary dialogs, as the
    /// seed did (Polycom and Yealink resynchronise).
    pub(crate) fn check_sync(&mut self, entity: &EntityKey, entities: &Entities, cx: &mut Ctx<'_>) {
        for id in self.subscriptions.of_entity(entity) {
            let Some(sub) = self.subscriptions.get_mut(id) else { continue };
            if sub.format == Format::MessageSummary {
                sub.check_sync = true;
                if sub.in_flight.is_none() {
                    self.send_notify(id, entities, cx);
                }
            }
        }
    }

    /// An immediate NOTIFY to each subscription of `entity` in the dialog with this Call-ID
    /// (an integration answering the subscription's `.in` event), changed state or not.
    pub(crate) fn notify_call_id(&mut self, entity: &EntityKey, call_id: &str, entities: &Entities, cx: &mut Ctx<'_>) {
        for id in self.subscriptions.of_call_id(entity, call_id) {
            // Already notified when the change affected it; merging makes a second call
            // cheap (it only marks the subscription dirty).
            self.send_notify(id, entities, cx);
        }
    }
}

/// Whether a document in `format` may differ after `changed`.
fn shown_by(format: Format, changed: Changed) -> bool {
    match format {
        Format::Pidf | Format::Xpidf => changed.presence,
        Format::DialogInfo => changed.dialogs,
        Format::MessageSummary => changed.voicemail,
        Format::FeatureEvent => changed.features,
    }
}

/// What a NOTIFY showing `entity` has seen: the change number after its current one.
fn seen_after(entity: Option<&crate::entities::Entity>) -> u64 {
    entity.map_or(0, |e| e.change() + 1)
}
