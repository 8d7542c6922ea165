//! Persistence as an effect (SPEC §10): with persistence on, every change to subscriptions,
//! registrations, publications and pushed entity state becomes a [`Change`] the shell
//! collects with [`Engine::take_changes`] and writes in batches off the SIP path; and
//! [`Engine::restore`] rebuilds the engine from a [`Snapshot`] after a restart. Times are
//! stored as Unix milliseconds: the shell gives the engine one (monotonic, wall) pair of
//! readings, so the engine itself still reads no clock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use presence_store::{
    BindingRecord, CallRecord, Change, DialogRecord, EntityRecord, PeerRecord, PublicationRecord, Snapshot,
    SubscriptionRecord,
};
use sip_proto::dialog::{Dialog, DialogId};
use sip_proto::header::NameAddr;
use sip_proto::uri::Uri;

use crate::bodies::Basic;
use crate::bodies::mwi::MessageCounts;
use crate::call::{Call, CallState, Direction, Party};
use crate::engine::{Engine, TimerKey};
use crate::entity::{Registration, Source, Status};
use crate::package::Package;
use crate::peer::{FlowId, Peer, Transport};
use crate::publication::{Publication, PublicationId};
use crate::registrar::Binding;
use crate::subscription::{Phase, Subscription, SubscriptionId};

/// Added to a restored subscription's CSeq and dialog-info version: NOTIFYs sent in the
/// last moments before a crash, whose numbers did not reach the disk, are not repeated.
pub(crate) const RESTART_MARGIN: u32 = 100;

impl Engine {
    /// Turns persistence on: `unix_ms` is the wall-clock time at the monotonic `now`.
    pub fn enable_persistence(&mut self, now: Instant, unix_ms: u64) {
        self.wall = Some((now, unix_ms));
    }

    /// The changes to store since the last call, in order.
    pub fn take_changes(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.changes)
    }

    pub(crate) fn persistence_enabled(&self) -> bool {
        self.wall.is_some()
    }

    pub(crate) fn persist(&mut self, change: Change) {
        if self.wall.is_some() {
            self.changes.push(change);
        }
    }

    pub(crate) fn unix_ms(&self, at: Instant) -> u64 {
        let Some((base, base_ms)) = self.wall else { return 0 };
        match at.checked_duration_since(base) {
            Some(later) => base_ms.saturating_add(later.as_millis() as u64),
            None => base_ms.saturating_sub(base.duration_since(at).as_millis() as u64),
        }
    }

    pub(crate) fn instant(&self, unix_ms: u64, now: Instant) -> Instant {
        let Some((base, base_ms)) = self.wall else { return now };
        if unix_ms >= base_ms {
            base + Duration::from_millis(unix_ms - base_ms)
        } else {
            base.checked_sub(Duration::from_millis(base_ms - unix_ms)).unwrap_or(base)
        }
    }

    pub(crate) fn persist_subscription(&mut self, id: SubscriptionId) {
        let Some(s) = self.subscriptions.get(id).filter(|_| self.wall.is_some()) else { return };
        let record = SubscriptionRecord {
            id,
            entity: s.entity.clone(),
            package: s.package.name().to_owned(),
            content_type: s.format.content_type().to_owned(),
            event_id: s.event_id.clone(),
            subscriber: s.subscriber.clone(),
            dialog: dialog_record(&s.dialog),
            expires_at_ms: self.unix_ms(s.expires_at),
            version: s.version,
            peer: peer_record(s.peer),
            our_host: s.our_host.clone(),
            profile: s.profile.and_then(|p| self.config.profiles.get(p)).map(|p| p.name.clone()),
            authenticated: s.authenticated,
        };
        self.persist(Change::PutSubscription(record));
    }

    pub(crate) fn persist_binding(&mut self, aor: &str, binding: &Binding) {
        if self.wall.is_none() {
            return;
        }
        let record = BindingRecord {
            aor: aor.to_owned(),
            contact: binding.contact.to_string(),
            call_id: binding.call_id.clone(),
            cseq: binding.cseq,
            expires_at_ms: self.unix_ms(binding.expires_at),
            granted: binding.granted,
            source: peer_record(binding.source),
            user_agent: binding.user_agent.clone(),
            allow: binding.allow.clone(),
        };
        self.persist(Change::PutBinding(record));
    }

    pub(crate) fn persist_publication(&mut self, id: PublicationId) {
        let Some(p) = self.publications.get(id).filter(|_| self.wall.is_some()) else { return };
        let record = PublicationRecord {
            id,
            entity: p.entity.clone(),
            package: p.package.name().to_owned(),
            etag: p.etag.clone(),
            expires_at_ms: self.unix_ms(p.expires_at),
            device: p.device.clone(),
            dialog_version: p.dialog_version,
            content_type: p.body.0.clone(),
            body: p.body.1.clone(),
        };
        self.persist(Change::PutPublication { record, if_etag: None });
    }

    /// Stores what the integration API pushed for `key` (or forgets it when nothing is left).
    pub(crate) fn persist_entity(&mut self, key: &str) {
        if self.wall.is_none() {
            return;
        }
        let record = self.entities.get(key).and_then(|e| {
            let (status, voicemail, calls) = e.reported_by(Source::Api);
            let record = EntityRecord {
                entity: key.to_owned(),
                display: e.display.clone(),
                status: status.map(status_record),
                registration: e.registration.map(|r| (r.registered, r.call_count)),
                voicemail: voicemail.map(|c| [c.new, c.old, c.new_urgent, c.old_urgent]),
                calls: calls.into_iter().map(call_record).collect(),
            };
            (record != EntityRecord { entity: key.to_owned(), ..EntityRecord::default() }).then_some(record)
        });
        self.persist(match record {
            Some(record) => Change::PutEntity(record),
            None => Change::DeleteEntity(key.to_owned()),
        });
    }

    /// Rebuilds the engine from storage after a restart. `udp_flows` maps each UDP socket's
    /// local address to its flow in this run. Subscriptions continue in their dialogs with a
    /// higher CSeq and version; those that expired meanwhile end with `reason=timeout`;
    /// those bound to a TCP connection, which did not survive, end silently (their phones
    /// subscribe again). Subscriptions to phones go on in their dialogs; registered phones
    /// without one are subscribed to afresh.
    pub fn restore(&mut self, snapshot: Snapshot, udp_flows: &HashMap<SocketAddr, FlowId>, now: Instant) {
        for record in snapshot.entities {
            self.restore_entity(record, now);
        }
        for record in snapshot.publications {
            let Some(package) = Package::from_event(&record.package) else { continue };
            let publication = Publication {
                entity: record.entity,
                package,
                etag: record.etag,
                expires_at: self.instant(record.expires_at_ms, now),
                device: record.device,
                dialog_version: record.dialog_version,
                body: (record.content_type, record.body),
            };
            self.restore_publication(record.id, publication, now);
        }
        let mut aors = std::collections::BTreeSet::new();
        for record in snapshot.bindings {
            let (Ok(contact), Some(source)) = (NameAddr::parse(&record.contact), peer(&record.source, udp_flows))
            else {
                // Unusable in this run (see restore_subscription): forgotten, not reloaded.
                self.persist(Change::DeleteBinding { aor: record.aor, contact: record.contact });
                continue;
            };
            let expires_at = self.instant(record.expires_at_ms, now);
            let binding = Binding::restored(
                contact,
                record.call_id,
                record.cseq,
                expires_at,
                record.granted,
                source,
                record.user_agent,
                record.allow,
                now,
            );
            self.registrations.restore(&record.aor, binding);
            aors.insert(record.aor);
        }
        for record in snapshot.watches {
            self.restore_watch(record, udp_flows, now);
        }
        for aor in aors {
            self.restore_registration(&aor, now);
        }
        for record in snapshot.subscriptions {
            self.restore_subscription(record, udp_flows, now);
        }
    }

    fn restore_entity(&mut self, record: EntityRecord, now: Instant) {
        let limits = self.config.calls;
        let entity = self.entities.entry(record.entity.clone()).or_default();
        entity.set_display(record.display);
        if let Some(status) = record.status {
            entity.set_status(Source::Api, Some(status_from_record(status)));
        }
        if let Some((registered, call_count)) = record.registration {
            entity.set_registration(Registration { registered, call_count });
        }
        if let Some([new, old, new_urgent, old_urgent]) = record.voicemail {
            entity.set_voicemail(Source::Api, Some(MessageCounts { new, old, new_urgent, old_urgent }));
        }
        for call in record.calls.into_iter().filter_map(call_from_record) {
            entity.update_call(Source::Api, call, &limits, now);
        }
        let next = entity.next_expiry();
        self.deadlines.set(TimerKey::EntityCalls(record.entity), next);
    }

    fn restore_subscription(&mut self, r: SubscriptionRecord, udp_flows: &HashMap<SocketAddr, FlowId>, now: Instant) {
        let id = r.id;
        // A record this run cannot serve (no UDP socket on its local address any more, or
        // text that no longer parses) is forgotten rather than reloaded at every start; so is
        // one bound to a TCP connection, which did not survive (its phone subscribes again).
        let unusable = |engine: &mut Engine| {
            engine.stats.subscriptions_lost += 1;
            engine.persist(Change::DeleteSubscription(id));
        };
        let package = Package::from_event(&r.package);
        let parsed = (
            package.and_then(|p| p.formats().iter().copied().find(|f| f.content_type() == r.content_type)),
            restored_dialog(&r.dialog),
            peer(&r.peer, udp_flows).filter(|p| !p.transport.is_reliable()),
        );
        let (Some(package), (Some(format), Some(dialog), Some(peer))) = (package, parsed) else {
            return unusable(self);
        };
        let expires_at = self.instant(r.expires_at_ms, now);
        let sub = Subscription {
            entity: r.entity,
            package,
            format,
            event_id: r.event_id,
            subscriber: r.subscriber,
            dialog,
            peer,
            our_host: r.our_host,
            expires_at,
            phase: Phase::Active,
            version: r.version.saturating_add(RESTART_MARGIN),
            // Every ended call still remembered is shown once more: harmless, and the
            // watcher may have missed it.
            seen_change: 0,
            in_flight: false,
            dirty: false,
            check_sync: false,
            failures: 0,
            profile: r.profile.and_then(|name| self.config.profiles.iter().position(|p| p.name == name)),
            last_notify_at: None,
            // Stored versions count NOTIFYs sent, so 0 means the first is still held back.
            notified: r.version > 0,
            authenticated: r.authenticated,
        };
        self.subscriptions.insert_with_id(r.id, sub);
        if expires_at <= now {
            self.terminate_subscription(r.id, "timeout", now);
        } else {
            self.deadlines.set(TimerKey::SubscriptionExpiry(r.id), Some(expires_at));
        }
    }
}

/// A presence status as stored: `open`/`closed`, note, DND, on the phone.
pub(crate) type StatusRecord = (String, Option<String>, bool, bool);

pub(crate) fn status_record(s: &Status) -> StatusRecord {
    (s.basic.as_str().to_owned(), s.note.clone(), s.dnd, s.on_the_phone)
}

pub(crate) fn status_from_record((basic, note, dnd, on_the_phone): StatusRecord) -> Status {
    let basic = if basic == "closed" { Basic::Closed } else { Basic::Open };
    Status { basic, note, dnd, on_the_phone }
}

pub(crate) fn dialog_record(d: &Dialog) -> DialogRecord {
    DialogRecord {
        call_id: d.id.call_id.clone(),
        local_tag: d.id.local_tag.clone(),
        remote_tag: d.id.remote_tag.clone(),
        local_uri: d.local_uri.to_string(),
        remote_uri: d.remote_uri.to_string(),
        remote_target: d.remote_target.to_string(),
        route_set: d.route_set.iter().map(ToString::to_string).collect(),
        local_seq: d.local_seq,
        remote_seq: d.remote_seq,
    }
}

/// The stored dialog, with our CSeq moved past the restart margin; `None` when its text no
/// longer parses.
pub(crate) fn restored_dialog(r: &DialogRecord) -> Option<Dialog> {
    Some(Dialog {
        id: DialogId { call_id: r.call_id.clone(), local_tag: r.local_tag.clone(), remote_tag: r.remote_tag.clone() },
        local_uri: NameAddr::parse(&r.local_uri).ok()?,
        remote_uri: NameAddr::parse(&r.remote_uri).ok()?,
        remote_target: Uri::parse(&r.remote_target).ok()?,
        route_set: r.route_set.iter().map(|route| NameAddr::parse(route)).collect::<Result<_, _>>().ok()?,
        local_seq: r.local_seq.saturating_add(RESTART_MARGIN),
        remote_seq: r.remote_seq,
    })
}

pub(crate) fn peer_record(p: Peer) -> PeerRecord {
    PeerRecord {
        transport: p.transport.to_string(),
        addr: p.addr.to_string(),
        local: p.local.to_string(),
        flow: p.flow.map(|f| f.0),
    }
}

/// The peer in this run: UDP through the socket with the same local address; TCP without a
/// flow (its connection is gone).
pub(crate) fn peer(r: &PeerRecord, udp_flows: &HashMap<SocketAddr, FlowId>) -> Option<Peer> {
    let (addr, local) = (r.addr.parse().ok()?, r.local.parse().ok()?);
    Some(match r.transport.as_str() {
        "udp" => Peer { transport: Transport::Udp, addr, local, flow: Some(*udp_flows.get(&local)?) },
        _ => Peer { transport: Transport::Tcp, addr, local, flow: None },
    })
}

fn call_record(c: &Call) -> CallRecord {
    CallRecord {
        call_id: c.call_id.clone(),
        local_tag: c.local_tag.clone(),
        remote_tag: c.remote_tag.clone(),
        direction: c.direction.map(|d| d.as_str().to_owned()),
        state: c.state.as_str().to_owned(),
        duration: c.duration,
        rendering: c.rendering,
        remote_display: c.remote.as_ref().and_then(|r| r.display.clone()),
        remote_uri: c.remote.as_ref().map(|r| r.uri.clone()),
    }
}

fn call_from_record(r: CallRecord) -> Option<Call> {
    Some(Call {
        call_id: r.call_id,
        local_tag: r.local_tag,
        remote_tag: r.remote_tag,
        direction: r.direction.as_deref().and_then(Direction::parse),
        state: CallState::parse(&r.state)?,
        duration: r.duration,
        rendering: r.rendering,
        remote: r.remote_uri.map(|uri| Party { display: r.remote_display, uri }),
    })
}
