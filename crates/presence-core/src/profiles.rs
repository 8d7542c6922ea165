//! Device profiles: what one kind of phone needs from the subscriptions it makes, chosen per
//! subscription from the subscriber's `User-Agent`. The established servers handle these
//! quirks with global switches that change every phone at once (Kamailio
//! `force_single_dialog`, `force_dummy_dialog`, `caller_confirmed`, `subs_respond_200`); a
//! profile changes only the phones that need it.

use crate::call::{Call, CallState, Direction};

/// How a profile shapes a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceProfile {
    /// Its name, shown in the subscription look-up.
    pub name: String,
    /// Case-insensitive pieces of `User-Agent`; the first profile with a match wins.
    pub user_agents: Vec<String>,
    /// The status of the 2xx to its SUBSCRIBE: 200 (RFC 6665 §4.2.1.1), or the 202 of RFC
    /// 3265 for devices that still expect it.
    pub subscribe_status: u16,
    /// At most one dialog per dialog-info document: the most interesting one.
    pub single_dialog: bool,
    /// While idle, one terminated dummy dialog instead of an empty document.
    pub idle_dummy_dialog: bool,
    /// Calls the entity places are shown confirmed while they ring, so the lamp does not
    /// blink as if the entity were being called.
    pub caller_confirmed: bool,
    /// Dialogs carry the remote target `sip:<prefix><entity>`, which the key dials to pick
    /// the call up (`**` on FreeSWITCH-style PBXs).
    pub pickup_prefix: Option<String>,
    /// At least this many milliseconds between two state NOTIFYs (0: no limit); changes in
    /// between are merged into one NOTIFY at the end of the interval (the throttle of RFC
    /// 6446 §3, chosen by the server).
    pub min_notify_interval_ms: u32,
}

impl DeviceProfile {
    fn new(name: &str, user_agents: &[&str]) -> Self {
        DeviceProfile {
            name: name.to_owned(),
            user_agents: user_agents.iter().map(|s| (*s).to_owned()).collect(),
            subscribe_status: 200,
            single_dialog: false,
            idle_dummy_dialog: false,
            caller_confirmed: false,
            pickup_prefix: None,
            min_notify_interval_ms: 0,
        }
    }

    /// Whether `user_agent` selects this profile.
    pub fn matches(&self, user_agent: &str) -> bool {
        let user_agent = user_agent.to_ascii_lowercase();
        self.user_agents.iter().any(|piece| user_agent.contains(&piece.to_ascii_lowercase()))
    }

    /// The calls a dialog-info document shows this device, from everything current, in the
    /// same order. `shaped` holds the altered copies (callers shown confirmed) the result
    /// points into, so the calls left as they are need not be cloned.
    pub(crate) fn shape_calls<'a>(&self, calls: Vec<&'a Call>, shaped: &'a mut Vec<Call>) -> Vec<&'a Call> {
        let reshape = |c: &Call| {
            self.caller_confirmed && c.direction == Some(Direction::Initiator) && c.state == CallState::Early
        };
        *shaped =
            calls.iter().filter(|c| reshape(c)).map(|c| Call { state: CallState::Confirmed, ..(*c).clone() }).collect();
        let mut altered = shaped.iter();
        let calls = calls.into_iter().map(|c| if reshape(c) { altered.next().unwrap_or(c) } else { c });
        if self.single_dialog {
            // Kamailio's priority: early beats confirmed (a ringing call is the one to pick up);
            // the first of equals wins.
            return calls.min_by_key(|c| std::cmp::Reverse(interest(c.state))).into_iter().collect();
        }
        calls.collect()
    }
}

/// How interesting a call is to show on a single-dialog device.
fn interest(state: CallState) -> u8 {
    match state {
        CallState::Terminated => 0,
        CallState::Trying => 1,
        CallState::Proceeding => 2,
        CallState::Confirmed => 3,
        CallState::Early => 4,
    }
}

/// The Call-ID of the dummy dialog shown to devices that want one while idle.
pub(crate) const IDLE_DUMMY_ID: &str = "idle";

/// The profiles that come with the server, each for a problem reported in the field.
pub fn builtin() -> Vec<DeviceProfile> {
    vec![
        // Linksys/Cisco SPA962 firmware crashes on dialog-info documents with several dialogs,
        // and blinks its lamp on early regardless of direction (Kamailio presence_dialoginfo
        // README, force_single_dialog; pua_dialoginfo caller_confirmed).
        DeviceProfile {
            single_dialog: true,
            caller_confirmed: true,
            ..DeviceProfile::new("linksys-spa962", &["SPA962"])
        },
        // CounterPath Bria expects at least one dialog in a dialog-info document (Kamailio
        // presence_dialoginfo README, force_dummy_dialog).
        DeviceProfile { idle_dummy_dialog: true, ..DeviceProfile::new("bria", &["Bria"]) },
        // Zoiper's BLF key picks up a ringing call by dialling the dialog's remote target;
        // FreeSWITCH sends `sip:**<extension>` there and so did babble-drachtio-presence for
        // every phone (seed-behaviour §4, its FreeSWITCH-to-Zoiper captures). Only Zoiper gets
        // it here: other phones build the pickup from call-id and tags.
        DeviceProfile { pickup_prefix: Some("**".into()), ..DeviceProfile::new("zoiper", &["Zoiper"]) },
    ]
}

/// The first profile in `profiles` that `user_agent` selects.
pub(crate) fn select(profiles: &[DeviceProfile], user_agent: Option<&str>) -> Option<usize> {
    let user_agent = user_agent?;
    profiles.iter().position(|p| p.matches(user_agent))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_selects_the_first_matching_profile() {
        let profiles = builtin();
        assert_eq!(select(&profiles, Some("Linksys/SPA962-6.1.5(a)")), Some(0));
        assert_eq!(select(&profiles, Some("Bria 6 release 6.5.4")), Some(1));
        assert_eq!(select(&profiles, Some("bria iOS")), Some(1), "case does not matter");
        assert_eq!(select(&profiles, Some("Yealink SIP-T46S")), None);
        assert_eq!(select(&profiles, None), None);
    }

    #[test]
    fn single_dialog_keeps_the_ringing_call_and_caller_confirmed_reshapes_outgoing_early() {
        let spa = &builtin()[0];
        let talking = Call::new("a", CallState::Confirmed);
        let ringing = Call::new("b", CallState::Early);
        let mut shaped = Vec::new();
        let shown = spa.shape_calls(vec![&talking, &ringing], &mut shaped);
        assert_eq!(shown.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), vec!["b"]);

        let outgoing = Call { direction: Some(Direction::Initiator), ..Call::new("c", CallState::Early) };
        let mut shaped = Vec::new();
        let shown = spa.shape_calls(vec![&outgoing], &mut shaped);
        assert_eq!(shown.iter().map(|c| c.state).collect::<Vec<_>>(), vec![CallState::Confirmed]);

        let plain = DeviceProfile::new("plain", &[]);
        let mut shaped = Vec::new();
        assert_eq!(plain.shape_calls(vec![&talking, &ringing, &outgoing], &mut shaped).len(), 3);
    }
}
