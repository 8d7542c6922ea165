//! Entity state: everything known about one watched resource (`user@host`), composed from
//! what integrations pushed: presence status, registration, calls and voicemail counts.
//! Calls are kept per Call-ID with bounded lifetimes: an ended call leaves a tombstone so a
//! late update for it is ignored, and a call never answered expires (SPEC §7).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::{Call, CallState};

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

/// A presence status pushed by an integration (`presence.status.out`).
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

#[derive(Clone, Debug)]
struct LiveCall {
    call: Call,
    expires_at: Instant,
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
    /// Last pushed status.
    pub(crate) status: Option<Status>,
    /// Last pushed registration.
    pub(crate) registration: Option<Registration>,
    /// Voicemail counts, once known.
    pub(crate) voicemail: Option<MessageCounts>,
    calls: HashMap<String, LiveCall>,
    ended: HashMap<String, Tombstone>,
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
}

impl Changed {
    /// Whether anything changed.
    pub(crate) fn any(self) -> bool {
        self.presence || self.dialogs || self.voicemail
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

    /// Sets the status.
    pub(crate) fn set_status(&mut self, status: Status) -> Changed {
        let changed = self.status.as_ref() != Some(&status);
        self.status = Some(status);
        self.bump(Changed { presence: changed, ..Changed::default() })
    }

    /// Sets the registration.
    pub(crate) fn set_registration(&mut self, registration: Registration) -> Changed {
        let changed = self.registration != Some(registration);
        self.registration = Some(registration);
        self.bump(Changed { presence: changed, ..Changed::default() })
    }

    /// Sets the voicemail counts.
    pub(crate) fn set_voicemail(&mut self, counts: MessageCounts) -> Changed {
        let changed = self.voicemail != Some(counts);
        self.voicemail = Some(counts);
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

    /// Adds or updates one call (a partial update). An update for an ended call is
    /// ignored; a terminated state ends the call.
    pub(crate) fn update_call(&mut self, call: Call, limits: &CallLimits, now: Instant) -> Changed {
        self.forget_expired(limits, now);
        if self.ended.contains_key(&call.call_id) {
            return Changed::default();
        }
        if call.state == CallState::Terminated {
            return match self.calls.remove(&call.call_id) {
                Some(_) => {
                    let changed = self.bump(Changed { presence: true, dialogs: true, voicemail: false });
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
        let lifetime = if call.state.is_early() { limits.early_lifetime } else { limits.confirmed_lifetime };
        let unchanged = self.calls.get(&call.call_id).is_some_and(|live| live.call == call);
        self.calls.insert(call.call_id.clone(), LiveCall { call, expires_at: now + lifetime });
        self.bump(Changed { presence: !unchanged, dialogs: !unchanged, voicemail: false })
    }

    /// Replaces the whole call list (a full update): calls missing from `calls` end.
    pub(crate) fn replace_calls(&mut self, calls: Vec<Call>, limits: &CallLimits, now: Instant) -> Changed {
        let mut changed = Changed::default();
        let keep: Vec<&str> = calls.iter().map(|c| c.call_id.as_str()).collect();
        let gone: Vec<String> = self.calls.keys().filter(|id| !keep.contains(&id.as_str())).cloned().collect();
        for id in gone {
            if let Some(live) = self.calls.get(&id) {
                let mut ended = live.call.clone();
                ended.state = CallState::Terminated;
                changed = merge(changed, self.update_call(ended, limits, now));
            }
        }
        for call in calls {
            changed = merge(changed, self.update_call(call, limits, now));
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
        let expired: Vec<String> =
            self.calls.iter().filter(|(_, live)| live.expires_at <= now).map(|(id, _)| id.clone()).collect();
        self.ended.retain(|_, t| t.forget_at > now);
        let mut changed = Changed::default();
        for id in expired {
            if let Some(live) = self.calls.remove(&id) {
                changed = self.bump(Changed { presence: true, dialogs: true, voicemail: false });
                self.tombstone(live.call, limits, now);
            }
        }
        changed
    }

    /// The next time [`Entity::forget_expired`] has work to do.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        let calls = self.calls.values().map(|c| c.expires_at);
        let tombs = self.ended.values().map(|t| t.forget_at);
        calls.chain(tombs).min()
    }

    /// Live calls, oldest Call-ID first for a stable document order.
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
    /// pushed on-the-phone status.
    pub(crate) fn on_the_phone(&self) -> bool {
        self.calls.values().any(|c| c.call.state == CallState::Confirmed)
            || self.registration.is_some_and(|r| r.call_count > 0)
            || self.status.as_ref().is_some_and(|s| s.on_the_phone)
    }

    /// Whether the entity is known to be unregistered (offline, not merely idle).
    pub(crate) fn offline(&self) -> bool {
        self.registration.is_some_and(|r| !r.registered)
    }

    /// Whether the entity holds nothing worth keeping.
    pub(crate) fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.registration.is_none()
            && self.voicemail.is_none()
            && self.display.is_none()
            && self.calls.is_empty()
            && self.ended.is_empty()
    }
}

fn merge(a: Changed, b: Changed) -> Changed {
    Changed {
        presence: a.presence || b.presence,
        dialogs: a.dialogs || b.dialogs,
        voicemail: a.voicemail || b.voicemail,
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
        assert!(e.update_call(Call::new("a", CallState::Early), &limits, t0).dialogs);
        let seen = e.change();
        assert!(e.update_call(Call::new("a", CallState::Terminated), &limits, secs(t0, 1)).dialogs);
        assert!(e.calls().is_empty());
        assert_eq!(e.ended_since(seen).len(), 1, "shown once as terminated to a watcher that saw it");
        assert!(e.ended_since(e.change() + 1).is_empty());
        assert!(!e.update_call(Call::new("a", CallState::Early), &limits, secs(t0, 2)).any(), "late early ignored");
        assert!(e.calls().is_empty());
        // After the tombstone lifetime the Call-ID may be reused.
        assert!(e.update_call(Call::new("a", CallState::Early), &limits, secs(t0, 100)).any());
    }

    #[test]
    fn unanswered_calls_expire_and_answered_ones_last() {
        let t0 = Instant::now();
        let limits = CallLimits::default();
        let mut e = Entity::default();
        e.update_call(Call::new("ring", CallState::Early), &limits, t0);
        e.update_call(Call::new("talk", CallState::Confirmed), &limits, t0);
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
        e.replace_calls(vec![Call::new("a", CallState::Confirmed), Call::new("b", CallState::Early)], &limits, t0);
        assert!(!e.update_call(Call::new("a", CallState::Confirmed), &limits, t0).any(), "duplicate update");
        let changed = e.replace_calls(vec![Call::new("b", CallState::Confirmed)], &limits, t0);
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
            e.update_call(Call::new(id, CallState::Early), &limits, t0);
        }
        assert_eq!(e.calls().len(), 2);
    }
}
