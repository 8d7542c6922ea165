//! The `message-summary` package (RFC 3842): the message-waiting lamp and counts, with zero
//! counts while no voicemail system has reported when the operator wants them (the seed's
//! `dummyvoicemail`), and urgent counts written as the watcher's device profile needs.

use crate::bodies::mwi::{self, MessageCounts, UrgentCounts};
use crate::entities::{Entity, RenderOptions};

use super::Watcher;

/// The message summary, or `None` when nothing is known and zero counts are not wanted.
pub(super) fn summary(
    entity_uri: &str,
    entity: Option<&Entity>,
    watcher: Watcher,
    options: RenderOptions,
) -> Option<String> {
    let counts = entity.and_then(|e| e.voicemail);
    let counts = counts.or(options.zero_voicemail_when_unknown.then(MessageCounts::default))?;
    let urgent = watcher.profile.map_or(UrgentCounts::Parenthesized, |p| p.mwi_urgent_counts);
    Some(mwi::write(entity_uri, &counts, urgent))
}
