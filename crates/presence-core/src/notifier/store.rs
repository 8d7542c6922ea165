//! What the notifier keeps across restarts: each subscription with its dialog, CSeq,
//! dialog-info version and expiry, so after a restart its NOTIFYs go on in the same dialog
//! with higher numbers and no phone has to subscribe again.

use std::collections::HashMap;
use std::net::SocketAddr;

use crate::store::{Change, SubscriptionRecord};

use crate::config::EngineConfig;
use crate::context::Ctx;
use crate::effects::{Effects, TimerKey};
use crate::entities::Entities;
use crate::ids::SubscriptionId;
use crate::packages::Package;
use crate::peer::FlowId;
use crate::store::{RESTART_MARGIN, dialog_record, peer, peer_record, restored_dialog};

use super::Notifier;
use super::subscription::{Phase, Subscription};

impl Notifier {
    /// Stores subscription `id` as it is now (no-op without persistence), unless all that
    /// changed since it was last stored is its CSeq and version, by less than half the
    /// restart margin: a restart moves both a whole margin past what is stored, so they
    /// still go up, and a NOTIFY (most of them, in a fan-out) writes nothing.
    pub(super) fn store(&mut self, id: SubscriptionId, config: &EngineConfig, fx: &mut Effects) {
        let Some(s) = self.subscriptions.get_mut(id) else { return };
        let now = s.stored_as();
        let due = s.stored.is_none_or(|was| {
            was.digest != now.digest || now.local_seq.wrapping_sub(was.local_seq) >= RESTART_MARGIN / 2
        });
        if !due {
            return;
        }
        s.stored = Some(now);
        fx.store(|wall| {
            Change::PutSubscription(SubscriptionRecord {
                id: id.0,
                entity: s.entity.to_string(),
                package: s.package.name().to_owned(),
                content_type: s.format.content_type().to_owned(),
                event_id: s.event_id.clone(),
                subscriber: s.subscriber.to_string(),
                dialog: dialog_record(&s.dialog),
                expires_at_ms: wall.unix_ms(s.expires_at),
                version: s.version,
                peer: peer_record(s.peer),
                our_host: s.our_host.clone(),
                profile: s.profile.and_then(|p| config.profiles.get(p)).map(|p| p.name.clone()),
                authenticated: s.authenticated,
            })
        });
    }

    /// Puts back a stored subscription. It continues in its dialog with a higher CSeq and
    /// version; one that expired meanwhile ends with `reason=timeout`. A record this run
    /// cannot serve (no UDP socket on its local address any more, or text that no longer
    /// parses) is forgotten rather than reloaded at every start; so is one bound to a TCP
    /// connection, which did not survive (its phone subscribes again).
    pub(crate) fn restore(
        &mut self,
        r: SubscriptionRecord,
        udp_flows: &HashMap<SocketAddr, FlowId>,
        entities: &Entities,
        cx: &mut Ctx<'_>,
    ) {
        let id = SubscriptionId(r.id);
        let package = Package::from_event(&r.package);
        let parsed = (
            package.and_then(|p| p.formats().iter().copied().find(|f| f.content_type() == r.content_type)),
            restored_dialog(&r.dialog),
            peer(&r.peer, udp_flows).filter(|p| !p.transport.is_reliable()),
        );
        let (Some(package), (Some(format), Some(dialog), Some(peer))) = (package, parsed) else {
            cx.fx.stats.subscriptions_lost += 1;
            cx.fx.store(|_| Change::DeleteSubscription(id.0));
            return;
        };
        let expires_at = cx.fx.wall().map_or(cx.now, |wall| wall.instant(r.expires_at_ms));
        let entity = cx.config.entity_key(&r.entity);
        // A list subscription goes on as one (the subscriber supported eventlist to make it),
        // with full state first.
        let list = cx.lists.get(&entity).filter(|l| l.packages.contains(&package));
        let sub = Subscription {
            list: list.map(|l| vec![None; l.members.len()].into_boxed_slice()),
            entity,
            package,
            format,
            event_id: r.event_id,
            subscriber: cx.config.entity_key(&r.subscriber),
            vouched: cx.config.limits.trusts(peer.addr.ip()),
            dialog,
            peer,
            our_host: r.our_host,
            expires_at,
            phase: Phase::Active,
            version: r.version.saturating_add(RESTART_MARGIN),
            // Every ended call still remembered is shown once more: harmless, and the
            // watcher may have missed it.
            seen_change: 0,
            in_flight: None,
            dirty: false,
            check_sync: false,
            failures: 0,
            profile: r.profile.and_then(|name| cx.config.profiles.iter().position(|p| p.name == name)),
            last_notify_at: None,
            // Stored versions count NOTIFYs sent, so 0 means the first is still held back.
            notified: r.version > 0,
            // Before the restart it was answered, or it would have ended at its first timeout.
            answered: r.version > 0,
            authenticated: r.authenticated,
            // What it had before the restart is not known: it is told everything.
            features_sent: None,
            // Its CSeq moved past what is stored: the first NOTIFY stores it again.
            stored: None,
        };
        self.subscriptions.insert(id, sub, &mut cx.fx.directory);
        if expires_at <= cx.now {
            self.terminate(id, "timeout", entities, cx);
        } else {
            cx.fx.set_deadline(TimerKey::SubscriptionExpiry(id), Some(expires_at));
        }
    }
}
