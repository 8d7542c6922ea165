//! Turning an entity's state into the document a watcher negotiated: the composition rules
//! for what a presence watcher sees (offline, available, on the phone, do not disturb) and
//! the neutral documents used while nothing is known (SPEC §4).

use crate::bodies::dialog_info::{self, Parties};
use crate::bodies::mwi::{self, MessageCounts, UrgentCounts};
use crate::bodies::pidf::{self, Activity, PidfDocument};
use crate::bodies::xpidf::{self, XpidfState};
use crate::bodies::{Basic, Format};
use crate::call::{Call, CallState};
use crate::entity::{DndRule, Entity, Status};
use crate::profiles::{DeviceProfile, IDLE_DUMMY_ID};

/// What a presence watcher is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shown {
    Available,
    OnThePhone,
    DoNotDisturb,
    OnThePhoneDoNotDisturb,
    Offline,
}

impl Shown {
    fn default_note(self) -> &'static str {
        match self {
            Shown::Available => "Available",
            Shown::OnThePhone => "On the phone",
            Shown::DoNotDisturb | Shown::OnThePhoneDoNotDisturb => "Do not disturb",
            Shown::Offline => "Offline",
        }
    }
}

/// Settings that shape rendering.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RenderOptions {
    /// Show an entity nothing is known about as available (else offline).
    pub(crate) unknown_is_available: bool,
    /// Answer MWI watchers with zero counts while no voicemail system has reported.
    pub(crate) zero_voicemail_when_unknown: bool,
    /// How DND reports of publications and integrations combine.
    pub(crate) dnd_rule: DndRule,
    /// How DND reports of an entity's registered phones combine.
    pub(crate) device_dnd_rule: DndRule,
    /// Show DND to dialog watchers as a busy lamp (a confirmed pseudo-dialog).
    pub(crate) dnd_as_busy_lamp: bool,
}

/// The Call-ID of the pseudo-dialog that shows DND on BLF keys.
const DND_DIALOG_ID: &str = "dnd";

/// Composes what presence watchers see: unregistered is offline; otherwise DND and calls
/// from every source combine; a pushed `closed` status with nothing else is offline.
pub(crate) fn shown(entity: Option<&Entity>, options: RenderOptions) -> Shown {
    shown_with_status(entity, options).0
}

/// [`shown`], and the combined status it was composed from (for its note).
pub(crate) fn shown_with_status(entity: Option<&Entity>, options: RenderOptions) -> (Shown, Option<Status>) {
    let Some(e) = entity else {
        return (if options.unknown_is_available { Shown::Available } else { Shown::Offline }, None);
    };
    let status = e.status(options.dnd_rule, options.device_dnd_rule);
    if e.offline() {
        return (Shown::Offline, status);
    }
    let shown = compose(e, status.as_ref(), options);
    (shown, status)
}

fn compose(e: &Entity, status: Option<&Status>, options: RenderOptions) -> Shown {
    let dnd = status.is_some_and(|s| s.dnd);
    let phone = e.on_the_phone();
    match (dnd, phone) {
        (true, true) => Shown::OnThePhoneDoNotDisturb,
        (true, false) => Shown::DoNotDisturb,
        (false, true) => Shown::OnThePhone,
        (false, false) => match (status, &e.registration) {
            (Some(s), _) if s.basic == Basic::Closed => Shown::Offline,
            (None, None) if !options.unknown_is_available => Shown::Offline,
            _ => Shown::Available,
        },
    }
}

/// Per-watcher inputs to a document.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Watcher<'a> {
    /// The dialog-info version to write.
    pub(crate) version: u32,
    /// The entity change number the watcher last saw (ended calls since are shown once).
    pub(crate) seen_change: u64,
    /// The subscriber's device profile.
    pub(crate) profile: Option<&'a DeviceProfile>,
}

/// The body for `format`, or `None` when there is nothing to say yet.
pub(crate) fn render(
    entity_uri: &str,
    entity: Option<&Entity>,
    format: Format,
    watcher: Watcher,
    options: RenderOptions,
) -> Option<String> {
    match format {
        Format::Pidf => {
            let (shown, status) = shown_with_status(entity, options);
            let note = status.as_ref().and_then(|s| s.note.as_deref());
            let (basic, activities): (Basic, &[Activity]) = match shown {
                Shown::Available => (Basic::Open, &[]),
                Shown::OnThePhone => (Basic::Open, &[Activity::OnThePhone]),
                Shown::DoNotDisturb => (Basic::Open, &[Activity::Busy]),
                Shown::OnThePhoneDoNotDisturb => (Basic::Open, &[Activity::Busy, Activity::OnThePhone]),
                Shown::Offline => (Basic::Closed, &[]),
            };
            let ringing = watcher.profile.is_some_and(|p| p.ringing_note)
                && matches!(shown, Shown::Available | Shown::OnThePhone)
                && entity.is_some_and(|e| e.calls().iter().any(|c| c.is_ringing_here()));
            let note = if ringing { "Ringing" } else { note.unwrap_or(shown.default_note()) };
            Some(pidf::write(&PidfDocument { entity: entity_uri, basic, note: Some(note), activities }))
        }
        Format::Xpidf => {
            let state = match shown(entity, options) {
                Shown::Available => XpidfState::Available,
                Shown::OnThePhone => XpidfState::OnThePhone,
                Shown::DoNotDisturb => XpidfState::DoNotDisturb,
                Shown::OnThePhoneDoNotDisturb => XpidfState::OnThePhoneDoNotDisturb,
                Shown::Offline => XpidfState::Offline,
            };
            Some(xpidf::write(entity_uri, state))
        }
        Format::DialogInfo => {
            let (mut calls, display) = match entity {
                Some(e) => (e.calls(), e.display.as_deref()),
                None => (Vec::new(), None),
            };
            if let Some(e) = entity {
                calls.extend(e.ended_since(watcher.seen_change));
            }
            let dnd_lamp = Call::new(DND_DIALOG_ID, CallState::Confirmed);
            let dnd = matches!(shown(entity, options), Shown::DoNotDisturb | Shown::OnThePhoneDoNotDisturb);
            if options.dnd_as_busy_lamp && dnd && !calls.iter().any(|c| c.state == CallState::Confirmed) {
                calls.push(&dnd_lamp);
            }
            let mut reshaped = Vec::new();
            let idle_dummy = Call::new(IDLE_DUMMY_ID, CallState::Terminated);
            if let Some(profile) = watcher.profile {
                calls = profile.shape_calls(calls, &mut reshaped);
                if profile.idle_dummy_dialog && calls.is_empty() {
                    calls.push(&idle_dummy);
                }
            }
            let pickup = watcher.profile.and_then(|p| p.pickup_prefix.as_deref()).map(|prefix| {
                let bare = entity_uri.strip_prefix("sip:").unwrap_or(entity_uri);
                format!("sip:{prefix}{bare}")
            });
            let parties = Parties {
                pickup_target: pickup.as_deref(),
                remote_identity: watcher.profile.is_none_or(|p| p.remote_identity),
            };
            Some(dialog_info::write(entity_uri, display, watcher.version, &calls, parties))
        }
        Format::MessageSummary => {
            let counts = entity.and_then(|e| e.voicemail);
            let counts = counts.or(options.zero_voicemail_when_unknown.then(MessageCounts::default))?;
            let urgent = watcher.profile.map_or(UrgentCounts::Parenthesized, |p| p.mwi_urgent_counts);
            Some(mwi::write(entity_uri, &counts, urgent))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entity::{Registration, Source, Status};

    const OPTS: RenderOptions = RenderOptions {
        unknown_is_available: true,
        zero_voicemail_when_unknown: true,
        dnd_rule: DndRule::Any,
        device_dnd_rule: DndRule::All,
        dnd_as_busy_lamp: true,
    };

    #[test]
    fn composition_rules() {
        assert_eq!(shown(None, OPTS), Shown::Available);
        assert_eq!(shown(None, RenderOptions { unknown_is_available: false, ..OPTS }), Shown::Offline);
        let mut e = Entity::default();
        e.set_registration(Registration { registered: false, call_count: 0 });
        e.set_status(Source::Api, Some(Status { basic: Basic::Open, note: None, dnd: true, on_the_phone: false }));
        assert_eq!(shown(Some(&e), OPTS), Shown::Offline, "unregistered beats DND");
        e.set_registration(Registration { registered: true, call_count: 1 });
        assert_eq!(shown(Some(&e), OPTS), Shown::OnThePhoneDoNotDisturb);
        e.set_status(Source::Api, Some(Status { basic: Basic::Closed, note: None, dnd: false, on_the_phone: false }));
        assert_eq!(shown(Some(&e), OPTS), Shown::OnThePhone);
        e.set_registration(Registration { registered: true, call_count: 0 });
        assert_eq!(shown(Some(&e), OPTS), Shown::Offline, "a pushed closed status alone is offline");
    }

    #[test]
    fn neutral_documents() {
        let w = Watcher { version: 0, seen_change: 0, profile: None };
        let mwi = render("sip:a@b", None, Format::MessageSummary, w, OPTS).unwrap();
        assert!(mwi.starts_with("Messages-Waiting: no\r\n") && mwi.contains("0/0 (0/0)"));
        let off = RenderOptions { zero_voicemail_when_unknown: false, ..OPTS };
        assert_eq!(render("sip:a@b", None, Format::MessageSummary, w, off), None);
        let idle = render("sip:a@b", None, Format::DialogInfo, w, OPTS).unwrap();
        assert!(idle.ends_with(r#"version="0" state="full" entity="sip:a@b"></dialog-info>"#));
    }

    #[test]
    fn dnd_lights_blf_keys_unless_disabled() {
        let w = Watcher { version: 0, seen_change: 0, profile: None };
        let mut e = Entity::default();
        e.set_status(Source::Api, Some(Status { basic: Basic::Open, note: None, dnd: true, on_the_phone: false }));
        let lamp = render("sip:a@b", Some(&e), Format::DialogInfo, w, OPTS).unwrap();
        let doc = dialog_info::parse(lamp.as_bytes()).unwrap();
        assert_eq!(
            doc.calls.iter().map(|c| (c.call_id.as_str(), c.state)).collect::<Vec<_>>(),
            vec![("dnd", CallState::Confirmed)]
        );
        let off = RenderOptions { dnd_as_busy_lamp: false, ..OPTS };
        assert!(
            dialog_info::parse(render("sip:a@b", Some(&e), Format::DialogInfo, w, off).unwrap().as_bytes())
                .unwrap()
                .calls
                .is_empty()
        );
    }
}
