//! Device profiles: what one kind of phone needs from the subscriptions it makes, chosen per
//! subscription from the subscriber's account or source address (operator overrides), else
//! its `User-Agent`. The established servers handle these quirks with global switches that
//! change every phone at once (Kamailio `force_single_dialog`, `force_dummy_dialog`,
//! `caller_confirmed`, `subs_respond_200`, `send_fast_notify`); a profile changes only the
//! phones that need it.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::bodies::Format;
use crate::bodies::mwi::UrgentCounts;
use crate::call::{Call, CallState, Direction};
use crate::entity_key::EntityKey;

/// How a profile shapes a subscription.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceProfile {
    /// Its name, shown in the subscription look-up.
    pub name: String,
    /// Case-insensitive pieces of `User-Agent`; the first profile with a match wins.
    pub user_agents: Vec<String>,
    /// Subscribers given this profile whatever their User-Agent.
    pub subscribers: Vec<EntityKey>,
    /// Source networks whose subscriptions get this profile whatever their User-Agent.
    pub addresses: Vec<IpNet>,
    /// The status of the 2xx to its SUBSCRIBE: 200 (RFC 6665 §4.2.1.1), or the 202 of RFC
    /// 3265 for devices that still expect it.
    pub subscribe_status: u16,
    /// At most one dialog per dialog-info document: the one `single_dialog_shows` prefers.
    pub single_dialog: bool,
    /// Which call a single-dialog document shows when there are several.
    pub single_dialog_shows: ShownCall,
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
    /// For its list subscriptions, how long a member's change waits for others instead of
    /// the list's own interval (`None`: the list's).
    pub list_batch_interval_ms: Option<u32>,
    /// Dialogs name the remote party (`<remote><identity>`), which most keys show as the
    /// caller; the remote target is written either way.
    pub remote_identity: bool,
    /// PIDF documents say `Ringing` in the note while a call to the entity rings, for
    /// devices that show ringing only from the note.
    pub ringing_note: bool,
    /// The presence format sent when the subscriber accepts it, even if it ranks another
    /// first. Without `Accept` RFC 3856 §6.2 means PIDF; a profile that sets this sends its
    /// format then too, on purpose, for devices known to read only that one.
    pub presence_format: Option<Format>,
    /// How MWI bodies write the urgent counts (RFC 3842 §5.2's parentheses by default).
    pub mwi_urgent_counts: UrgentCounts,
    /// The first NOTIFY waits while it would carry no body (no voicemail report yet) and goes
    /// out when state first arrives (Kamailio `send_fast_notify=0`).
    pub hold_empty_initial_notify: bool,
    /// NOTIFY timeouts in a row over UDP before the subscription is dropped, instead of the
    /// server's `udp_notify_failures`.
    pub udp_notify_failures: Option<u8>,
    /// In-dialog refreshes are challenged again when SUBSCRIBE needs authentication; off
    /// accepts a refresh that names the dialog (its Call-ID and both tags) and comes from the
    /// address the subscription's NOTIFYs go to, for stacks that drop the dialog when a
    /// refresh is challenged. (Setting the subscription up is challenged either way.)
    pub challenge_refreshes: bool,
}

impl DeviceProfile {
    /// A profile selected by `user_agents` that changes nothing yet.
    pub fn new(name: &str, user_agents: &[&str]) -> Self {
        DeviceProfile {
            name: name.to_owned(),
            user_agents: user_agents.iter().map(|s| (*s).to_owned()).collect(),
            subscribers: Vec::new(),
            addresses: Vec::new(),
            subscribe_status: 200,
            single_dialog: false,
            single_dialog_shows: ShownCall::Ringing,
            idle_dummy_dialog: false,
            caller_confirmed: false,
            pickup_prefix: None,
            min_notify_interval_ms: 0,
            list_batch_interval_ms: None,
            remote_identity: true,
            ringing_note: false,
            presence_format: None,
            mwi_urgent_counts: UrgentCounts::Parenthesized,
            hold_empty_initial_notify: false,
            udp_notify_failures: None,
            challenge_refreshes: true,
        }
    }

    /// Whether the operator assigned this profile to `subscriber` or to `source`.
    fn assigned(&self, subscriber: &EntityKey, source: IpAddr) -> bool {
        // A dual-stack listener sees IPv4 peers as `::ffff:a.b.c.d`; networks are matched
        // against the address the peer really has.
        let source = source.to_canonical();
        self.subscribers.contains(subscriber) || self.addresses.iter().any(|net| net.contains(&source))
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
            // The first of equals wins.
            let shows = self.single_dialog_shows;
            return calls.min_by_key(|c| std::cmp::Reverse(shows.interest(c.state))).into_iter().collect();
        }
        calls.collect()
    }
}

/// Which call a single-dialog document shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShownCall {
    /// A ringing call before an answered one, so the key picks up what rings (Kamailio's
    /// `force_single_dialog` order).
    #[default]
    Ringing,
    /// An answered call before a ringing one, so the lamp stays steady while the entity talks.
    Answered,
}

impl ShownCall {
    /// How interesting a call in `state` is; the most interesting is shown.
    fn interest(self, state: CallState) -> u8 {
        match (state, self) {
            (CallState::Terminated, _) => 0,
            (CallState::Trying, _) => 1,
            (CallState::Proceeding, _) => 2,
            (CallState::Confirmed, ShownCall::Ringing) | (CallState::Early, ShownCall::Answered) => 3,
            (CallState::Early, ShownCall::Ringing) | (CallState::Confirmed, ShownCall::Answered) => 4,
        }
    }
}

/// The Call-ID of the dummy dialog shown to devices that want one while idle.
pub(crate) const IDLE_DUMMY_ID: &str = "idle";

/// The profiles that come with the server, each for a problem reported in the field. Order
/// matters where patterns overlap: a model's profile comes before its family's.
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
        // Cisco 79xx SIP firmware cannot read the urgent counts `(0/0)` of an MWI body
        // (Asterisk chan_sip `buggymwi`, transmit_notify_with_mwi(): "Cisco has a bug in the
        // SIP stack where it can't accept the (0/0) notification").
        DeviceProfile { mwi_urgent_counts: UrgentCounts::Omitted, ..DeviceProfile::new("cisco-79xx", &["Cisco-CP79"]) },
        // Cisco SPA and CP 3PCC phones sometimes leave a NOTIFY unanswered; dropping the
        // subscription at the first timeout left the BLF key dead until its next refresh
        // (OpenSIPS issue #380). They get more timeouts in a row before we give up.
        DeviceProfile { udp_notify_failures: Some(6), ..DeviceProfile::new("cisco-spa", &["Cisco/SPA", "Cisco-CP-"]) },
        // CounterPath Bria expects at least one dialog in a dialog-info document (Kamailio
        // presence_dialoginfo README, force_dummy_dialog).
        DeviceProfile { idle_dummy_dialog: true, ..DeviceProfile::new("bria", &["Bria"]) },
        // Zoiper's BLF key picks up a ringing call by dialling the dialog's remote target;
        // FreeSWITCH sends `sip:**<extension>` there and so did babble-drachtio-presence for
        // every phone (seed-behaviour §4, its FreeSWITCH-to-Zoiper captures). Only Zoiper gets
        // it here: other phones build the pickup from call-id and tags.
        DeviceProfile { pickup_prefix: Some("**".into()), ..DeviceProfile::new("zoiper", &["Zoiper"]) },
        // Polycom phones read presence as XPIDF even when their Accept also lists PIDF: Asterisk
        // chan_sip picks XPIDF from the User-Agent ("Polycom phones only handle xpidf+xml, even
        // if they say they can handle pidf+xml", handle_request_subscribe()) and FreeSWITCH
        // does the same (sofia_presence.c, gen_pidf()).
        DeviceProfile { presence_format: Some(Format::Xpidf), ..DeviceProfile::new("polycom", &["Polycom"]) },
        // Yealink keys show a wrong lamp after a NOTIFY whose document has no dialog element
        // (OpenSIPS PR #1193), so idle is a terminated dummy dialog. They show the caller from
        // the remote identity, which every profile writes unless told not to (mikopbx #1059).
        DeviceProfile { idle_dummy_dialog: true, ..DeviceProfile::new("yealink", &["Yealink"]) },
        // Grandstream keys flip between their label and the remote party's caller ID while
        // busy; FusionPBX turns the remote identity off for them (fusionpbx PR #5790).
        DeviceProfile { remote_identity: false, ..DeviceProfile::new("grandstream", &["Grandstream"]) },
        // Snom phones answer slowly under load, so NOTIFY transactions time out and their
        // subscriptions were dropped (NethServer/dev#8122): fewer NOTIFYs (changes within half
        // a second merged) and more timeouts tolerated.
        DeviceProfile {
            min_notify_interval_ms: 500,
            udp_notify_failures: Some(6),
            ..DeviceProfile::new("snom", &["snom"])
        },
        // Samsung CPEs fail on an MWI NOTIFY without a body, sent while no voicemail system has
        // reported (Kamailio presence README, send_fast_notify).
        DeviceProfile { hold_empty_initial_notify: true, ..DeviceProfile::new("samsung", &["Samsung"]) },
        // MicroSIP lights BLF from PIDF and shows ringing only when the note starts with
        // "Ring" (busy when it is "On the phone", which we write anyway) (MicroSIP 3.20.5
        // mainDlg.cpp, on_buddy_state()).
        DeviceProfile { ringing_note: true, ..DeviceProfile::new("microsip", &["MicroSIP"]) },
        // Linphone's SIP stack (belle-sip) dropped the subscription dialog when a refresh was
        // challenged with a stale nonce, leaving contacts grey (linphone-sdk issue #18).
        DeviceProfile { challenge_refreshes: false, ..DeviceProfile::new("linphone", &["Linphone"]) },
        // PJSIP's dialog-event client keeps only the first dialog of a document (pjproject
        // dlg_event.c, pjsip_dlg_event_parse_dialog_info2(), PR #3754), so it gets the one
        // that matters: a ringing call before an answered one.
        DeviceProfile { single_dialog: true, ..DeviceProfile::new("pjsip", &["PJSUA", "PJSIP"]) },
    ]
}

/// Who is subscribing, as profiles are chosen.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Subscriber<'a> {
    /// Its entity (of From, or the phone's address-of-record).
    pub(crate) key: &'a EntityKey,
    /// The address its SUBSCRIBE came from.
    pub(crate) source: IpAddr,
    /// Its `User-Agent`, if it sent one.
    pub(crate) user_agent: Option<&'a str>,
}

/// The profile for `subscriber`: the first one the operator assigned to its account or
/// address, else the first one its `User-Agent` selects.
pub(crate) fn select(profiles: &[DeviceProfile], subscriber: Subscriber) -> Option<usize> {
    profiles.iter().position(|p| p.assigned(subscriber.key, subscriber.source)).or_else(|| {
        let user_agent = subscriber.user_agent?;
        profiles.iter().position(|p| p.matches(user_agent))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> EntityKey {
        crate::EngineConfig::default().entity_key(text)
    }

    #[test]
    fn user_agent_selects_the_first_matching_profile() {
        let profiles = builtin();
        let by_agent = |user_agent| {
            let subscriber = Subscriber { key: &key("1002@pbx"), source: [10, 0, 0, 9].into(), user_agent };
            select(&profiles, subscriber).map(|i| profiles[i].name.as_str())
        };
        assert_eq!(by_agent(Some("Linksys/SPA962-6.1.5(a)")), Some("linksys-spa962"));
        assert_eq!(by_agent(Some("Bria 6 release 6.5.4")), Some("bria"));
        assert_eq!(by_agent(Some("bria iOS")), Some("bria"), "case does not matter");
        assert_eq!(by_agent(Some("Acme Phone 1.0")), None);
        assert_eq!(by_agent(None), None);
    }

    #[test]
    fn an_assigned_account_or_address_beats_the_user_agent() {
        let mut profiles = builtin();
        profiles.push(DeviceProfile {
            subscribers: vec![key("1003@pbx")],
            addresses: vec!["192.0.2.0/24".parse().unwrap()],
            ..DeviceProfile::new("lobby", &[])
        });
        let pick = |subscriber: &str, source: [u8; 4]| {
            let subscriber = Subscriber { key: &key(subscriber), source: source.into(), user_agent: Some("Bria 6") };
            profiles[select(&profiles, subscriber).unwrap()].name.as_str()
        };
        assert_eq!(pick("1003@pbx", [10, 0, 0, 9]), "lobby");
        assert_eq!(pick("1002@pbx", [192, 0, 2, 77]), "lobby");
        assert_eq!(pick("1002@pbx", [10, 0, 0, 9]), "bria");
        let mapped: IpAddr = "::ffff:192.0.2.77".parse().unwrap();
        let subscriber = Subscriber { key: &key("1002@pbx"), source: mapped, user_agent: None };
        assert_eq!(select(&profiles, subscriber).map(|i| profiles[i].name.as_str()), Some("lobby"), "IPv4-mapped");
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

        let steady = DeviceProfile { single_dialog_shows: ShownCall::Answered, ..spa.clone() };
        let mut shaped = Vec::new();
        let shown = steady.shape_calls(vec![&talking, &ringing], &mut shaped);
        assert_eq!(shown.iter().map(|c| c.call_id.as_str()).collect::<Vec<_>>(), vec!["a"]);

        let plain = DeviceProfile::new("plain", &[]);
        let mut shaped = Vec::new();
        assert_eq!(plain.shape_calls(vec![&talking, &ringing, &outgoing], &mut shaped).len(), 3);
    }
}
