//! A user's feature settings within its entity: DND and forwarding as a feature key or the
//! features API set them (docs/architecture.md, "Feature settings").

use crate::features::{FeatureChange, FeatureState, Forwarding};

/// One user's settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    /// DND as last set: by a feature key, the features API, or since then a source whose
    /// report of DND changed (last writer wins). `None`: never set, and the sources decide.
    pub(super) dnd: Option<bool>,
    forwarding: [Forwarding; 3],
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
    /// has a DND setting, that is news the setting follows.
    pub(super) fn follow_dnd(&mut self, dnd: bool) {
        if let Some(setting) = &mut self.dnd {
            *setting = dnd;
        }
    }

    /// What a feature key shows, with DND as composed.
    pub(super) fn state(&self, dnd: bool) -> FeatureState {
        FeatureState { dnd, forwarding: self.forwarding.clone() }
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
