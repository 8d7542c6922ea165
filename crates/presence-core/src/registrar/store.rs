//! What the registrar keeps across restarts: every binding with its Call-ID, CSeq, expiry,
//! source and User-Agent, so phones stay registered through a restart.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::store::{BindingRecord, Change};
use sip_proto::header::NameAddr;

use crate::effects::Effects;
use crate::entity_key::EntityKey;
use crate::peer::FlowId;
use crate::store::{peer, peer_record};

use super::Registrar;
use super::binding::Binding;
use super::outbound::binding_key;

impl Registrar {
    /// Stores the binding of `aor` whose comparison form is `key` (no-op without persistence).
    pub(super) fn store_binding(&self, aor: &EntityKey, key: &str, fx: &mut Effects) {
        let Some(b) = self.bindings.of(aor).iter().find(|b| b.key == key) else { return };
        fx.store(|wall| {
            Change::PutBinding(BindingRecord {
                aor: aor.to_string(),
                contact: b.contact.to_string(),
                call_id: b.call_id.clone(),
                cseq: b.cseq,
                expires_at_ms: wall.unix_ms(b.expires_at),
                granted: b.granted,
                source: peer_record(b.source),
                user_agent: b.user_agent.clone(),
                allow: b.allow.clone(),
                path: b.path.iter().map(ToString::to_string).collect(),
            })
        });
    }

    /// Puts back a stored binding (announced as of `now`); returns its address-of-record. One
    /// this run cannot use (its text no longer parses, or its UDP socket is gone) is
    /// forgotten, not reloaded.
    /// `aor` is the record's address-of-record as this run's configuration names it.
    pub(crate) fn restore(
        &mut self,
        aor: EntityKey,
        record: BindingRecord,
        udp_flows: &HashMap<SocketAddr, FlowId>,
        fx: &mut Effects,
        now: Instant,
    ) -> Option<EntityKey> {
        let path: Result<Vec<NameAddr>, _> = record.path.iter().map(|p| NameAddr::parse(p)).collect();
        let (Ok(contact), Ok(path), Some(source)) =
            (NameAddr::parse(&record.contact), path, peer(&record.source, udp_flows))
        else {
            fx.store(|_| Change::DeleteBinding { aor: record.aor, contact: record.contact });
            return None;
        };
        // Stored under another name (the domain aliases changed): moved to this run's name, so
        // later deletes find it.
        let renamed = (record.aor != aor.as_str()).then(|| (record.aor, record.contact.clone()));
        let binding = Binding {
            key: binding_key(&contact),
            contact,
            call_id: record.call_id,
            cseq: record.cseq,
            expires_at: fx.wall().map_or(now, |wall| wall.instant(record.expires_at_ms)),
            announced_at: now,
            granted: record.granted,
            source,
            user_agent: record.user_agent,
            allow: record.allow,
            path,
        };
        let bindings = self.bindings.by_aor.entry(aor.clone()).or_insert_with(|| {
            fx.directory.add(&aor);
            Vec::new()
        });
        let key = binding.key.clone();
        self.bindings.tally.add(binding.source.addr.ip());
        bindings.push(binding);
        if let Some((old, contact)) = renamed {
            fx.store(|_| Change::DeleteBinding { aor: old, contact });
            self.store_binding(&aor, &key, fx);
        }
        Some(aor)
    }
}
