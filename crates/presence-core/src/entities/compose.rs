//! Composition: what a watcher is shown of an entity (offline, available, on the phone, do
//! not disturb) from every source's report, and the settings that shape it. The rules are
//! ours, written down in docs/architecture.md ("Composition"): unregistered is offline; DND
//! and calls from every source combine; a pushed `closed` status with nothing else is
//! offline; an entity nothing is known about is shown as the operator chose.

use crate::bodies::Basic;

use super::{DndRule, Entity, Status};

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
    pub(crate) fn default_note(self) -> &'static str {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entities::{Registration, Source};

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
}
