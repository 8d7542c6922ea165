//! One entity's state: everything known about one watched resource (`user@host`) from
//! every source: presence reported by integrations, by each live publication and by each
//! phone we subscribe to, registration, calls, voicemail counts and the user's feature
//! settings (`settings`). Calls are kept per Call-ID with bounded lifetimes: an ended call
//! leaves a tombstone so a late update for it is ignored, and a call never answered expires.

use std::collections::BTreeMap;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::{Call, CallState};
use crate::features::{FeatureChange, FeatureState, Forwarding};
use crate::ids::{PublicationId, WatchId};
use crate::lamp::{Lamp, LampState};

use super::RenderOptions;
use super::settings::Settings;

/// Lifetimes and bounds for an entity's calls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallLimits {
    /// How long a call may stay unanswered (trying, proceeding, early) before it is dropped.
    pub early_lifetime: Duration,
    /// How long an answered call may last without any update before it is dropped.
    pub confirmed_lifetime: Duration,
    /// How long an ended call's Call-ID is remembered, so late updates are ignored.
    pub tombstone_lifetime: Duration,
    /// Most calls kept per entity; further new calls are ignored.
    pub max_calls: usize,
}

impl Default for CallLimits {
    fn default() -> Self {
        CallLimits {
            early_lifetime: Duration::from_secs(180),
            confirmed_lifetime: Duration::from_secs(4 * 3600),
            tombstone_lifetime: Duration::from_secs(60),
            max_calls: 32,
        }
    }
}

/// A presence status from one source: an integration's `presence.status.out` or a
/// publication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Status {
    /// Reachable or not.
    pub(crate) basic: Basic,
    /// Note for people.
    pub(crate) note: Option<String>,
    /// Do not disturb.
    pub(crate) dnd: bool,
    /// On a call (beyond the calls the server knows of).
    pub(crate) on_the_phone: bool,
}

/// Registration as an integration reports it (`presence.registration.out`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Registration {
    /// Whether any device of the entity is registered.
    pub(crate) registered: bool,
    /// Calls in progress as counted by the call manager.
    pub(crate) call_count: u32,
}

/// Where a presence status or a call came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Source {
    /// The integration API (`.out` events).
    Api,
    /// A publication (RFC 3903), by its id.
    Publication(PublicationId),
    /// A phone we subscribe to, by the subscription's id.
    Device(WatchId),
    /// A lamp an integration set on the entity (`lamp.rs`): its one call.
    Lamp,
}

/// How DND reports of several sources combine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DndRule {
    /// DND when any source says so (the default: DND set anywhere shows everywhere).
    Any,
    /// DND only when every source that reports presence says so.
    All,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Reported {
    status: Status,
    /// The entity's change number when reported: the highest is the most recent.
    at_change: u64,
}

#[derive(Clone, Debug)]
struct LiveCall {
    call: Call,
    source: Source,
    /// When it is dropped unless updated (`None`: a lamp set without an expiry).
    expires_at: Option<Instant>,
}

#[derive(Clone, Debug)]
struct Tombstone {
    /// The call as it ended, shown once as terminated to watchers that saw it live.
    call: Call,
    /// The entity's change number when the call ended.
    ended_at_change: u64,
    forget_at: Instant,
}

/// One entity's state.
#[derive(Clone, Debug, Default)]
pub(crate) struct Entity {
    /// Display name for the entity's own identity in dialog-info.
    pub(crate) display: Option<String>,
    /// Presence as each source last reported it.
    presence: BTreeMap<Source, Reported>,
    /// Last pushed registration.
    pub(crate) registration: Option<Registration>,
    /// Voicemail counts, once known.
    pub(crate) voicemail: Option<MessageCounts>,
    /// Who reported the counts: removing that source's publication clears them.
    voicemail_source: Option<Source>,
    calls: HashMap<String, LiveCall>,
    ended: HashMap<String, Tombstone>,
    /// The user's DND and forwarding settings.
    settings: Settings,
    /// Increases on every change; subscriptions remember the number they last saw.
    change: u64,
}

/// What changed in an entity, so only affected watchers are notified.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Changed {
    /// Presence (PIDF/XPIDF) documents may differ.
    pub(crate) presence: bool,
    /// Dialog documents may differ.
    pub(crate) dialogs: bool,
    /// MWI documents may differ.
    pub(crate) voicemail: bool,
    /// What a feature key shows (DND as composed, forwarding) changed.
    pub(crate) features: bool,
    /// What the store keeps for the entity (what integrations pushed, its registration)
    /// may differ; a phone's or a publication's report changes documents, not that.
    pub(crate) stored: bool,
}

impl Changed {
    /// Whether anything changed.
    pub(crate) fn any(self) -> bool {
        self.presence || self.dialogs || self.voicemail || self.features
    }

    /// Both changes together.
    pub(crate) fn or(self, other: Changed) -> Changed {
        Changed {
            presence: self.presence || other.presence,
            dialogs: self.dialogs || other.dialogs,
            voicemail: self.voicemail || other.voicemail,
            features: self.features || other.features,
            stored: self.stored || other.stored,
        }
    }
}

impl From<crate::bodies::PresenceReport> for Status {
    fn from(r: crate::bodies::PresenceReport) -> Self {
        Status { basic: r.status, note: r.note, dnd: r.dnd, on_the_phone: r.on_the_phone }
    }
}

impl Entity {
    /// The current change number.
    pub(crate) fn change(&self) -> u64 {
        self.change
    }

    fn bump(&mut self, changed: Changed) -> Changed {
        if changed.any() {
            self.change += 1;
        }
        changed
    }

    /// Sets (or with `None` clears) what `source` reports, its note cut to
    /// [`crate::bodies::MAX_TEXT_BYTES`] whichever way it came.
    pub(crate) fn set_status(&mut self, source: Source, mut status: Option<Status>) -> Changed {
        if let Some(note) = status.as_mut().and_then(|s| s.note.as_mut()) {
            note.truncate(crate::bodies::capped(note).len());
        }
        let unchanged = self.presence.get(&source).map(|r| &r.status) == status.as_ref();
        if unchanged {
            return Changed::default();
        }
        // News of DND: a report that changes its source's DND, or a new source asserting it
        // (a source going away, or one saying nothing of DND, is no news).
        let before = self.presence.get(&source).map(|r| r.status.dnd);
        if let Some(dnd) = status.as_ref().map(|s| s.dnd)
            && before.map_or(dnd, |before| before != dnd)
        {
            self.settings.follow_dnd(dnd);
        }
        match status {
            Some(status) => {
                let at_change = self.change + 1;
                self.presence.insert(source, Reported { status, at_change });
            }
            None => {
                self.presence.remove(&source);
            }
        }
        // Dialog watchers show DND as a busy lamp, so they may change too.
        self.bump(Changed { presence: true, dialogs: true, voicemail: false, ..Changed::default() })
    }

    /// The presence of every source combined: open if any source is open, DND per `rule`
    /// among publications and integrations and per `device_rule` among the registered
    /// phones that report it (DND when one group says so), on the phone if any source says
    /// so, the most recent note. `None` with no source.
    pub(crate) fn status(&self, rule: DndRule, device_rule: DndRule) -> Option<Status> {
        let mut status = self.combine(|s| !matches!(s, Source::Device(_)), rule);
        let devices = self.combine(|s| matches!(s, Source::Device(_)), device_rule);
        let latest_note = self
            .presence
            .values()
            .filter(|r| r.status.note.is_some())
            .max_by_key(|r| r.at_change)
            .and_then(|r| r.status.note.clone());
        match (&mut status, devices) {
            (Some(s), Some(d)) => {
                s.basic = if s.basic == Basic::Open || d.basic == Basic::Open { Basic::Open } else { Basic::Closed };
                s.dnd |= d.dnd;
                s.on_the_phone |= d.on_the_phone;
            }
            (None, devices) => status = devices,
            (Some(_), None) => {}
        }
        // The user's setting, once there is one, is the last word on DND (`settings`).
        match (&mut status, self.settings.dnd) {
            (Some(s), Some(dnd)) => s.dnd = dnd,
            (None, Some(true)) => {
                status = Some(Status { basic: Basic::Open, note: None, dnd: true, on_the_phone: false });
            }
            _ => {}
        }
        status.map(|s| Status { note: latest_note, ..s })
    }

    /// DND as every package shows it: [`Entity::status`]'s, without building the note.
    pub(crate) fn dnd(&self, options: RenderOptions) -> bool {
        if let Some(dnd) = self.settings.dnd {
            return dnd;
        }
        let of = |devices: bool, rule| {
            self.combine(|s| matches!(s, Source::Device(_)) == devices, rule).is_some_and(|s| s.dnd)
        };
        of(false, options.dnd_rule) || of(true, options.device_dnd_rule)
    }

    /// Applies a change to the user's settings.
    pub(crate) fn set_feature(&mut self, change: FeatureChange) -> Changed {
        let forward = match &change {
            FeatureChange::Dnd(_) => None,
            FeatureChange::Forward(kind, _) => Some(*kind),
        };
        if !self.settings.set(change) {
            return Changed::default();
        }
        self.bump(match forward {
            // Composition decides whether what watchers are shown changed (`Entities::apply`).
            None => Changed { presence: true, dialogs: true, ..Changed::default() },
            Some(_) => Changed { features: true, ..Changed::default() },
        })
    }

    /// What a feature key shows.
    pub(crate) fn feature_state(&self, options: RenderOptions) -> FeatureState {
        self.settings.state(self.dnd(options))
    }

    /// The settings as stored: DND (`None`: never set) and the forwarding of each kind.
    pub(crate) fn settings_record(&self) -> (Option<bool>, &[Forwarding; 3]) {
        self.settings.record()
    }

    /// The sources `include` selects combined, DND per `rule`.
    fn combine(&self, include: impl Fn(&Source) -> bool, rule: DndRule) -> Option<Status> {
        let reports = self.presence.iter().filter(|(source, _)| include(source)).map(|(_, r)| r);
        let mut any = false;
        let (mut open, mut dnd_any, mut dnd_all, mut phone) = (false, false, true, false);
        for r in reports {
            any = true;
            open |= r.status.basic == Basic::Open;
            dnd_any |= r.status.dnd;
            dnd_all &= r.status.dnd;
            phone |= r.status.on_the_phone;
        }
        any.then_some(Status {
            basic: if open { Basic::Open } else { Basic::Closed },
            note: None,
            dnd: match rule {
                DndRule::Any => dnd_any,
                DndRule::All => dnd_all,
            },
            on_the_phone: phone,
        })
    }

    /// Sets the registration.
    pub(crate) fn set_registration(&mut self, registration: Registration) -> Changed {
        let changed = self.registration != Some(registration);
        self.registration = Some(registration);
        self.bump(Changed { presence: changed, ..Changed::default() })
    }

    /// Sets the voicemail counts `source` reports; `None` clears them if `source` set them.
    pub(crate) fn set_voicemail(&mut self, source: Source, counts: Option<MessageCounts>) -> Changed {
        let changed = match counts {
            Some(counts) => {
                self.voicemail_source = Some(source);
                self.voicemail.replace(counts) != Some(counts)
            }
            None if self.voicemail_source == Some(source) => {
                self.voicemail_source = None;
                self.voicemail.take().is_some()
            }
            None => false,
        };
        self.bump(Changed { voicemail: changed, ..Changed::default() })
    }

    /// Sets the display name.
    pub(crate) fn set_display(&mut self, display: Option<String>) -> Changed {
        let changed = display.is_some() && self.display != display;
        if changed {
            self.display = display;
        }
        self.bump(Changed { dialogs: changed, ..Changed::default() })
    }

    /// Adds or updates one call (a partial update) reported by `source`, merged over what is
    /// known of it. An update for an ended call is ignored; a terminated state ends the call.
    pub(crate) fn update_call(&mut self, source: Source, call: Call, limits: &CallLimits, now: Instant) -> Changed {
        self.forget_expired(limits, now);
        if self.ended.contains_key(&call.call_id) {
            return Changed::default();
        }
        if call.state == CallState::Terminated {
            return match self.calls.remove(&call.call_id) {
                Some(_) => {
                    let changed =
                        self.bump(Changed { presence: true, dialogs: true, voicemail: false, ..Changed::default() });
                    self.tombstone(call, limits, now);
                    changed
                }
                // Never seen live: remember the end so a late "early" stays ignored.
                None => {
                    self.tombstone(call, limits, now);
                    Changed::default()
                }
            };
        }
        if !self.calls.contains_key(&call.call_id) && self.calls.len() >= limits.max_calls {
            return Changed::default();
        }
        let call = match self.calls.get(&call.call_id) {
            // A partial update changes what it names and keeps the rest: a "confirmed" that
            // names only the Call-ID keeps the direction and the far party a BLF key shows.
            Some(live) => call.merged_over(&live.call),
            None => call,
        };
        let lifetime = if call.state.is_early() { limits.early_lifetime } else { limits.confirmed_lifetime };
        let unchanged = self.calls.get(&call.call_id).is_some_and(|live| live.call == call);
        let expires_at = Some(now + lifetime);
        self.calls.insert(call.call_id.clone(), LiveCall { call, source, expires_at });
        self.bump(Changed { presence: !unchanged, dialogs: !unchanged, voicemail: false, ..Changed::default() })
    }

    /// Sets the entity's lamp: its call replaces the one it showed (an idle lamp ends it),
    /// keeping its Call-ID unless the lamp names one, and lasting until `lamp.expires` (or
    /// until told, without one) rather than a call's lifetime.
    pub(crate) fn set_lamp(&mut self, lamp: &Lamp, limits: &CallLimits, now: Instant) -> Changed {
        let lit = self.calls.iter().find(|(_, l)| l.source == Source::Lamp).map(|(id, _)| id.clone());
        // A Call-ID of its own when it names none, kept while it stays lit.
        let call_id = lamp.call_id.clone().or(lit).unwrap_or_else(|| format!("lamp-{}", self.change + 1));
        if lamp.state != LampState::Idle {
            // The lamp's Call-ID is its own: lit again under a name that just went out (the
            // same call parked again), it is not a late update of the ended one.
            self.ended.remove(&call_id);
        }
        let changed = self.replace_calls(Source::Lamp, lamp.call(call_id.clone()).into_iter().collect(), limits, now);
        if let Some(live) = self.calls.get_mut(&call_id).filter(|l| l.source == Source::Lamp) {
            live.expires_at = lamp.expires.map(|secs| now + Duration::from_secs(secs.into()));
        }
        changed
    }

    /// The lamp's call and when it goes out by itself, if it is lit.
    pub(crate) fn lamp(&self) -> Option<(&Call, Option<Instant>)> {
        self.calls.values().find(|l| l.source == Source::Lamp).map(|l| (&l.call, l.expires_at))
    }

    /// Replaces every call `source` reported (a full update): its calls missing from
    /// `calls` end; other sources' calls stay.
    pub(crate) fn replace_calls(
        &mut self,
        source: Source,
        calls: Vec<Call>,
        limits: &CallLimits,
        now: Instant,
    ) -> Changed {
        let keep: Vec<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
        let gone: Vec<String> = self
            .calls
            .iter()
            .filter(|(id, live)| live.source == source && !keep.contains(&id.as_str()))
            .map(|(id, _)| id.clone())
            .collect();
        let mut changed = self.end_calls(&gone, source, limits, now);
        for call in calls {
            changed = changed.or(self.update_call(source, call, limits, now));
        }
        changed
    }

    /// Applies a dialog-info document `source` sent: a full one replaces its calls, a
    /// partial one updates them one by one.
    pub(crate) fn apply_dialog_info(
        &mut self,
        source: Source,
        doc: crate::bodies::dialog_info::DialogInfo,
        limits: &CallLimits,
        now: Instant,
    ) -> Changed {
        if doc.full {
            return self.replace_calls(source, doc.calls, limits, now);
        }
        doc.calls.into_iter().fold(Changed::default(), |c, call| c.or(self.update_call(source, call, limits, now)))
    }

    /// Ends every call `source` reported (its publication went away).
    pub(crate) fn end_calls_of(&mut self, source: Source, limits: &CallLimits, now: Instant) -> Changed {
        let ids: Vec<String> =
            self.calls.iter().filter(|(_, l)| l.source == source).map(|(id, _)| id.clone()).collect();
        self.end_calls(&ids, source, limits, now)
    }

    fn end_calls(&mut self, ids: &[String], source: Source, limits: &CallLimits, now: Instant) -> Changed {
        let mut changed = Changed::default();
        for id in ids {
            if let Some(live) = self.calls.get(id) {
                let mut ended = live.call.clone();
                ended.state = CallState::Terminated;
                changed = changed.or(self.update_call(source, ended, limits, now));
            }
        }
        changed
    }

    fn tombstone(&mut self, mut call: Call, limits: &CallLimits, now: Instant) {
        call.state = CallState::Terminated;
        let id = call.call_id.clone();
        self.ended
            .insert(id, Tombstone { call, ended_at_change: self.change, forget_at: now + limits.tombstone_lifetime });
    }

    /// Drops calls past their lifetime and forgets old tombstones.
    pub(crate) fn forget_expired(&mut self, limits: &CallLimits, now: Instant) -> Changed {
        let expired: Vec<String> = (self.calls.iter())
            .filter(|(_, live)| live.expires_at.is_some_and(|at| at <= now))
            .map(|(id, _)| id.clone())
            .collect();
        self.ended.retain(|_, t| t.forget_at > now);
        let mut changed = Changed::default();
        for id in expired {
            if let Some(live) = self.calls.remove(&id) {
                changed = self.bump(Changed { presence: true, dialogs: true, voicemail: false, ..Changed::default() });
                self.tombstone(live.call, limits, now);
            }
        }
        changed
    }

    /// The next time [`Entity::forget_expired`] has work to do.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        let calls = self.calls.values().filter_map(|c| c.expires_at);
        let tombs = self.ended.values().map(|t| t.forget_at);
        calls.chain(tombs).min()
    }

    /// What `source` reported: its presence status, the voicemail counts if it set them, and
    /// its live calls (what persistence keeps of the integration API's pushes).
    pub(crate) fn reported_by(&self, source: Source) -> (Option<&Status>, Option<MessageCounts>, Vec<&Call>) {
        let status = self.presence.get(&source).map(|r| &r.status);
        let voicemail = self.voicemail.filter(|_| self.voicemail_source == Some(source));
        let mut calls: Vec<&Call> = self.calls.values().filter(|l| l.source == source).map(|l| &l.call).collect();
        calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        (status, voicemail, calls)
    }

    /// Live calls, ordered by Call-ID for a stable document order.
    pub(crate) fn calls(&self) -> Vec<&Call> {
        let mut calls: Vec<&Call> = self.calls.values().map(|l| &l.call).collect();
        calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        calls
    }

    /// Calls that ended after change number `seen`: a watcher that last saw `seen` is
    /// shown them once as terminated, so its lamp goes out.
    pub(crate) fn ended_since(&self, seen: u64) -> Vec<&Call> {
        let mut calls: Vec<&Call> =
            self.ended.values().filter(|t| t.ended_at_change >= seen).map(|t| &t.call).collect();
        calls.sort_by(|a, b| a.call_id.cmp(&b.call_id));
        calls
    }

    /// Whether the entity is on a call: an answered call, the call manager's count, or a
    /// source reporting on-the-phone.
    pub(crate) fn on_the_phone(&self) -> bool {
        self.calls.values().any(|c| c.call.state == CallState::Confirmed)
            || self.registration.is_some_and(|r| r.call_count > 0)
            || self.presence.values().any(|r| r.status.on_the_phone)
    }

    /// Whether the entity is known to be unregistered (offline, not merely idle).
    pub(crate) fn offline(&self) -> bool {
        self.registration.is_some_and(|r| !r.registered)
    }

    /// Whether the entity holds nothing worth keeping.
    pub(crate) fn is_empty(&self) -> bool {
        self.presence.is_empty()
            && self.registration.is_none()
            && self.voicemail.is_none()
            && self.display.is_none()
            && self.calls.is_empty()
            && self.ended.is_empty()
            && self.settings.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(t0: Instant, s: u64) -> Instant {
        t0 + Duration::from_secs(s)
    }

    #[test]
    fn ended_calls_are_tombstoned_and_late_updates_ignored() {
        let t0 = Instant::now();
        let limits = CallLimits::default();
        let mut e = Entity::default();
        assert!(e.update_call(Source::Api, Call::new("a", CallState::Early), &limits, t0).dialogs);
        let seen = e.change();
        assert!(e.update_call(Source::Api, Call::new("a", CallState::Terminated), &limits, secs(t0, 1)).dialogs);
        assert!(e.calls().is_empty());
        assert_eq!(e.ended_since(seen).len(), 1, "shown once as terminated to a watcher that saw it");
        assert!(e.ended_since(e.change() + 1).is_empty());
        assert!(
            !e.update_call(Source::Api, Call::new("a", CallState::Early), &limits, secs(t0, 2)).any(),
            "late early ignored"
        );
        assert!(e.calls().is_empty());
        // After the tombstone lifetime the Call-ID may be reused.
        assert!(e.update_call(Source::Api, Call::new("a", CallState::Early), &limits, secs(t0, 100)).any());
    }

    #[test]
    fn unanswered_calls_expire_and_answered_ones_last() {
        let t0 = Instant::now();
        let limits = CallLimits::default();
        let mut e = Entity::default();
        e.update_call(Source::Api, Call::new("ring", CallState::Early), &limits, t0);
        e.update_call(Source::Api, Call::new("talk", CallState::Confirmed), &limits, t0);
        assert_eq!(e.next_expiry(), Some(secs(t0, 180)));
        assert!(e.forget_expired(&limits, secs(t0, 180)).dialogs);

        assert_eq!(e.calls().iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), vec!["talk"]);
        assert!(e.on_the_phone());
    }

    #[test]
    fn full_replacement_ends_missing_calls_and_duplicates_change_nothing() {
        let t0 = Instant::now();
        let limits = CallLimits::default();
        let mut e = Entity::default();
        e.replace_calls(
            Source::Api,
            vec![Call::new("a", CallState::Confirmed), Call::new("b", CallState::Early)],
            &limits,
            t0,
        );
        assert!(
            !e.update_call(Source::Api, Call::new("a", CallState::Confirmed), &limits, t0).any(),
            "duplicate update"
        );
        let changed = e.replace_calls(Source::Api, vec![Call::new("b", CallState::Confirmed)], &limits, t0);
        assert!(changed.dialogs);
        assert_eq!(e.calls().len(), 1);
        assert_eq!(e.ended_since(0).len(), 1);
    }

    #[test]
    fn calls_per_entity_are_bounded() {
        let t0 = Instant::now();
        let limits = CallLimits { max_calls: 2, ..CallLimits::default() };
        let mut e = Entity::default();
        for id in ["a", "b", "c"] {
            e.update_call(Source::Api, Call::new(id, CallState::Early), &limits, t0);
        }
        assert_eq!(e.calls().len(), 2);
    }
}
