//! A user's feature settings within its entity: DND and forwarding as a feature key or the
//! features API set them, and when what a feature key shows last changed, so a NOTIFY to a
//! feature key carries only the events that changed since the one before
//! (docs/architecture.md, "Feature settings").

use crate::bodies::feature_event::FeatureEvent;
use crate::features::{FORWARD_KINDS, FeatureChange, FeatureState, ForwardKind, Forwarding};

/// One user's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// DND as last set: by a feature key, the features API, or since then a source whose
    /// report of DND changed (last writer wins). `None`: never set, and the sources decide.
    pub(super) dnd: Option<bool>,
    forwarding: [Forwarding; 3],
    /// The entity change number at which what a feature key shows last changed: DND first,
    /// then each forwarding kind in [`FORWARD_KINDS`] order.
    shown_at: [u64; 4],
}

impl Settings {
    /// Applies `change`: whether any setting moved.
    pub(super) fn set(&mut self, change: FeatureChange) -> bool {
        match change {
            FeatureChange::Dnd(on) => self.dnd.replace(on) != Some(on),
            FeatureChange::Forward(kind, forwarding) => {
                let slot = &mut self.forwarding[kind.index()];
                let mut forwarding = forwarding;
                if forwarding.to.is_none() {
                    // Turning forwarding off without a target keeps the one set, so the key
                    // turns it back on to the same place.
                    forwarding.to = slot.to.clone();
                }
                if forwarding.ring_count.is_none() {
                    forwarding.ring_count = slot.ring_count;
                }
                let moved = *slot != forwarding;
                *slot = forwarding;
                moved
            }
        }
    }

    /// A source's report of DND changed to `dnd` (or a new source asserts it): once the user
    /// has a DND setting, that is news the setting follows. Whether it moved.
    pub(super) fn follow_dnd(&mut self, dnd: bool) -> bool {
        match &mut self.dnd {
            Some(setting) if *setting != dnd => {
                *setting = dnd;
                true
            }
            _ => false,
        }
    }

    /// Notes that DND as shown, or the forwarding of `kind`, changed at change number `at`.
    pub(super) fn stamp(&mut self, kind: Option<ForwardKind>, at: u64) {
        self.shown_at[kind.map_or(0, |k| 1 + k.index())] = at;
    }

    /// What a feature key shows, with DND as composed.
    pub(super) fn state(&self, dnd: bool) -> FeatureState {
        FeatureState { dnd, forwarding: self.forwarding.clone() }
    }

    /// The events to send a feature key that last saw change number `seen`: those that
    /// changed since, or all of them when it has seen nothing (0: the first NOTIFY, a
    /// refresh) or none changed (a NOTIFY sent again after one was lost).
    pub(super) fn events_since(&self, seen: u64, dnd: bool) -> Vec<FeatureEvent<'_>> {
        let all = std::iter::once(FeatureEvent::Dnd(dnd))
            .chain(FORWARD_KINDS.iter().map(|k| FeatureEvent::Forward(*k, &self.forwarding[k.index()])));
        if seen == 0 {
            return all.collect();
        }
        let changed: Vec<_> = all.clone().zip(self.shown_at).filter(|(_, at)| *at >= seen).map(|(e, _)| e).collect();
        if changed.is_empty() { all.collect() } else { changed }
    }

    /// The settings as stored: DND (`None`: never set) and each forwarding kind.
    pub(super) fn record(&self) -> (Option<bool>, &[Forwarding; 3]) {
        (self.dnd, &self.forwarding)
    }

    /// Whether nothing was ever set.
    pub(super) fn is_empty(&self) -> bool {
        self.dnd.is_none() && self.forwarding.iter().all(|f| *f == Forwarding::default())
    }
}
