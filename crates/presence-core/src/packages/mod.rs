//! The event packages served (RFC 6665 §7): `presence` (RFC 3856), `dialog` (RFC 4235),
//! `message-summary` (RFC 3842) and BroadWorks' `as-feature-event`, each with the body formats it offers, choosing a format
//! from a SUBSCRIBE's Accept header (q-values honoured, order breaks ties), and writing the
//! document a watcher is sent, one file per package.

mod dialog;
mod feature_event;
mod message_summary;
mod presence;
pub(crate) mod rlmi;

use sip_proto::header::MediaType;

use crate::bodies::Format;
use crate::entities::{Entity, RenderOptions};
use crate::features::FeatureState;
use crate::profiles::DeviceProfile;

/// An event package.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Package {
    Presence,
    Dialog,
    MessageSummary,
    /// Feature-key synchronisation: a phone's own DND and forwarding (docs/feature-keys.md).
    AsFeatureEvent,
}

/// Every package, in the order `Allow-Events` lists them.
pub(crate) const PACKAGES: [Package; 4] =
    [Package::Presence, Package::Dialog, Package::MessageSummary, Package::AsFeatureEvent];

impl Package {
    pub(crate) fn from_event(name: &str) -> Option<Package> {
        PACKAGES.into_iter().find(|p| p.name().eq_ignore_ascii_case(name))
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Package::Presence => "presence",
            Package::Dialog => "dialog",
            Package::MessageSummary => "message-summary",
            Package::AsFeatureEvent => "as-feature-event",
        }
    }

    /// Whether a PUBLISH may carry its state (RFC 3903 §4): a feature key sets its settings
    /// by SUBSCRIBE, and nothing publishes them.
    pub(crate) fn publishable(self) -> bool {
        self != Package::AsFeatureEvent
    }

    /// Formats offered, the default (used when Accept is absent) first.
    pub(crate) fn formats(self) -> &'static [Format] {
        match self {
            Package::Presence => &[Format::Pidf, Format::Xpidf],
            Package::Dialog => &[Format::DialogInfo],
            Package::MessageSummary => &[Format::MessageSummary],
            Package::AsFeatureEvent => &[Format::FeatureEvent],
        }
    }

    /// The format to send: `preferred` (a device profile's) when it is offered and
    /// acceptable; else the package default without Accept, otherwise the offered format with
    /// the highest q (earlier ranges win ties). `None` means 406.
    pub(crate) fn negotiate(self, accept: Option<&[MediaType]>, preferred: Option<Format>) -> Option<Format> {
        if let Some(preferred) = preferred.filter(|f| self.formats().contains(f))
            && accept.is_none_or(|ranges| quality_of(ranges, preferred) > 0)
        {
            return Some(preferred);
        }
        let Some(ranges) = accept else { return self.formats().first().copied() };
        let mut best: Option<(u32, Format)> = None;
        for range in ranges {
            let q = quality(range);
            if q == 0 {
                continue;
            }
            let offered = self.formats().iter().find(|f| range.covers(f.content_type()));
            if let Some(format) = offered
                && best.is_none_or(|(best_q, _)| q > best_q)
            {
                best = Some((q, *format));
            }
        }
        best.map(|(_, f)| f)
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
    /// What a feature key was last sent (`None`: nothing it surely has).
    pub(crate) features_sent: Option<&'a FeatureState>,
}

/// A document for one watcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Body {
    pub(crate) text: String,
    /// Calls left out so that the document fits in a datagram (see `dialog.rs`).
    pub(crate) calls_left_out: usize,
    /// The media type when it is not the format's own (several feature events are the parts
    /// of a `multipart/mixed` body).
    pub(crate) content_type: Option<String>,
}

impl From<String> for Body {
    fn from(text: String) -> Self {
        Body { text, calls_left_out: 0, content_type: None }
    }
}

/// The body for `format`, or `None` when there is nothing to say (yet, or nothing new to a
/// feature key).
pub(crate) fn render(
    entity_uri: &str,
    entity: Option<&Entity>,
    format: Format,
    watcher: Watcher,
    options: RenderOptions,
) -> Option<Body> {
    match format {
        Format::Pidf => Some(presence::pidf(entity_uri, entity, watcher, options).into()),
        Format::Xpidf => Some(presence::xpidf(entity_uri, entity, options).into()),
        Format::DialogInfo => Some(dialog::dialog_info(entity_uri, entity, watcher, options)),
        Format::MessageSummary => message_summary::summary(entity_uri, entity, watcher, options).map(Body::from),
        Format::FeatureEvent => feature_event::events(entity_uri, entity, watcher, options),
    }
}

/// The q-value `ranges` give `format`: that of the most specific range covering it (RFC 3261
/// §20.1 takes Accept from HTTP, where `type/subtype` overrides `type/*`, which overrides
/// `*/*`); 0 when none covers it.
fn quality_of(ranges: &[MediaType], format: Format) -> u32 {
    let specificity = |r: &&MediaType| u8::from(r.kind != "*") + u8::from(r.subtype != "*");
    let covering = ranges.iter().filter(|r| r.covers(format.content_type()));
    covering.rev().max_by_key(specificity).map_or(0, quality)
}

/// The q-value in thousandths (RFC 3261 §20.1). Reading the Accept header checked every
/// range's q (`Headers::accept`, a 400 otherwise), so it reads here.
fn quality(range: &MediaType) -> u32 {
    range.quality().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::{Basic, dialog_info};
    use crate::call::CallState;
    use crate::entities::{Source, Status};

    fn accept(list: &[&str]) -> Vec<MediaType> {
        list.iter().map(|m| MediaType::parse(m).unwrap()).collect()
    }

    #[test]
    fn defaults_and_order() {
        assert_eq!(Package::Presence.negotiate(None, None), Some(Format::Pidf));
        assert_eq!(Package::MessageSummary.negotiate(None, None), Some(Format::MessageSummary));
        let polycom = accept(&["application/xpidf+xml", "application/pidf+xml"]);
        assert_eq!(Package::Presence.negotiate(Some(&polycom), None), Some(Format::Xpidf));
        let spaced = accept(&["application/xml", " application/pidf+xml"]);
        assert_eq!(Package::Presence.negotiate(Some(&spaced), None), Some(Format::Pidf), "the seed answered 406 here");
    }

    #[test]
    fn q_values_and_wildcards() {
        let q = accept(&["application/xpidf+xml;q=0.5", "application/pidf+xml;q=1"]);
        assert_eq!(Package::Presence.negotiate(Some(&q), None), Some(Format::Pidf));
        let zero = accept(&["application/pidf+xml;q=0", "application/xpidf+xml"]);
        assert_eq!(Package::Presence.negotiate(Some(&zero), None), Some(Format::Xpidf));
        assert_eq!(Package::Dialog.negotiate(Some(&accept(&["*/*"])), None), Some(Format::DialogInfo));
        assert_eq!(Package::Dialog.negotiate(Some(&accept(&["application/pidf+xml"])), None), None);
        assert_eq!(Package::Presence.negotiate(Some(&[]), None), None, "an empty Accept accepts nothing");
    }

    #[test]
    fn a_profiles_preferred_format_wins_only_where_it_is_acceptable() {
        let xpidf = Some(Format::Xpidf);
        let both = accept(&["application/pidf+xml", "application/xpidf+xml"]);
        assert_eq!(Package::Presence.negotiate(Some(&both), xpidf), Some(Format::Xpidf));
        assert_eq!(Package::Presence.negotiate(None, xpidf), Some(Format::Xpidf));
        let pidf_only = accept(&["application/pidf+xml"]);
        assert_eq!(Package::Presence.negotiate(Some(&pidf_only), xpidf), Some(Format::Pidf));
        let refused = accept(&["application/pidf+xml", "application/xpidf+xml;q=0"]);
        assert_eq!(Package::Presence.negotiate(Some(&refused), xpidf), Some(Format::Pidf));
        let refused_despite_wildcard = accept(&["application/xpidf+xml;q=0", "application/pidf+xml", "*/*;q=0.1"]);
        assert_eq!(Package::Presence.negotiate(Some(&refused_despite_wildcard), xpidf), Some(Format::Pidf));
        assert_eq!(Package::Presence.negotiate(Some(&accept(&["*/*"])), xpidf), Some(Format::Xpidf));
        assert_eq!(Package::Dialog.negotiate(None, xpidf), Some(Format::DialogInfo), "not this package's format");
    }

    #[test]
    fn event_names_fold_case() {
        assert_eq!(Package::from_event("Message-Summary"), Some(Package::MessageSummary));
        assert_eq!(Package::from_event("talk"), None);
    }

    const OPTS: RenderOptions = RenderOptions {
        unknown_is_available: true,
        zero_voicemail_when_unknown: true,
        dnd_rule: crate::entities::DndRule::Any,
        device_dnd_rule: crate::entities::DndRule::All,
        dnd_as_busy_lamp: true,
    };

    #[test]
    fn neutral_documents() {
        let w = Watcher { version: 0, seen_change: 0, profile: None, features_sent: None };
        let mwi = render("sip:a@b", None, Format::MessageSummary, w, OPTS).unwrap().text;
        assert!(mwi.starts_with("Messages-Waiting: no\r\n") && mwi.contains("0/0 (0/0)"));
        let off = RenderOptions { zero_voicemail_when_unknown: false, ..OPTS };
        assert_eq!(render("sip:a@b", None, Format::MessageSummary, w, off), None);
        let idle = render("sip:a@b", None, Format::DialogInfo, w, OPTS).unwrap().text;
        assert!(idle.ends_with(r#"version="0" state="full" entity="sip:a@b"></dialog-info>"#));
    }

    #[test]
    fn dnd_lights_blf_keys_unless_disabled() {
        let w = Watcher { version: 0, seen_change: 0, profile: None, features_sent: None };
        let mut e = Entity::default();
        e.set_status(Source::Api, Some(Status { basic: Basic::Open, note: None, dnd: true, on_the_phone: false }));
        let lamp = render("sip:a@b", Some(&e), Format::DialogInfo, w, OPTS).unwrap().text;
        let doc = dialog_info::parse(lamp.as_bytes()).unwrap();
        assert_eq!(
            doc.calls.iter().map(|c| (c.call_id.as_str(), c.state)).collect::<Vec<_>>(),
            vec![("dnd", CallState::Confirmed)]
        );
        let off = RenderOptions { dnd_as_busy_lamp: false, ..OPTS };
        assert!(
            dialog_info::parse(render("sip:a@b", Some(&e), Format::DialogInfo, w, off).unwrap().text.as_bytes())
                .unwrap()
                .calls
                .is_empty()
        );
    }
}
