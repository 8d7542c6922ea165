//! Rebuilding the engine from storage after a restart: each record goes to the component
//! that owns its kind, in the order their dependencies need (entities, publications,
//! bindings, our subscriptions to phones, the users' feature settings, then the
//! subscriptions we serve, which may already have expired and are then ended with a NOTIFY
//! showing the restored state).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Instant;

use crate::store::Snapshot;

use crate::peer::FlowId;
use crate::registrar::binding_key;

use super::route::phone;
use super::{Engine, cx};

impl Engine {
    /// Rebuilds the engine from storage after a restart. `udp_flows` maps each UDP socket's
    /// local address to its flow in this run. Subscriptions continue in their dialogs with a
    /// higher CSeq and version; those that expired meanwhile end with `reason=timeout`;
    /// those bound to a TCP connection, which did not survive, end silently (their phones
    /// subscribe again). Subscriptions to phones go on in their dialogs; registered phones
    /// without one are subscribed to afresh.
    pub fn restore(&mut self, snapshot: Snapshot, udp_flows: &HashMap<SocketAddr, FlowId>, now: Instant) {
        // Every stored number is marked used before anything is minted: a phone that
        // registered before the restart but has no stored watch gets a new one below.
        let stored = snapshot.subscriptions.iter().map(|r| r.id);
        let stored = stored.chain(snapshot.publications.iter().map(|r| r.id));
        for id in stored.chain(snapshot.watches.iter().map(|r| r.id)) {
            self.fx.ids.skip_past(id);
        }
        let mut settings = Vec::new();
        for mut record in snapshot.entities {
            let key = self.config.entity_key(&record.entity);
            if let Some(stored) = record.settings.take() {
                settings.push((key.clone(), stored, record.entity != key.as_str()));
            }
            self.entities.restore(key, record, &self.config.calls, &mut self.fx, now);
        }
        for record in snapshot.publications {
            let entity = self.config.entity_key(&record.entity);
            let update = self.publications.restore(entity, record, &mut self.fx, now);
            self.apply(update.into_iter().collect(), now);
        }
        let mut aors = BTreeSet::new();
        for record in snapshot.bindings {
            let aor = self.config.entity_key(&record.aor);
            aors.extend(self.registrar.restore(aor, record, udp_flows, &mut self.fx, now));
        }
        for record in snapshot.watches {
            // By binding key, as the registrar finds bindings: the text may have changed.
            let key = sip_proto::header::NameAddr::parse(&record.contact).ok().map(|c| binding_key(&c));
            if key.is_none() {
                // Text this run cannot read: the watch ends below, counted as the store's.
                self.fx.stats.stored_records_dropped += 1;
            }
            let aor = self.config.entity_key(&record.aor);
            let found = key.and_then(|key| self.registrar.binding(&aor, &key)).map(|b| phone(&aor, b));
            let update = self.phones.restore(record, found, udp_flows, cx!(self, now));
            self.apply(update.into_iter().collect(), now);
        }
        for aor in aors {
            // What expired meanwhile goes; the rest shows the entity registered, and its
            // phones not watched yet are subscribed to.
            let registered = self.registrar.expire(&aor, &mut self.fx, now);
            self.registered(registered, now);
            let phones: Vec<_> = self.registrar.bindings_of(&aor).iter().map(|b| phone(&aor, b)).collect();
            for phone in &phones {
                self.phones.watch(phone, cx!(self, now));
            }
        }
        // Settings last: replaying what the sources said must not move them.
        for (key, stored, renamed) in settings {
            self.entities.restore_settings(key, stored, renamed, &mut self.fx);
        }
        for record in snapshot.subscriptions {
            self.notifier.restore(record, udp_flows, &self.entities, cx!(self, now));
        }
    }
}
