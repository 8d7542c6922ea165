//! The event state compositor role (RFC 3903 §6): PUBLISH creates, refreshes, modifies and
//! removes publications; each live publication is one source of its entity's state, and
//! its state goes away with it (removal or expiry).

use std::time::{Duration, Instant};

use sip_proto::uri::Uri;
use sip_proto::{HeaderName, Request, Response};

use crate::bodies::{BodyError, Format, dialog_info, mwi, pidf, xpidf};
use crate::engine::{Engine, TimerKey};
use crate::entity::{Source, Status};
use crate::handlers::with_allow_events;
use crate::package::Package;
use crate::peer::Peer;
use crate::publication::{Publication, PublicationId};

/// A parsed PUBLISH body.
enum Content {
    Presence(Status),
    Dialogs(dialog_info::DialogInfo),
    Voicemail(mwi::MessageCounts),
}

impl Engine {
    /// Handles a PUBLISH and returns its response.
    pub(crate) fn on_publish(&mut self, req: &Request, source: Peer, now: Instant) -> Response {
        let event = req.headers.event().ok().flatten();
        let Some(package) = event.as_ref().and_then(|e| Package::from_event(&e.package)) else {
            return with_allow_events(Response::to(req, 489));
        };
        let Uri::Sip(target) = &req.uri else { return Response::to(req, 416) };
        let entity = self.config.entity_key(&target.aor());
        let expires = match self.config.publish_expiry.grant(req.headers.expires().ok().flatten(), req) {
            Ok(expires) => expires,
            Err(refusal) => return refusal,
        };
        let content = if req.body.is_empty() {
            None
        } else {
            match parse_content(req, package) {
                Ok(content) => Some(content),
                Err(refusal) => return refusal,
            }
        };
        let if_match = req.headers.sip_if_match().ok().flatten();
        let id = match (if_match, &content) {
            (Some(etag), _) => match self.publications.by_etag(&entity, package, &etag) {
                Some(id) => id,
                // RFC 3903 §6 step 3: an unknown or expired entity-tag.
                None => return Response::to(req, 412),
            },
            (None, None) => return Response::to(req, 400).with_reason("PUBLISH Without Body or SIP-If-Match"),
            (None, Some(_)) if expires == 0 => {
                return Response::to(req, 400).with_reason("Initial PUBLISH With Expires 0");
            }
            (None, Some(_)) => {
                let device = device_of(req, source);
                match self.publications.by_device(&entity, package, &device) {
                    // The same device publishing afresh (it lost its entity-tag): replace.
                    Some(id) => id,
                    None if self.publications.count_of_entity(&entity) >= self.config.max_publications_per_entity => {
                        let mut busy = Response::to(req, 503).with_reason("Too Many Publications");
                        busy.headers.push(HeaderName::RetryAfter, "60");
                        return busy;
                    }
                    None => self.publications.insert(Publication {
                        entity: entity.clone(),
                        package,
                        etag: String::new(),
                        expires_at: now,
                        device,
                        dialog_version: None,
                        body: (String::new(), String::new()),
                    }),
                }
            }
        };
        if expires == 0 {
            self.remove_publication(id, now);
            let mut ok = Response::to(req, 200);
            ok.headers.push(HeaderName::Expires, "0");
            return ok;
        }
        let etag = self.ids.token();
        self.publications.retag(id, etag.clone());
        let expires_at = now + Duration::from_secs(expires.into());
        if let Some(p) = self.publications.get_mut(id) {
            p.expires_at = expires_at;
        }
        self.deadlines.set(TimerKey::PublicationExpiry(id), Some(expires_at));
        if let Some(content) = content {
            let content_type = req.headers.content_type().ok().flatten().map(|t| t.essence()).unwrap_or_default();
            if let Some(p) = self.publications.get_mut(id) {
                p.body = (content_type, String::from_utf8_lossy(&req.body).into_owned());
            }
            self.apply_publication(id, content, now);
        }
        self.persist_publication(id);
        let mut ok = Response::to(req, 200);
        ok.headers.push(HeaderName::SipEtag, etag);
        ok.headers.push(HeaderName::Expires, expires.to_string());
        ok
    }

    /// A publication expired or was removed: its state leaves the entity.
    pub(crate) fn remove_publication(&mut self, id: PublicationId, now: Instant) {
        self.deadlines.set(TimerKey::PublicationExpiry(id), None);
        let Some(publication) = self.publications.remove(id) else { return };
        self.persist(presence_store::Change::DeletePublication(id));
        let limits = self.config.calls;
        let Some(entity) = self.entities.get_mut(&publication.entity) else { return };
        let source = Source::Publication(id);
        let changed = match publication.package {
            Package::Presence => entity.set_status(source, None),
            Package::Dialog => entity.end_calls_of(source, &limits, now),
            Package::MessageSummary => entity.set_voicemail(source, None),
        };
        self.entity_changed(&publication.entity, changed, now);
    }

    fn apply_publication(&mut self, id: PublicationId, content: Content, now: Instant) {
        let Some(publication) = self.publications.get_mut(id) else { return };
        let entity_key = publication.entity.clone();
        if let Content::Dialogs(doc) = &content {
            // Out-of-order PUBLISHes: a document older than one already applied is stale.
            if publication.dialog_version.is_some_and(|seen| doc.version < seen) {
                self.stats.stale_publications += 1;
                return;
            }
            publication.dialog_version = Some(doc.version);
        }
        let limits = self.config.calls;
        let source = Source::Publication(id);
        let entity = self.entities.entry(entity_key.clone()).or_default();
        let changed = match content {
            Content::Presence(status) => entity.set_status(source, Some(status)),
            Content::Voicemail(counts) => entity.set_voicemail(source, Some(counts)),
            Content::Dialogs(doc) => entity.apply_dialog_info(source, doc, &limits, now),
        };
        self.entity_changed(&entity_key, changed, now);
    }
}

/// Restores publication `id` from storage: its record, then its state from its body.
impl Engine {
    pub(crate) fn restore_publication(&mut self, id: PublicationId, publication: Publication, now: Instant) {
        let (content_type, body) = publication.body.clone();
        let package = publication.package;
        let expires_at = publication.expires_at;
        self.publications.insert_with_id(id, publication);
        self.deadlines.set(TimerKey::PublicationExpiry(id), Some(expires_at));
        if let Ok(content) = read_content(&content_type, body.as_bytes(), package) {
            self.apply_publication(id, content, now);
        }
    }
}

/// Parses the body for `package`, or the refusal: 415 with Accept for a type the package
/// does not take (RFC 3903 §6 step 2), 400 naming why for a body that does not parse.
fn parse_content(req: &Request, package: Package) -> Result<Content, Response> {
    let essence = req.headers.content_type().ok().flatten().map(|t| t.essence()).unwrap_or_default();
    read_content(&essence, &req.body, package).map_err(|e| match e {
        None => {
            let mut refusal = Response::to(req, 415);
            let accepted: Vec<&str> = package.formats().iter().map(|f| f.content_type()).collect();
            refusal.headers.push(HeaderName::Accept, accepted.join(", "));
            refusal
        }
        Some(e) => Response::to(req, 400).with_reason(format!("Bad {essence} Body: {e}")),
    })
}

/// Parses a body of `content_type` for `package`: `Err(None)` for a type the package does
/// not take, `Err(Some(why))` for a body that does not parse.
fn read_content(content_type: &str, body: &[u8], package: Package) -> Result<Content, Option<BodyError>> {
    let format = package.formats().iter().copied().find(|f| f.content_type() == content_type).ok_or(None)?;
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
    })
}

/// What tells one publishing device from another of the same user: its Contact when it
/// sends one, else the address it published from.
fn device_of(req: &Request, source: Peer) -> String {
    let from = req.headers.from().map(|f| f.uri.to_string()).unwrap_or_default();
    let contact = req.headers.get(&HeaderName::Contact).map(str::to_owned);
    format!("{from} {}", contact.unwrap_or_else(|| source.addr.to_string()))
}
