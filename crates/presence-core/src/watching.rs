//! Subscribing back to phones (SPEC §6): after a contact that accepts SUBSCRIBE registers,
//! the engine subscribes to its presence (and optionally dialog state), keeps the
//! subscription refreshed, answers a digest challenge with configured credentials, answers
//! every NOTIFY, and feeds what the phone reports into its entity (RFC 6665 §4.1, as
//! subscriber). The subscription ends (`Expires: 0`) when the binding goes.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sip_proto::dialog::{Dialog, DialogId};
use sip_proto::header::SubState;
use sip_proto::transaction::ClientKey;
use sip_proto::{HeaderName, Method, Request, Response, Uri};

use crate::api::{InEvent, SourceAddress, StatusReport};
use crate::bodies::{BodyError, Format, dialog_info, pidf, xpidf};
use crate::digest_auth;
use crate::engine::{Engine, TimerKey};
use crate::entity::{Changed, Source, Status};
use crate::outgoing::Purpose;
use crate::package::Package;
use crate::peer::Peer;

/// Identifies a subscription to a phone.
pub(crate) type WatchId = u64;

/// One subscription we hold to a phone.
#[derive(Clone, Debug)]
pub(crate) struct Watch {
    pub(crate) entity: String,
    /// The binding's Contact, as stored with the binding.
    pub(crate) contact: String,
    pub(crate) package: Package,
    pub(crate) peer: Peer,
    pub(crate) target: Uri,
    pub(crate) call_id: String,
    pub(crate) local_tag: String,
    pub(crate) our_host: String,
    /// CSeq of our last request before the dialog exists.
    pub(crate) cseq: u32,
    pub(crate) dialog: Option<Dialog>,
    pub(crate) auth_tries: u8,
    pub(crate) ending: bool,
    pub(crate) last_request: Request,
}

/// Every subscription we hold to phones.
#[derive(Debug, Default)]
pub(crate) struct Watches {
    by_id: HashMap<WatchId, Watch>,
    /// (Call-ID, our tag): how a phone's NOTIFY finds its subscription.
    by_call: HashMap<(String, String), WatchId>,
    next_id: WatchId,
}

impl Watches {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn get(&self, id: WatchId) -> Option<&Watch> {
        self.by_id.get(&id)
    }

    /// Puts back a watch restored from storage under its old id.
    pub(crate) fn insert_restored(&mut self, id: WatchId, watch: Watch) {
        self.next_id = self.next_id.max(id);
        self.by_call.insert((watch.call_id.clone(), watch.local_tag.clone()), id);
        self.by_id.insert(id, watch);
    }
}

/// Phone challenges we answer per subscription before giving up.
const MAX_AUTH_TRIES: u8 = 2;

impl Engine {
    /// Starts watching the phone behind binding `index` of `aor`, if it accepts SUBSCRIBE, in
    /// each configured package it is not watched in yet (a restart may have restored some).
    pub(crate) fn watch_binding(&mut self, aor: &str, index: usize, now: Instant) {
        let Some(binding) = self.registrations.of(aor).get(index) else { return };
        if !binding.allows(&Method::Subscribe) || self.config.subscribe_back.is_empty() {
            return;
        }
        let (peer, target, contact) = (binding.source, binding.contact.uri.clone(), binding.contact.to_string());
        let watched: Vec<Package> =
            binding.watches.iter().filter_map(|id| self.watches.get(*id)).map(|w| w.package).collect();
        let our_host = match target.as_sip() {
            _ if !peer.local.ip().is_unspecified() => host_text(peer),
            Some(_) => aor.rsplit_once('@').map_or(aor, |(_, host)| host).to_owned(),
            None => return,
        };
        let mut ids = Vec::new();
        for package in self.config.subscribe_back.clone() {
            let Some(package) = Package::from_event(&package).filter(|p| !watched.contains(p)) else { continue };
            self.watches.next_id += 1;
            let id = self.watches.next_id;
            let call_id = format!("{}@{our_host}", self.ids.token());
            let local_tag = self.ids.token();
            let request = Request::new(Method::Subscribe, target.clone());
            let watch = Watch {
                entity: aor.to_owned(),
                contact: contact.clone(),
                package,
                peer,
                target: target.clone(),
                call_id: call_id.clone(),
                local_tag: local_tag.clone(),
                our_host: our_host.clone(),
                cseq: 0,
                dialog: None,
                auth_tries: 0,
                ending: false,
                last_request: request,
            };
            self.watches.by_call.insert((call_id, local_tag), id);
            self.watches.by_id.insert(id, watch);
            self.send_watch_subscribe(id, None, now);
            ids.push(id);
        }
        if let Some(binding) = self.registrations.binding_mut(aor, index) {
            binding.watches.extend(ids);
        }
    }

    /// Sends the watch's SUBSCRIBE: initial (or re-sent with credentials) before the dialog
    /// exists, a refresh or `Expires: 0` within it.
    fn send_watch_subscribe(&mut self, id: WatchId, authorization: Option<(HeaderName, String)>, now: Instant) {
        let branch = self.ids.branch();
        let expires = self.config.subscribe_back_expires;
        let server_name = self.config.server_name.clone();
        let Some(w) = self.watches.by_id.get_mut(&id) else { return };
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
                req
            }
        };
        let h = &mut req.headers;
        h.prepend(HeaderName::Via, w.peer.via(&w.our_host, &branch));
        h.push(HeaderName::Contact, w.peer.contact(Some("presence"), &w.our_host));
        h.push(HeaderName::Event, w.package.name());
        let accept: Vec<&str> = w.package.formats().iter().map(|f| f.content_type()).collect();
        h.push(HeaderName::Accept, accept.join(", "));
        h.push(HeaderName::Expires, if w.ending { 0 } else { expires }.to_string());
        h.push(HeaderName::UserAgent, server_name);
        if let Some((name, value)) = authorization {
            h.push(name, value);
        }
        w.last_request = req.clone();
        let destination = w.peer;
        let key = ClientKey { branch, method: Method::Subscribe.to_string() };
        self.send_request(key, req.encode(), destination, Purpose::Watch(id), now);
    }

    /// Our SUBSCRIBE to a phone ended with `response` (`None`: it timed out).
    pub(crate) fn watch_outcome(&mut self, id: WatchId, response: Option<&Response>, now: Instant) {
        let Some(w) = self.watches.by_id.get_mut(&id) else { return };
        let Some(response) = response else {
            self.end_watch(id, false, now);
            return;
        };
        if w.ending {
            // RFC 6665 §4.1.2.3: a final NOTIFY follows our unsubscribe; keep the watch to
            // answer it, for at most 64*T1.
            let grace = self.config.timers.timeout();
            self.deadlines.set(TimerKey::WatchRefresh(id), Some(now + grace));
            return;
        }
        match response.status {
            200..=299 => {
                w.auth_tries = 0;
                if w.dialog.is_none() {
                    match Dialog::as_uac(&w.last_request, response) {
                        Ok(dialog) => w.dialog = Some(dialog),
                        Err(_) => return self.end_watch(id, false, now),
                    }
                }
                let granted = response.headers.expires().ok().flatten().unwrap_or(self.config.subscribe_back_expires);
                // Refresh at three quarters of the granted time (RFC 6665 §4.1.2.2 leaves it
                // to us; this keeps a margin for a lost refresh and its retransmissions).
                let refresh = Duration::from_secs(u64::from(granted.max(8)) * 3 / 4);
                self.deadlines.set(TimerKey::WatchRefresh(id), Some(now + refresh));
                self.persist_watch(id);
            }
            401 | 407 if w.auth_tries < MAX_AUTH_TRIES => {
                w.auth_tries += 1;
                let challenges = if response.status == 401 {
                    response.headers.www_authenticate()
                } else {
                    response.headers.proxy_authenticate()
                };
                let user = w.entity.split('@').next().unwrap_or_default().to_owned();
                let uri = w.last_request.uri.to_string();
                let cnonce = self.ids.token();
                let credentials = challenges.unwrap_or_default().iter().find_map(|c| {
                    let user =
                        self.config.auth.users.iter().find(|u| {
                            u.username == user && u.realm.as_deref().is_none_or(|r| Some(r) == c.get("realm"))
                        })?;
                    digest_auth::answer(c, user, "SUBSCRIBE", &uri, &cnonce)
                });
                let header =
                    if response.status == 401 { HeaderName::Authorization } else { HeaderName::ProxyAuthorization };
                match credentials {
                    Some(value) => self.send_watch_subscribe(id, Some((header, value)), now),
                    None => self.end_watch(id, false, now),
                }
            }
            _ => self.end_watch(id, false, now),
        }
    }

    /// Refreshes a watch before it expires, or forgets an ended one whose final NOTIFY did
    /// not come.
    pub(crate) fn refresh_watch(&mut self, id: WatchId, now: Instant) {
        match self.watches.by_id.get(&id) {
            Some(w) if w.ending => {
                self.stop_watch(id, false, now);
            }
            Some(_) => self.send_watch_subscribe(id, None, now),
            None => {}
        }
    }

    /// Ends a watch and notifies the entity's watchers of what the phone's leaving changed.
    pub(crate) fn end_watch(&mut self, id: WatchId, unsubscribe: bool, now: Instant) {
        if let Some((entity, changed)) = self.stop_watch(id, unsubscribe, now) {
            self.entity_changed(&entity, changed, now);
        }
    }

    /// Ends a watch without notifying (the caller does, once, with everything that changed):
    /// with `unsubscribe`, an `Expires: 0` SUBSCRIBE in its dialog first. What the phone
    /// reported leaves the entity; returns the entity and that change.
    pub(crate) fn stop_watch(&mut self, id: WatchId, unsubscribe: bool, now: Instant) -> Option<(String, Changed)> {
        self.persist(presence_store::Change::DeleteWatch(id));
        let w = self.watches.by_id.get_mut(&id)?;
        let entity_key = w.entity.clone();
        let keep_for_unsubscribe = unsubscribe && w.dialog.is_some() && !w.ending;
        let already_ending = w.ending;
        w.ending = true;
        self.deadlines.set(TimerKey::WatchRefresh(id), None);
        if keep_for_unsubscribe {
            self.send_watch_subscribe(id, None, now);
        } else if let Some(w) = self.watches.by_id.remove(&id) {
            self.watches.by_call.remove(&(w.call_id, w.local_tag));
        }
        let changed = match self.entities.get_mut(&entity_key) {
            Some(entity) if !already_ending => entity.set_status(Source::Device(id), None),
            _ => Changed::default(),
        };
        Some((entity_key, changed))
    }

    /// A NOTIFY from a phone we subscribe to: answer it (RFC 6665 §4.1.3), and feed what it
    /// reports into the entity.
    pub(crate) fn on_notify(&mut self, req: &Request, source: Peer, now: Instant) -> Response {
        let Ok(Some(dialog_id)) = DialogId::of_incoming(req) else {
            return Response::to(req, 481).with_reason("Subscription Does Not Exist");
        };
        let Some(&id) = self.watches.by_call.get(&(dialog_id.call_id.clone(), dialog_id.local_tag.clone())) else {
            return Response::to(req, 481).with_reason("Subscription Does Not Exist");
        };
        let Some(w) = self.watches.by_id.get_mut(&id) else { return Response::to(req, 481) };
        match w.dialog.as_mut() {
            // RFC 6665 §4.1.2.4: the NOTIFY may arrive before our SUBSCRIBE's 2xx and then
            // establishes the dialog (recording its CSeq).
            None => match Dialog::as_uas(req, &w.local_tag, w.cseq) {
                Ok(dialog) => w.dialog = Some(dialog),
                Err(e) => return Response::to(req, 400).with_reason(format!("Bad NOTIFY: {e}")),
            },
            Some(dialog) => {
                let seq = req.headers.cseq().map(|c| c.seq).unwrap_or_default();
                if dialog.accept_remote_cseq(seq).is_err() {
                    return Response::to(req, 500).with_reason("CSeq Out of Order");
                }
            }
        }
        let terminated =
            req.headers.subscription_state().ok().flatten().is_some_and(|s| s.state == SubState::Terminated);
        if w.ending {
            // The final NOTIFY after our unsubscribe: answered, not applied.
            if terminated {
                self.stop_watch(id, false, now);
            }
            return Response::to(req, 200);
        }
        let report = if req.body.is_empty() { Ok(None) } else { read_body(req).map(Some) };
        let entity_key = w.entity.clone();
        let limits = self.config.calls;
        let response = match report {
            Err(refusal) => return refusal,
            Ok(None) => Response::to(req, 200),
            Ok(Some(DeviceReport::Dialogs(doc))) => {
                let entity = self.entities.entry(entity_key.clone()).or_default();
                let changed = entity.apply_dialog_info(Source::Device(id), doc, &limits, now);
                self.entity_changed(&entity_key, changed, now);
                Response::to(req, 200)
            }
            Ok(Some(DeviceReport::Presence(status))) => {
                self.events.push_back(InEvent::StatusIn(StatusReport {
                    entity: entity_key.clone(),
                    status: status.basic,
                    note: status.note.clone(),
                    dnd: status.dnd,
                    on_the_phone: status.on_the_phone,
                    source: SourceAddress::of(source),
                }));
                let entity = self.entities.entry(entity_key.clone()).or_default();
                let changed = entity.set_status(Source::Device(id), Some(status));
                self.entity_changed(&entity_key, changed, now);
                self.persist_watch(id);
                Response::to(req, 200)
            }
        };
        if terminated {
            self.end_watch(id, false, now);
        }
        response
    }
}

/// What a phone's NOTIFY body reports.
enum DeviceReport {
    Presence(Status),
    Dialogs(dialog_info::DialogInfo),
}

/// Reads a phone's NOTIFY body, or the 415/400 refusal naming why not.
fn read_body(req: &Request) -> Result<DeviceReport, Response> {
    let essence = req.headers.content_type().ok().flatten().map(|t| t.essence());
    let unreadable = |e: BodyError| Response::to(req, 400).with_reason(format!("Bad NOTIFY Body: {e}"));
    let presence = match essence.as_deref() {
        Some(t) if t == Format::Pidf.content_type() => pidf::parse(&req.body),
        Some(t) if t == Format::Xpidf.content_type() => xpidf::parse(&req.body),
        Some(t) if t == Format::DialogInfo.content_type() => {
            return dialog_info::parse(&req.body).map(DeviceReport::Dialogs).map_err(unreadable);
        }
        _ => {
            let mut refusal = Response::to(req, 415);
            let accepted = [Format::Pidf, Format::Xpidf, Format::DialogInfo].map(Format::content_type);
            refusal.headers.push(HeaderName::Accept, accepted.join(", "));
            return Err(refusal);
        }
    };
    let r = presence.map_err(unreadable)?;
    Ok(DeviceReport::Presence(r.into()))
}

/// Our local IP as URI host text (IPv6 in brackets).
pub(crate) fn host_text(peer: Peer) -> String {
    match peer.local.ip() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
