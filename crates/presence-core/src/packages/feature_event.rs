//! The `as-feature-event` package (BroadWorks device feature-key synchronisation,
//! docs/feature-keys.md): what a phone's feature keys are shown of its own user, DND as every
//! package composes it and the forwarding settings. A NOTIFY carries the events that differ
//! from what the key was last sent, all of them when it surely has nothing (the first NOTIFY,
//! a refresh, a NOTIFY sent again after one was lost), and none is sent when nothing differs.

use crate::bodies::feature_event::{self, FeatureEvent};
use crate::entities::{Entity, RenderOptions};
use crate::features::{FORWARD_KINDS, FeatureState};

use super::{Body, Watcher};

/// The events for `watcher`, one document or the parts of a `multipart/mixed` body; `None`
/// when none differs from what it was last sent.
pub(super) fn events(
    entity_uri: &str,
    entity: Option<&Entity>,
    watcher: Watcher,
    options: RenderOptions,
) -> Option<Body> {
    let shown = entity.map(|e| e.feature_state(options)).unwrap_or_default();
    let events = differing(&shown, watcher.features_sent);
    if events.is_empty() {
        return None;
    }
    // The device is the user part: phones echo it and do not act on it.
    let user = entity_uri.strip_prefix("sip:").unwrap_or(entity_uri);
    let device = user.split_once('@').map_or(user, |(user, _)| user);
    let written = feature_event::write(device, &events);
    Some(Body { text: written.text, calls_left_out: 0, content_type: Some(written.content_type) })
}

/// The events of `shown` that differ from `sent` (all of them without `sent`).
fn differing<'a>(shown: &'a FeatureState, sent: Option<&FeatureState>) -> Vec<FeatureEvent<'a>> {
    let dnd = (sent.is_none_or(|s| s.dnd != shown.dnd)).then_some(FeatureEvent::Dnd(shown.dnd));
    let forwards = FORWARD_KINDS.into_iter().filter(|k| sent.is_none_or(|s| s.forward(*k) != shown.forward(*k)));
    dnd.into_iter().chain(forwards.map(|k| FeatureEvent::Forward(k, shown.forward(k)))).collect()
}
