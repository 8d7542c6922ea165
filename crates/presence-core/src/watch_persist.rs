//! Subscriptions to phones across restarts (SPEC §10): a watch whose dialog exists is stored
//! with that dialog, its refresh time and what the phone last reported; after a restart it
//! goes on in the same dialog (CSeq past the restart margin), a presence watch refreshed when
//! it was due and a dialog watch at once (the phone's calls are not stored, its NOTIFY brings
//! them back), so a restart sends no burst of new SUBSCRIBEs to every registered phone.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use presence_store::{Change, WatchRecord};
use sip_proto::{Method, Request};

use crate::engine::{Engine, TimerKey};
use crate::entity::Source;
use crate::package::Package;
use crate::peer::{FlowId, Transport};
use crate::persist::{dialog_record, peer, peer_record, restored_dialog, status_from_record, status_record};
use crate::watching::{Watch, WatchId};

impl Engine {
    /// Stores watch `id` once its dialog exists (no-op without persistence).
    pub(crate) fn persist_watch(&mut self, id: WatchId) {
        if !self.persistence_enabled() {
            return;
        }
        let Some(w) = self.watches.get(id).filter(|w| !w.ending) else { return };
        let Some(dialog) = &w.dialog else { return };
        let Some(refresh_at) = self.deadlines.get(&TimerKey::WatchRefresh(id)) else { return };
        let status = self.entities.get(&w.entity).and_then(|e| e.reported_by(Source::Device(id)).0);
        let record = WatchRecord {
            id,
            aor: w.entity.clone(),
            contact: w.contact.clone(),
            package: w.package.name().to_owned(),
            peer: peer_record(w.peer),
            our_host: w.our_host.clone(),
            dialog: dialog_record(dialog),
            refresh_at_ms: self.unix_ms(refresh_at),
            status: status.map(status_record),
        };
        self.persist(Change::PutWatch(record));
    }

    /// Puts a stored watch back on its (already restored) binding. One that cannot go on
    /// (its binding is gone, it was on TCP, its text no longer parses) is forgotten, and
    /// the binding gets a fresh subscription as after a REGISTER.
    pub(crate) fn restore_watch(&mut self, r: WatchRecord, udp_flows: &HashMap<SocketAddr, FlowId>, now: Instant) {
        let id = r.id;
        // By comparison form, as the registrar matches contacts: the text may have changed.
        let key = sip_proto::header::NameAddr::parse(&r.contact).ok().map(|c| crate::registrar::uri_key(&c.uri));
        let index = self.registrations.of(&r.aor).iter().position(|b| Some(&b.key) == key.as_ref());
        let parsed = (
            index,
            Package::from_event(&r.package),
            peer(&r.peer, udp_flows).filter(|p| p.transport == Transport::Udp),
            restored_dialog(&r.dialog),
        );
        let (Some(index), Some(package), Some(peer), Some(dialog)) = parsed else {
            self.persist(Change::DeleteWatch(id));
            return;
        };
        let Some(binding) = self.registrations.binding_mut(&r.aor, index) else { return };
        binding.watches.push(id);
        let target = binding.contact.uri.clone();
        let watch = Watch {
            entity: r.aor.clone(),
            contact: r.contact,
            package,
            peer,
            target: target.clone(),
            call_id: r.dialog.call_id,
            local_tag: r.dialog.local_tag,
            our_host: r.our_host,
            cseq: 0,
            dialog: Some(dialog),
            auth_tries: 0,
            ending: false,
            last_request: Request::new(Method::Subscribe, target),
        };
        self.watches.insert_restored(id, watch);
        if let Some(status) = r.status {
            self.entities.entry(r.aor).or_default().set_status(Source::Device(id), Some(status_from_record(status)));
        }
        // The phone's calls (dialog package) are not stored: refresh at once so its NOTIFY
        // brings them back; presence watches refresh when they were due.
        let due = if package == Package::Dialog { now } else { self.instant(r.refresh_at_ms, now).max(now) };
        self.deadlines.set(TimerKey::WatchRefresh(id), Some(due));
    }
}
