//! Reading a PUBLISH body (RFC 3903 §6 step 2) into what it says about the entity: the
//! package decides which body types it takes, and a body that does not parse is refused
//! naming why.

use sip_proto::{HeaderName, Response};

use crate::bodies::{BodyError, Format, dialog_info, mwi, pidf, xpidf};
use crate::entities::{Source, Status, Update};
use crate::packages::Package;
use crate::request::Incoming;

/// A parsed PUBLISH body.
#[derive(Clone, Debug)]
pub(super) enum Content {
    Presence(Status),
    Dialogs(dialog_info::DialogInfo),
    Voicemail(mwi::MessageCounts),
}

impl Content {
    /// What the publication `source` now says about its entity.
    pub(super) fn update(self, source: Source) -> Update {
        match self {
            Content::Presence(status) => Update::Status(source, Some(status)),
            Content::Voicemail(counts) => Update::Voicemail(source, Some(counts)),
            Content::Dialogs(doc) => Update::DialogInfo(source, doc),
        }
    }
}

/// What a publication's going away withdraws from its entity (nothing for a package no
/// publication carries).
pub(super) fn withdrawal(package: Package, source: Source) -> Option<Update> {
    match package {
        Package::Presence => Some(Update::Status(source, None)),
        Package::Dialog => Some(Update::EndCalls(source)),
        Package::MessageSummary => Some(Update::Voicemail(source, None)),
        Package::AsFeatureEvent => None,
    }
}

/// Parses the body for `package`, or the refusal: 415 with Accept for a type the package
/// does not take (RFC 3903 §6 step 2), 400 naming why for a body that does not parse.
pub(super) fn parse(req: &Incoming, package: Package) -> Result<Content, Response> {
    let essence = req.content_essence();
    read(&essence, &req.request.body, package).map_err(|e| match e {
        None => {
            let mut refusal = req.answer(415);
            let accepted: Vec<&str> = package.formats().iter().map(|f| f.content_type()).collect();
            refusal.headers.push(HeaderName::Accept, accepted.join(", "));
            refusal
        }
        Some(e) => req.answer(400).with_reason(format!("Bad {essence} Body: {e}")),
    })
}

/// Parses a body of `content_type` for `package`: `Err(None)` for a type the package does
/// not take (any, for a package nothing publishes), `Err(Some(why))` for a body that does
/// not parse.
pub(super) fn read(content_type: &str, body: &[u8], package: Package) -> Result<Content, Option<BodyError>> {
    let offered = package.formats().iter().copied().filter(|_| package.publishable());
    let format = offered.into_iter().find(|f| f.content_type() == content_type).ok_or(None)?;
    Ok(match format {
        Format::Pidf | Format::Xpidf => {
            let report = if format == Format::Pidf { pidf::parse(body) } else { xpidf::parse(body) }.map_err(Some)?;
            Content::Presence(report.into())
        }
        Format::DialogInfo => Content::Dialogs(dialog_info::parse(body).map_err(Some)?),
        Format::MessageSummary => {
            let summary = mwi::parse(body).map_err(Some)?;
            // Without counts, "waiting" still has to light the lamp.
            let waiting = mwi::MessageCounts { new: u32::from(summary.waiting), ..mwi::MessageCounts::default() };
            Content::Voicemail(summary.voice.unwrap_or(waiting))
        }
        Format::FeatureEvent => return Err(None),
    })
}
