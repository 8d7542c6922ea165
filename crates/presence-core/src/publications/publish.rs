//! Taking a PUBLISH (RFC 3903 §6): create, refresh, modify or remove a publication, each
//! 2xx with a fresh entity-tag; and what the publication then says about its entity, for
//! the engine to apply once the response is sent.

use std::time::Duration;

use sip_proto::uri::Uri;
use sip_proto::{HeaderName, Response};

use crate::admission::Over;
use crate::context::Ctx;
use crate::effects::TimerKey;
use crate::entities::{Source, Update};
use crate::entity_key::EntityKey;
use crate::ids::PublicationId;
use crate::packages::Package;
use crate::peer::Peer;
use crate::request::{Incoming, with_allow_events};

use super::Publications;
use super::content::{self, Content};
use super::publication::Publication;

impl Publications {
    /// Handles a PUBLISH: its response, and what changed for which entity.
    pub(crate) fn on_publish(
        &mut self,
        req: &Incoming,
        source: Peer,
        cx: &mut Ctx<'_>,
    ) -> (Response, Option<(EntityKey, Update)>) {
        let config = cx.config;
        let package = req.event.as_ref().and_then(|e| Package::from_event(&e.package));
        let Some(package) = package.filter(|p| p.publishable()) else {
            return (with_allow_events(req.answer(489)), None);
        };
        let Uri::Sip(target) = &req.request.uri else { return (req.answer(416), None) };
        let entity = config.entity_key(&target.aor());
        let expires = match config.publish_expiry.grant(req.expires, &req.request) {
            Ok(expires) => expires,
            Err(refusal) => return (refusal, None),
        };
        let content = if req.request.body.is_empty() {
            None
        } else {
            match content::parse(req, package) {
                Ok(content) => Some(content),
                Err(refusal) => return (refusal, None),
            }
        };
        let id = match (&req.sip_if_match, &content) {
            (Some(etag), _) => match self.table.by_etag(&entity, package, etag) {
                Some(id) => id,
                // RFC 3903 §6 step 3: an unknown or expired entity-tag.
                None => return (req.answer(412), None),
            },
            (None, None) => {
                return (req.answer(400).with_reason("PUBLISH Without Body or SIP-If-Match"), None);
            }
            (None, Some(_)) if expires == 0 => {
                return (req.answer(400).with_reason("Initial PUBLISH With Expires 0"), None);
            }
            (None, Some(_)) => {
                let device = device_of(req, source);
                match self.table.by_device(&entity, package, &device) {
                    // The same device publishing afresh (it lost its entity-tag): replace.
                    Some(id) => id,
                    None if self.table.count_of_entity(&entity) >= config.max_publications_per_entity => {
                        return (busy(req, "Too Many Publications"), None);
                    }
                    None if let Some(over) = self.table.over_quota(source.addr.ip(), &config.limits) => {
                        let reason = match over {
                            Over::Total => "Publication Table Full",
                            Over::Source => "Too Many Publications From This Source",
                        };
                        return (busy(req, reason), None);
                    }
                    None => {
                        let id = PublicationId(cx.fx.ids.number());
                        self.table.insert(
                            id,
                            Publication {
                                entity: entity.clone(),
                                package,
                                etag: String::new(),
                                expires_at: cx.now,
                                device,
                                source: source.addr.ip(),
                                dialog_version: None,
                                body: (String::new(), String::new()),
                            },
                        );
                        id
                    }
                }
            }
        };
        if expires == 0 {
            let withdrawn = self.remove(id, cx.fx);
            let mut ok = req.answer(200);
            ok.headers.push(HeaderName::Expires, "0");
            return (ok, withdrawn);
        }
        let etag = cx.fx.ids.token();
        self.table.retag(id, etag.clone());
        let expires_at = cx.now + Duration::from_secs(expires.into());
        if let Some(p) = self.table.get_mut(id) {
            p.expires_at = expires_at;
        }
        cx.fx.set_deadline(TimerKey::PublicationExpiry(id), Some(expires_at));
        let update = content.and_then(|content| {
            if let Some(p) = self.table.get_mut(id) {
                p.body = (req.content_essence(), String::from_utf8_lossy(&req.request.body).into_owned());
            }
            self.accept_content(id, content, &mut cx.fx.stats)
        });
        self.store(id, cx.fx);
        let mut ok = req.answer(200);
        ok.headers.push(HeaderName::SipEtag, etag);
        ok.headers.push(HeaderName::Expires, expires.to_string());
        (ok, update)
    }

    /// What a publication's new content says about its entity; `None` for a dialog-info
    /// document older than one already applied (out-of-order PUBLISHes).
    pub(super) fn accept_content(
        &mut self,
        id: PublicationId,
        content: Content,
        stats: &mut crate::stats::Stats,
    ) -> Option<(EntityKey, Update)> {
        let publication = self.table.get_mut(id)?;
        if let Content::Dialogs(doc) = &content {
            if publication.dialog_version.is_some_and(|seen| doc.version < seen) {
                stats.stale_publications += 1;
                return None;
            }
            publication.dialog_version = Some(doc.version);
        }
        Some((publication.entity.clone(), content.update(Source::Publication(id))))
    }
}

/// 503 with Retry-After: a table is full for now.
fn busy(req: &Incoming, reason: &'static str) -> Response {
    let mut busy = req.answer(503).with_reason(reason);
    busy.headers.push(HeaderName::RetryAfter, "60");
    busy
}

/// What tells one publishing device from another of the same user: its Contact when it
/// sends one, else the address it published from.
fn device_of(req: &Incoming, source: Peer) -> String {
    let from = req.from.uri.to_string();
    let contact = req.request.headers.get(&HeaderName::Contact).map(str::to_owned);
    format!("{from} {}", contact.unwrap_or_else(|| source.addr.to_string()))
}
