//! Our SUBSCRIBEs to a phone (RFC 6665 §4.1.2): the initial one in each configured package,
//! refreshes at three quarters of the granted time, the answer to the phone's digest
//! challenge (RFC 3261 §22.2), and the unsubscribe.

use std::time::Duration;

use sip_proto::dialog::Dialog;
use sip_proto::transaction::ClientKey;
use sip_proto::{HeaderName, Method, Request, Response};

use crate::auth;
use crate::client_transactions::Purpose;
use crate::context::Ctx;
use crate::effects::TimerKey;
use crate::entities::Update;
use crate::entity_key::EntityKey;
use crate::ids::WatchId;
use crate::packages::Package;

use super::watch::Watch;
use super::{Phone, Phones};

/// Phone challenges we answer per subscription before giving up.
const MAX_AUTH_TRIES: u8 = 2;

impl Phones {
    /// Starts watching `phone`, if it accepts SUBSCRIBE, in each configured package it is not
    /// watched in yet (a restart may have restored some).
    pub(crate) fn watch(&mut self, phone: &Phone, cx: &mut Ctx<'_>) {
        if !phone.accepts_subscribe || cx.config.subscribe_back.is_empty() {
            return;
        }
        let watched: Vec<Package> = (self.watches.of_binding(&phone.aor, &phone.key).iter())
            .filter_map(|id| self.watches.get(*id))
            .filter(|w| !w.ending)
            .map(|w| w.package)
            .collect();
        let our_host = match phone.target.as_sip() {
            _ if !phone.peer.local.ip().is_unspecified() => phone.peer.local_host(),
            Some(_) => phone.aor.domain().to_owned(),
            None => return,
        };
        for package in &cx.config.subscribe_back {
            let Some(package) = Package::from_event(package).filter(|p| !watched.contains(p)) else { continue };
            let id = WatchId(cx.fx.ids.number());
            let watch = Watch {
                entity: phone.aor.clone(),
                contact: phone.contact.clone(),
                binding_key: phone.key.clone(),
                package,
                peer: phone.peer,
                target: phone.target.clone(),
                route: phone.route.clone(),
                call_id: format!("{}@{our_host}", cx.fx.ids.token()),
                local_tag: cx.fx.ids.token(),
                our_host: our_host.clone(),
                cseq: 0,
                dialog: None,
                auth_tries: 0,
                ending: false,
                last_request: Request::new(Method::Subscribe, phone.target.clone()),
                reported: None,
            };
            self.watches.insert(id, watch);
            self.send_subscribe(id, None, cx);
        }
    }

    /// Sends the watch's SUBSCRIBE: initial (or re-sent with credentials) before the dialog
    /// exists, a refresh or `Expires: 0` within it.
    pub(super) fn send_subscribe(
        &mut self,
        id: WatchId,
        authorization: Option<(HeaderName, String)>,
        cx: &mut Ctx<'_>,
    ) {
        let branch = cx.fx.ids.branch();
        let config = cx.config;
        let Some(w) = self.watches.get_mut(id) else { return };
        let mut req = match w.dialog.as_mut() {
            Some(dialog) => dialog.request(Method::Subscribe),
            None => {
                w.cseq += 1;
                let mut req = Request::new(Method::Subscribe, w.target.clone());
                let h = &mut req.headers;
                h.push(HeaderName::From, format!("<sip:presence@{}>;tag={}", w.our_host, w.local_tag));
                h.push(HeaderName::To, format!("<sip:{}>", w.entity));
                h.push(HeaderName::CallId, w.call_id.clone());
                h.push(HeaderName::CSeq, format!("{} SUBSCRIBE", w.cseq));
                h.push(HeaderName::MaxForwards, "70");
                for route in &w.route {
                    h.push(HeaderName::Route, route.to_string());
                }
                req
            }
        };
        let h = &mut req.headers;
        h.prepend(HeaderName::Via, w.peer.via(&w.our_host, &branch));
        h.push(HeaderName::Contact, w.peer.contact(Some("presence"), &w.our_host));
        h.push(HeaderName::Event, w.package.name());
        let accept: Vec<&str> = w.package.formats().iter().map(|f| f.content_type()).collect();
        h.push(HeaderName::Accept, accept.join(", "));
        h.push(HeaderName::Expires, if w.ending { 0 } else { config.subscribe_back_expires }.to_string());
        h.push(HeaderName::UserAgent, config.server_name.clone());
        if let Some((name, value)) = authorization {
            h.push(name, value);
        }
        w.last_request = req.clone();
        let destination = w.peer;
        let key = ClientKey { branch, method: Method::Subscribe.to_string() };
        cx.client.send(key, req.encode(), destination, Purpose::Watch(id), config, cx.fx, cx.now);
    }

    /// Our SUBSCRIBE to a phone ended with `response` (`None`: it timed out); returns what
    /// leaves the entity when that ends the watch.
    pub(crate) fn subscribe_outcome(
        &mut self,
        id: WatchId,
        response: Option<&Response>,
        cx: &mut Ctx<'_>,
    ) -> Option<(EntityKey, Update)> {
        let config = cx.config;
        let w = self.watches.get_mut(id)?;
        let Some(response) = response else { return self.stop(id, false, cx) };
        if w.ending {
            // RFC 6665 §4.1.2.3: a final NOTIFY follows our unsubscribe; keep the watch to
            // answer it, for at most 64*T1.
            let grace = config.timers.timeout();
            cx.fx.set_deadline(TimerKey::WatchRefresh(id), Some(cx.now + grace));
            return None;
        }
        match response.status {
            200..=299 => {
                w.auth_tries = 0;
                if w.dialog.is_none() {
                    match Dialog::as_uac(&w.last_request, response) {
                        Ok(dialog) => w.dialog = Some(dialog),
                        Err(_) => return self.stop(id, false, cx),
                    }
                }
                // The parser drops a message whose Expires does not parse, so this holds; were
                // it not to, the watch ends in its dialog rather than guess its life.
                let Ok(granted) = response.headers.expires() else { return self.stop(id, true, cx) };
                let granted = granted.unwrap_or(config.subscribe_back_expires);
                // Refresh at three quarters of the granted time (RFC 6665 §4.1.2.2 leaves it
                // to us; this keeps a margin for a lost refresh and its retransmissions).
                let refresh = Duration::from_secs(u64::from(granted.max(8)) * 3 / 4);
                cx.fx.set_deadline(TimerKey::WatchRefresh(id), Some(cx.now + refresh));
                self.store(id, cx.fx);
                None
            }
            401 | 407 if w.auth_tries < MAX_AUTH_TRIES => {
                w.auth_tries += 1;
                let challenges = if response.status == 401 {
                    response.headers.www_authenticate()
                } else {
                    response.headers.proxy_authenticate()
                };
                // A challenge we cannot read cannot be answered.
                let Ok(challenges) = challenges else { return self.stop(id, false, cx) };
                let user = w.entity.user().unwrap_or(w.entity.as_str());
                let uri = w.last_request.uri.to_string();
                let cnonce = cx.fx.ids.token();
                let credentials = challenges.iter().find_map(|c| {
                    let user =
                        config.auth.users.iter().find(|u| {
                            u.username == user && u.realm.as_deref().is_none_or(|r| Some(r) == c.get("realm"))
                        })?;
                    auth::answer(c, user, "SUBSCRIBE", &uri, &cnonce)
                });
                let header =
                    if response.status == 401 { HeaderName::Authorization } else { HeaderName::ProxyAuthorization };
                match credentials {
                    Some(value) => {
                        self.send_subscribe(id, Some((header, value)), cx);
                        None
                    }
                    None => self.stop(id, false, cx),
                }
            }
            _ => self.stop(id, false, cx),
        }
    }

    /// Refreshes a watch before it expires, or forgets an ended one whose final NOTIFY did
    /// not come.
    pub(crate) fn refresh(&mut self, id: WatchId, cx: &mut Ctx<'_>) -> Option<(EntityKey, Update)> {
        if self.watches.get(id)?.ending {
            return self.stop(id, false, cx);
        }
        self.send_subscribe(id, None, cx);
        None
    }
}
