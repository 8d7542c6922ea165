//! Our subscriptions to phones across restarts: a watch whose dialog exists is stored with
//! that dialog, its refresh time and what the phone last reported; after a restart it goes
//! on in the same dialog (CSeq past the restart margin), a presence watch refreshed when it
//! was due and a dialog watch at once (the phone's calls are not stored, its NOTIFY brings
//! them back), so a restart sends no burst of new SUBSCRIBEs to every registered phone.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::store::{Change, WatchRecord};
use sip_proto::{Method, Request};

use crate::context::Ctx;
use crate::effects::{Effects, TimerKey};
use crate::entities::{Source, Update, status_from_record, status_record};
use crate::entity_key::EntityKey;
use crate::ids::WatchId;
use crate::packages::Package;
use crate::peer::{FlowId, Transport};
use crate::store::{dialog_record, peer, peer_record, restored_dialog};

use super::watch::Watch;
use super::{Phone, Phones};

impl Phones {
    /// Stores watch `id` once its dialog exists (no-op without persistence).
    pub(super) fn store(&self, id: WatchId, fx: &mut Effects) {
        let Some(w) = self.watches.get(id).filter(|w| !w.ending) else { return };
        let Some(dialog) = &w.dialog else { return };
        let Some(refresh_at) = fx.deadline(&TimerKey::WatchRefresh(id)) else { return };
        fx.store(|wall| {
            Change::PutWatch(WatchRecord {
                id: id.0,
                aor: w.entity.to_string(),
                contact: w.contact.clone(),
                package: w.package.name().to_owned(),
                peer: peer_record(w.peer),
                our_host: w.our_host.clone(),
                dialog: dialog_record(dialog),
                refresh_at_ms: wall.unix_ms(refresh_at),
                status: w.reported.as_ref().map(status_record),
            })
        });
    }

    /// Puts a stored watch back on its (already restored) binding, `phone`; returns what the
    /// phone had reported. One that cannot go on (its binding is gone, it was on TCP, its
    /// text no longer parses) is forgotten, and the binding gets a fresh subscription as
    /// after a REGISTER.
    pub(crate) fn restore(
        &mut self,
        r: WatchRecord,
        phone: Option<Phone>,
        udp_flows: &HashMap<SocketAddr, FlowId>,
        cx: &mut Ctx<'_>,
    ) -> Option<(EntityKey, Update)> {
        let id = WatchId(r.id);
        let parsed = (
            phone,
            Package::from_event(&r.package),
            peer(&r.peer, udp_flows).filter(|p| p.transport == Transport::Udp),
            restored_dialog(&r.dialog),
        );
        let (Some(phone), Some(package), Some(peer), Some(dialog)) = parsed else {
            // A binding or socket gone is this run's news; a record that does not read is
            // the store's, and counted (an unreadable contact where it is read, at restore).
            if parsed.0.is_some() && (parsed.1.is_none() || parsed.3.is_none()) {
                cx.fx.stats.stored_records_dropped += 1;
            }
            cx.fx.store(|_| Change::DeleteWatch(id.0));
            return None;
        };
        let reported = r.status.map(status_from_record);
        let watch = Watch {
            entity: phone.aor.clone(),
            contact: r.contact,
            binding_key: phone.key,
            package,
            peer,
            target: phone.target.clone(),
            route: phone.route.clone(),
            call_id: r.dialog.call_id,
            local_tag: r.dialog.local_tag,
            our_host: r.our_host,
            cseq: 0,
            dialog: Some(dialog),
            auth_tries: 0,
            ending: false,
            last_request: Request::new(Method::Subscribe, phone.target),
            reported: reported.clone(),
        };
        self.watches.insert(id, watch);
        // The phone's calls (dialog package) are not stored: refresh at once so its NOTIFY
        // brings them back; presence watches refresh when they were due.
        let due = match cx.fx.wall() {
            Some(wall) if package != Package::Dialog => wall.instant(r.refresh_at_ms).max(cx.now),
            _ => cx.now,
        };
        cx.fx.set_deadline(TimerKey::WatchRefresh(id), Some(due));
        reported.map(|status| (phone.aor, Update::Status(Source::Device(id), Some(status))))
    }
}
