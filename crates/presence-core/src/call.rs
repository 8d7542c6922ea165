//! Calls as integrations report them and dialog-info documents carry them (RFC 4235 §4.1):
//! the seed's `call` object, typed.

/// Which side started the call, from the entity's point of view (RFC 4235 `direction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// The entity placed the call.
    Initiator,
    /// The entity receives the call.
    Recipient,
}

impl Direction {
    /// The RFC 4235 attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Initiator => "initiator",
            Direction::Recipient => "recipient",
        }
    }

    /// Parses `initiator`/`recipient` (and the seed's `initiate`/`receive` spellings).
    pub fn parse(s: &str) -> Option<Direction> {
        match s.to_ascii_lowercase().as_str() {
            "initiator" | "initiate" | "initiated" | "outbound" => Some(Direction::Initiator),
            "recipient" | "receive" | "received" | "inbound" => Some(Direction::Recipient),
            _ => None,
        }
    }
}

/// A dialog state (RFC 4235 §3.7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum CallState {
    /// `trying`.
    Trying,
    /// `proceeding`.
    Proceeding,
    /// `early`: ringing.
    Early,
    /// `confirmed`: answered.
    Confirmed,
    /// `terminated`.
    Terminated,
}

impl CallState {
    /// The RFC 4235 element value.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Trying => "trying",
            CallState::Proceeding => "proceeding",
            CallState::Early => "early",
            CallState::Confirmed => "confirmed",
            CallState::Terminated => "terminated",
        }
    }

    /// Parses an RFC 4235 state (case-insensitively).
    pub fn parse(s: &str) -> Option<CallState> {
        match s.trim().to_ascii_lowercase().as_str() {
            "trying" => Some(CallState::Trying),
            "proceeding" => Some(CallState::Proceeding),
            "early" => Some(CallState::Early),
            "confirmed" => Some(CallState::Confirmed),
            "terminated" => Some(CallState::Terminated),
            _ => None,
        }
    }

    /// Whether the call has not been answered yet.
    pub fn is_early(self) -> bool {
        matches!(self, CallState::Trying | CallState::Proceeding | CallState::Early)
    }
}

/// The other party of a call.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Party {
    /// Display name.
    pub display: Option<String>,
    /// Address (`sip:2000@pbx.example.com`, or a bare `2000@pbx.example.com`).
    pub uri: String,
}

/// One call of an entity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The SIP Call-ID: the key of the call.
    pub call_id: String,
    /// The entity side's tag.
    pub local_tag: Option<String>,
    /// The far side's tag.
    pub remote_tag: Option<String>,
    /// Who placed the call.
    pub direction: Option<Direction>,
    /// Its state.
    pub state: CallState,
    /// Seconds since it started, if known.
    pub duration: Option<u64>,
    /// Whether media flows (`+sip.rendering`); `None` when unknown.
    pub rendering: Option<bool>,
    /// The far party.
    pub remote: Option<Party>,
}

impl Call {
    /// This update of a call over what was known of it: the fields it leaves out keep their
    /// values from `known`.
    pub(crate) fn merged_over(self, known: &Call) -> Call {
        Call {
            local_tag: self.local_tag.or_else(|| known.local_tag.clone()),
            remote_tag: self.remote_tag.or_else(|| known.remote_tag.clone()),
            direction: self.direction.or(known.direction),
            duration: self.duration.or(known.duration),
            rendering: self.rendering.or(known.rendering),
            remote: self.remote.or_else(|| known.remote.clone()),
            ..self
        }
    }

    /// A call with only an id and a state.
    pub fn new(call_id: impl Into<String>, state: CallState) -> Self {
        Call {
            call_id: call_id.into(),
            local_tag: None,
            remote_tag: None,
            direction: None,
            state,
            duration: None,
            rendering: None,
            remote: None,
        }
    }

    /// Whether the entity's phone is ringing for this call: early, and not one it placed.
    pub fn is_ringing_here(&self) -> bool {
        self.state == CallState::Early && self.direction != Some(Direction::Initiator)
    }
}

/// `sip:` prefixed unless the address already has a scheme (the seed doubled it).
pub fn with_sip_scheme(uri: &str) -> String {
    let has_scheme = uri.split_once(':').is_some_and(|(scheme, _)| {
        !scheme.is_empty()
            && !scheme.contains('@')
            && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    });
    if has_scheme { uri.to_owned() } else { format!("sip:{uri}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scheme_is_added_once() {
        assert_eq!(with_sip_scheme("2000@pbx"), "sip:2000@pbx");
        assert_eq!(with_sip_scheme("sip:2000@pbx"), "sip:2000@pbx");
        assert_eq!(with_sip_scheme("tel:+15550100"), "tel:+15550100");
        assert_eq!(with_sip_scheme("2000@10.0.0.1:5060"), "sip:2000@10.0.0.1:5060");
    }

    #[test]
    fn seed_spellings() {
        assert_eq!(Direction::parse("receive"), Some(Direction::Recipient));
        assert_eq!(CallState::parse("Confirmed"), Some(CallState::Confirmed));
        assert!(CallState::Early.is_early() && !CallState::Confirmed.is_early());
    }
}
