//! The `as-feature-event` package (BroadWorks device feature-key synchronisation,
//! docs/feature-keys.md): what a phone's feature keys are shown of its own user, DND as every
//! package composes it and the forwarding settings. A NOTIFY carries the events that changed
//! since the watcher's last one, and all of them when none did (the first, a refresh).

use crate::bodies::feature_event::{self, FeatureEvent};
use crate::entities::{Entity, RenderOptions};
use crate::features::{FORWARD_KINDS, Forwarding};

use super::{Body, Watcher};

/// The events for `watcher`, one document or the parts of a `multipart/mixed` body.
pub(super) fn events(entity_uri: &str, entity: Option<&Entity>, watcher: Watcher, options: RenderOptions) -> Body {
    // The device is the user part: phones echo it and do not act on it.
    let user = entity_uri.strip_prefix("sip:").unwrap_or(entity_uri);
    let device = user.split_once('@').map_or(user, |(user, _)| user);
    let nothing_set = Forwarding::default();
    let written = match entity {
        Some(e) => feature_event::write(device, &e.feature_events_since(watcher.seen_change, options)),
        None => {
            let events = std::iter::once(FeatureEvent::Dnd(false));
            let events: Vec<_> = events.chain(FORWARD_KINDS.map(|k| FeatureEvent::Forward(k, &nothing_set))).collect();
            feature_event::write(device, &events)
        }
    };
    Body { text: written.text, calls_left_out: 0, content_type: Some(written.content_type) }
}
