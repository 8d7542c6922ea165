//! The `presence` package (RFC 3856): what a presence watcher is shown, written as PIDF with
//! RPID activities (RFC 3863, RFC 4480) or as the Polycom XPIDF form.

use crate::bodies::Basic;
use crate::bodies::pidf::{self, Activity, PidfDocument};
use crate::bodies::xpidf::{self, XpidfState};
use crate::entities::{Entity, RenderOptions, Shown, shown, shown_with_status};

use super::Watcher;

/// The PIDF document: basic status, RPID activities, and the note (the most recent one any
/// source gave, else one saying what is shown).
pub(super) fn pidf(entity_uri: &str, entity: Option<&Entity>, watcher: Watcher, options: RenderOptions) -> String {
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
    pidf::write(&PidfDocument { entity: entity_uri, basic, note: Some(note), activities })
}

/// The XPIDF document (Polycom's form).
pub(super) fn xpidf(entity_uri: &str, entity: Option<&Entity>, options: RenderOptions) -> String {
    let state = match shown(entity, options) {
        Shown::Available => XpidfState::Available,
        Shown::OnThePhone => XpidfState::OnThePhone,
        Shown::DoNotDisturb => XpidfState::DoNotDisturb,
        Shown::OnThePhoneDoNotDisturb => XpidfState::OnThePhoneDoNotDisturb,
        Shown::Offline => XpidfState::Offline,
    };
    xpidf::write(entity_uri, state)
}
