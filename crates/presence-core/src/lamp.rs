//! Lamps for things that are not phones (docs/lamps.md): a park slot, a queue, an agent's
//! login, a day/night switch. An integration sets the lamp of such a virtual entity
//! (`park+701@pbx`) to idle, ringing, busy or held, and BLF keys and presence watchers see it
//! as the call it stands for: ringing as an early dialog (a fast blink), busy as a confirmed
//! one with media (steady), held as a confirmed one without media (RFC 4235 §4.1.6.2 `+sip.rendering`
//! `no`, which phones show as a slow blink). The dialog carries the held call's Call-ID and
//! tags when the integration gives them, for a key's directed pickup.

use crate::call::{Call, CallState, Direction, Party};

/// What a lamp shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LampState {
    /// Out.
    Idle,
    /// A call waits to be answered (a ringing queue, a call offered to an agent).
    Ringing,
    /// In use (a logged-in agent, night mode on, a busy queue).
    Busy,
    /// A call on hold (a parked call).
    Held,
}

impl LampState {
    /// Reads `idle`, `ringing`, `busy` or `held`.
    pub fn parse(name: &str) -> Option<LampState> {
        match name {
            "idle" => Some(LampState::Idle),
            "ringing" => Some(LampState::Ringing),
            "busy" => Some(LampState::Busy),
            "held" => Some(LampState::Held),
            _ => None,
        }
    }
}

/// A lamp as an integration sets it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lamp {
    /// What it shows.
    pub state: LampState,
    /// The caller a key shows (and dials back): the parked or waiting party. Left out, the
    /// lit lamp keeps the one it had, as it keeps its Call-ID and tags.
    pub caller: Option<Party>,
    /// The Call-ID of the call the lamp stands for, with its tags, for directed pickup; a
    /// lamp without one gets a Call-ID of its own.
    pub call_id: Option<String>,
    /// The tag of the call's side at the entity (the park slot's).
    pub local_tag: Option<String>,
    /// The tag of the far side (the caller's).
    pub remote_tag: Option<String>,
    /// Seconds after which it goes out by itself (`None`: when told).
    pub expires: Option<u32>,
}

impl Lamp {
    /// The call a lit lamp stands for, with `call_id`; `None` for an idle lamp.
    pub(crate) fn call(&self, call_id: String) -> Option<Call> {
        let (state, rendering) = match self.state {
            LampState::Idle => return None,
            LampState::Ringing => (CallState::Early, None),
            // Said either way: a lamp going from held to busy must stop blinking.
            LampState::Busy => (CallState::Confirmed, Some(true)),
            LampState::Held => (CallState::Confirmed, Some(false)),
        };
        Some(Call {
            call_id,
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
            // Offered to the slot or queue: a key shows it ringing, not calling out.
            direction: Some(Direction::Recipient),
            state,
            duration: None,
            rendering,
            remote: self.caller.clone(),
        })
    }
}
