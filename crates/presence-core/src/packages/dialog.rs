//! The `dialog` package (RFC 4235): BLF documents listing the entity's calls, with ended
//! calls shown once as terminated, DND shown as a busy lamp where configured, and the
//! watcher's device profile shaping the calls (single dialog, idle dummy, pickup target).
//!
//! A document is kept under [`MAX_DOCUMENT_BYTES`], so that its NOTIFY fits in a UDP datagram
//! (65 507 bytes) with its headers: calls whose identifiers and parties are long can add up
//! past it, and a NOTIFY that cannot be sent at all would leave the watcher with nothing.
//! Calls are left out until it fits, ended ones first (they are shown once anyway), then from
//! the end of the list; the notifier counts each trimmed document.

use crate::bodies::dialog_info::{self, Parties};
use crate::call::{Call, CallState};
use crate::entities::{Entity, RenderOptions, Shown, shown};
use crate::profiles::IDLE_DUMMY_ID;

use super::{Body, Watcher};

/// The Call-ID of the pseudo-dialog that shows DND on BLF keys.
const DND_DIALOG_ID: &str = "dnd";

/// Longest dialog-info document written, in bytes: a datagram's 65 507 less room for the
/// NOTIFY's headers.
pub(crate) const MAX_DOCUMENT_BYTES: usize = 60 * 1024;

/// The full dialog-info document for one watcher (its `version` is the watcher's).
pub(super) fn dialog_info(entity_uri: &str, entity: Option<&Entity>, watcher: Watcher, options: RenderOptions) -> Body {
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
    let mut calls_left_out = 0;
    loop {
        let text = dialog_info::write(entity_uri, display, watcher.version, &calls, parties);
        if text.len() <= MAX_DOCUMENT_BYTES || calls.is_empty() {
            return Body { text, calls_left_out, content_type: None };
        }
        let ended = calls.iter().rposition(|c| c.state == CallState::Terminated);
        calls.remove(ended.unwrap_or(calls.len() - 1));
        calls_left_out += 1;
    }
}
