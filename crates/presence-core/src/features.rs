//! A user's feature settings, the ones phones keep in step with the server by feature-key
//! synchronisation (`Event: as-feature-event`) and integrations set through the API: do not
//! disturb and the three kinds of call forwarding. One setting per user (an entity), so DND
//! pressed on one phone is the DND of every phone of the user, of every package and of the
//! API (docs/architecture.md, "Feature settings").

/// Longest forwarding target kept, in bytes (a SIP URI or a number to dial).
pub const MAX_FORWARD_TARGET: usize = 256;

/// Most rings before a no-answer forward, as the phones' menus offer them.
pub const MAX_RING_COUNT: u32 = 100;

/// A kind of call forwarding (the BroadWorks `forwardingType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ForwardKind {
    /// Every call (`forwardImmediate`).
    Always,
    /// Calls while on the phone (`forwardBusy`).
    Busy,
    /// Calls not answered after some rings (`forwardNoAns`).
    NoAnswer,
}

/// Every kind, in the order documents and look-ups list them.
pub const FORWARD_KINDS: [ForwardKind; 3] = [ForwardKind::Always, ForwardKind::Busy, ForwardKind::NoAnswer];

impl ForwardKind {
    /// The CSTA `forwardingType` value.
    pub fn csta_name(self) -> &'static str {
        match self {
            ForwardKind::Always => "forwardImmediate",
            ForwardKind::Busy => "forwardBusy",
            ForwardKind::NoAnswer => "forwardNoAns",
        }
    }

    /// Reads a CSTA `forwardingType` value.
    pub fn from_csta(name: &str) -> Option<ForwardKind> {
        FORWARD_KINDS.into_iter().find(|k| k.csta_name() == name)
    }

    /// The name in the event contract and the API (`always`, `busy`, `noanswer`).
    pub fn api_name(self) -> &'static str {
        match self {
            ForwardKind::Always => "always",
            ForwardKind::Busy => "busy",
            ForwardKind::NoAnswer => "noanswer",
        }
    }

    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// One kind of forwarding as set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarding {
    /// Whether calls are forwarded.
    pub active: bool,
    /// Where to (kept while inactive, so a phone turning it back on finds it).
    pub to: Option<String>,
    /// Rings before forwarding (no-answer forwarding only).
    pub ring_count: Option<u32>,
}

/// Why a forwarding target or ring count is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FeatureError {
    /// The target is longer than [`MAX_FORWARD_TARGET`] or holds characters a SIP URI or a
    /// dial string never does (spaces, quotes, angle brackets, control characters).
    #[error("is not a SIP URI or a number of at most 256 characters")]
    Target,
    /// The ring count is 0 or above [`MAX_RING_COUNT`].
    #[error("must be 1 to 100")]
    RingCount,
    /// Turning forwarding on needs somewhere to forward to.
    #[error("is required to turn forwarding on")]
    MissingTarget,
}

impl Forwarding {
    /// Checks what a phone or an integration asks for: a target a phone can dial, a ring
    /// count a phone offers, and a target whenever forwarding is on.
    /// An empty target is none.
    pub fn checked(mut self) -> Result<Forwarding, FeatureError> {
        self.to = self.to.filter(|to| !to.trim().is_empty());
        if let Some(to) = &self.to {
            let dialable = |c: char| !c.is_control() && !c.is_whitespace() && !matches!(c, '"' | '<' | '>' | '\\');
            if to.len() > MAX_FORWARD_TARGET || !to.chars().all(dialable) {
                return Err(FeatureError::Target);
            }
        }
        if self.ring_count.is_some_and(|n| n == 0 || n > MAX_RING_COUNT) {
            return Err(FeatureError::RingCount);
        }
        if self.active && self.to.is_none() {
            return Err(FeatureError::MissingTarget);
        }
        Ok(self)
    }
}

/// A change to a user's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeatureChange {
    /// Do not disturb on or off.
    Dnd(bool),
    /// One kind of forwarding.
    Forward(ForwardKind, Forwarding),
}

/// What a feature key shows: the user's DND as every package shows it (the setting, or what
/// the sources say while nothing set it) and the forwarding settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeatureState {
    /// Do not disturb.
    pub dnd: bool,
    /// Forwarding, by [`ForwardKind`] in [`FORWARD_KINDS`] order.
    pub forwarding: [Forwarding; 3],
}

impl FeatureState {
    /// The forwarding of `kind`.
    pub fn forward(&self, kind: ForwardKind) -> &Forwarding {
        &self.forwarding[kind.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_ring_counts_are_checked() {
        let on = |to: &str| Forwarding { active: true, to: Some(to.to_owned()), ring_count: None };
        assert!(on("sip:2002@pbx.example.com").checked().is_ok());
        assert!(on("*72+15551234#").checked().is_ok());
        assert_eq!(on("2002 <x>").checked(), Err(FeatureError::Target));
        assert_eq!(on(&"9".repeat(257)).checked(), Err(FeatureError::Target));
        let off = Forwarding { active: true, to: None, ring_count: None };
        assert_eq!(off.checked(), Err(FeatureError::MissingTarget));
        assert_eq!(on("").checked(), Err(FeatureError::MissingTarget), "an empty target is none");
        let rings = |n| Forwarding { ring_count: Some(n), ..on("2002") };
        assert_eq!(rings(0).checked(), Err(FeatureError::RingCount));
        assert!(rings(100).checked().is_ok());
        assert_eq!(ForwardKind::from_csta("forwardNoAns"), Some(ForwardKind::NoAnswer));
        assert_eq!(ForwardKind::from_csta("forwardDND"), None);
    }
}
