//! One subscription we serve (RFC 6665 §4.2), and the table of them with the indexes that
//! find one by dialog (in-dialog SUBSCRIBE), by entity (state changes), by Call-ID (`.out`
//! events that target one watcher), by connection (a closed one ends its own) and by id (NOTIFY
//! responses, timers).

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use sip_proto::dialog::{Dialog, DialogId};

use crate::admission::{Limits, Over, Tally};
use crate::bodies::Format;
use crate::directory::Directory;
use crate::entity_key::EntityKey;
use crate::features::FeatureState;
use crate::ids::SubscriptionId;
use crate::packages::Package;
use crate::peer::{FlowId, Peer};
use crate::tables::FastMap;

/// Where a subscription is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Active,
    /// Ending: the next NOTIFY is the final `terminated;reason=<reason>` one.
    Terminating(&'static str),
}

impl Phase {
    /// `active` or `terminating`, as the look-ups show it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Phase::Active => "active",
            Phase::Terminating(_) => "terminating",
        }
    }
}

/// What a NOTIFY carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NotifyKind {
    /// Subscription state; `last` for the final `terminated` one.
    State { last: bool },
    /// An `Event: check-sync` nudge in the subscription's dialog.
    CheckSync,
}

/// One subscription.
#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    pub(crate) entity: EntityKey,
    pub(crate) package: Package,
    pub(crate) format: Format,
    pub(crate) event_id: Option<String>,
    /// Who subscribed (the entity of From).
    pub(crate) subscriber: EntityKey,
    /// It came from a trusted source (a proxy that vouches for the From), so the per-watcher
    /// quota counts it per subscriber; from anywhere else the From is whatever the sender
    /// chose, and the quota counts per source address.
    pub(crate) vouched: bool,
    pub(crate) dialog: Dialog,
    /// Where NOTIFYs go: the source (and connection) of the latest SUBSCRIBE.
    pub(crate) peer: Peer,
    /// Our host as the subscriber addressed us, for Via and Contact.
    pub(crate) our_host: String,
    pub(crate) expires_at: Instant,
    pub(crate) phase: Phase,
    /// The dialog-info version the next NOTIFY carries (RFC 4235 §4.1: starts at 0).
    pub(crate) version: u32,
    /// The entity change number the last NOTIFY showed.
    pub(crate) seen_change: u64,
    /// The NOTIFY awaiting its final response, if one is.
    pub(crate) in_flight: Option<NotifyKind>,
    /// State changed while a NOTIFY was in flight: send again when it completes.
    pub(crate) dirty: bool,
    /// A check-sync NOTIFY is waiting to be sent.
    pub(crate) check_sync: bool,
    /// NOTIFYs in a row that timed out.
    pub(crate) failures: u8,
    /// The device profile chosen for the subscriber (an index into the configured ones).
    pub(crate) profile: Option<usize>,
    /// When the last state NOTIFY went out (for the profile's rate limit); `None` lets the
    /// next one go at once.
    pub(crate) last_notify_at: Option<Instant>,
    /// A state NOTIFY has gone out (a profile may hold back an empty first one).
    pub(crate) notified: bool,
    /// The watcher has answered a NOTIFY with a 2xx: it is where its SUBSCRIBE said. Until
    /// then a NOTIFY timeout ends the subscription at once, so one forged SUBSCRIBE costs
    /// one NOTIFY's retransmissions and no more.
    pub(crate) answered: bool,
    /// The SUBSCRIBE that set it up was authenticated: a device profile may then take its
    /// refreshes without a new challenge.
    pub(crate) authenticated: bool,
    /// For a feature key: what its last NOTIFY that can have arrived showed, so the next
    /// carries only what differs (`None`: send everything).
    pub(crate) features_sent: Option<Box<FeatureState>>,
    /// For a list subscription (RFC 4662): what each member's last part showed (its
    /// change number, by member; `None`: not sent, and all `None` means full state next).
    pub(crate) list: Option<Box<[Option<u64>]>>,
    /// What the store last got of what changes in a subscription's life (`None`: nothing
    /// yet in this run).
    pub(crate) stored: Option<StoredAs>,
}

/// What the store last got of the parts of a subscription that change while it lives: our
/// CSeq, and a digest of the rest (the watcher's CSeq, the expiry, where NOTIFYs go, whether
/// one went out). Everything else stored changes only with a SUBSCRIBE from the watcher,
/// which moves its CSeq. A digest, not a copy, because every subscription holds one: two
/// different states digesting alike (one chance in 2^64) would only skip one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct StoredAs {
    pub(crate) local_seq: u32,
    pub(crate) digest: u64,
}

impl Subscription {
    /// What [`StoredAs`] would record of it now.
    pub(crate) fn stored_as(&self) -> StoredAs {
        let mut digest = std::hash::DefaultHasher::new();
        (self.dialog.remote_seq, self.expires_at, self.peer, self.notified).hash(&mut digest);
        StoredAs { local_seq: self.dialog.local_seq, digest: digest.finish() }
    }

    /// Our Contact for the subscription's dialog.
    pub(crate) fn contact(&self) -> String {
        self.peer.contact(None, &self.our_host)
    }

    /// Seconds left, rounded up, for `Subscription-State: active;expires=`.
    pub(crate) fn remaining_secs(&self, now: Instant) -> u64 {
        let left = self.expires_at.saturating_duration_since(now);
        left.as_secs() + u64::from(left.subsec_nanos() > 0)
    }
}

/// The key of an in-dialog SUBSCRIBE: the dialog plus the event package and `id`.
type DialogKey = (DialogId, Package, Option<String>);

/// A watcher of an entity, as the per-watcher quota counts them: a source address, and the
/// subscriber too when the source vouches for it.
type WatcherKey = (EntityKey, Option<EntityKey>, SocketAddr);

/// All subscriptions and their indexes.
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    /// In id order, so the look-up pages through them from any id.
    /// Boxed: a tree node holds eleven entries and is seldom full, and a subscription is
    /// large beside its id.
    by_id: BTreeMap<SubscriptionId, Box<Subscription>>,
    by_dialog: FastMap<DialogKey, SubscriptionId>,
    by_entity: HashMap<EntityKey, BTreeSet<SubscriptionId>>,
    /// Mostly one subscription a Call-ID (a dialog may carry several packages): a list, not
    /// a tree node each.
    by_call_id: FastMap<String, Vec<SubscriptionId>>,
    /// Subscriptions bound to a connection (ending ones too), so a closed one finds its own.
    by_flow: HashMap<FlowId, BTreeSet<SubscriptionId>>,
    /// Active subscriptions per watcher, so the quota check costs the same however many
    /// others watch the entity.
    per_watcher: HashMap<WatcherKey, usize>,
    /// Active subscriptions per source address, for its share of the table.
    per_source: Tally,
}

impl Subscriptions {
    pub(crate) fn insert(&mut self, id: SubscriptionId, mut sub: Subscription, directory: &mut Directory) {
        // One copy of the entity's name however many watch it.
        if let Some((shared, _)) = self.by_entity.get_key_value(&sub.entity) {
            sub.entity = shared.clone();
        }
        self.by_dialog.insert((sub.dialog.id.clone(), sub.package, sub.event_id.clone()), id);
        let watchers = self.by_entity.entry(sub.entity.clone()).or_insert_with(|| {
            directory.add(&sub.entity);
            BTreeSet::new()
        });
        watchers.insert(id);
        directory.touch(&sub.entity);
        self.by_call_id.entry(sub.dialog.id.call_id.clone()).or_default().push(id);
        *self.per_watcher.entry(watcher_key(&sub)).or_default() += 1;
        self.per_source.add(sub.peer.addr.ip());
        if let Some(flow) = connection_of(&sub.peer) {
            self.by_flow.entry(flow).or_default().insert(id);
        }
        self.by_id.insert(id, Box::new(sub));
    }

    /// The subscription's NOTIFYs go to `peer` from now on (a refresh from a rebound NAT).
    pub(crate) fn move_peer(&mut self, id: SubscriptionId, peer: Peer) {
        let Some(sub) = self.by_id.get(&id) else { return };
        let counted = self.by_entity.get(&sub.entity).is_some_and(|ids| ids.contains(&id));
        if counted {
            uncount(&mut self.per_watcher, watcher_key(sub));
        }
        if let Some(flow) = connection_of(&sub.peer) {
            remove_from(&mut self.by_flow, &flow, id);
        }
        if let Some(flow) = connection_of(&peer) {
            self.by_flow.entry(flow).or_default().insert(id);
        }
        let Some(sub) = self.by_id.get_mut(&id) else { return };
        let before = std::mem::replace(&mut sub.peer, peer);
        if counted {
            *self.per_watcher.entry(watcher_key(sub)).or_default() += 1;
            self.per_source.moved(before.addr.ip(), peer.addr.ip());
        }
    }

    pub(crate) fn get(&self, id: SubscriptionId) -> Option<&Subscription> {
        self.by_id.get(&id).map(|s| &**s)
    }

    pub(crate) fn get_mut(&mut self, id: SubscriptionId) -> Option<&mut Subscription> {
        self.by_id.get_mut(&id).map(|s| &mut **s)
    }

    pub(crate) fn find_dialog(
        &self,
        dialog: &DialogId,
        package: Package,
        event_id: Option<&str>,
    ) -> Option<SubscriptionId> {
        self.by_dialog.get(&(dialog.clone(), package, event_id.map(str::to_owned))).copied()
    }

    /// Active subscriptions to `entity`.
    pub(crate) fn of_entity(&self, entity: &EntityKey) -> Vec<SubscriptionId> {
        self.by_entity.get(entity).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// Active subscriptions of `entity` whose dialog has this Call-ID.
    pub(crate) fn of_call_id(&self, entity: &EntityKey, call_id: &str) -> Vec<SubscriptionId> {
        let ids = self.by_call_id.get(call_id).into_iter().flatten();
        ids.copied().filter(|id| self.by_id.get(id).is_some_and(|s| s.entity == *entity)).collect()
    }

    /// Subscriptions whose NOTIFYs travel on `flow`.
    pub(crate) fn on_flow(&self, flow: FlowId) -> Vec<SubscriptionId> {
        self.by_flow.get(&flow).map(|ids| ids.iter().copied().collect()).unwrap_or_default()
    }

    /// How many active subscriptions `entity` has.
    pub(crate) fn count_of_entity(&self, entity: &EntityKey) -> usize {
        self.by_entity.get(entity).map_or(0, BTreeSet::len)
    }

    /// How many active subscriptions to `entity` come from the address `from`, as
    /// `subscriber` when the source vouches for it.
    pub(crate) fn count_of_watcher(
        &self,
        entity: &EntityKey,
        subscriber: Option<&EntityKey>,
        from: SocketAddr,
    ) -> usize {
        self.per_watcher.get(&(entity.clone(), subscriber.cloned(), from)).copied().unwrap_or(0)
    }

    /// The limit one more subscription from `source` would pass, if any.
    pub(crate) fn over_quota(&self, source: IpAddr, limits: &Limits) -> Option<Over> {
        self.per_source.over(source, limits.subscriptions, limits)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Every subscription, ending ones included, in id order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SubscriptionId, &Subscription)> {
        self.by_id.iter().map(|(id, s)| (*id, &**s))
    }

    /// The subscriptions after `after` (from the first without it), in id order.
    pub(crate) fn after(&self, after: Option<SubscriptionId>) -> impl Iterator<Item = (SubscriptionId, &Subscription)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let from = after.map_or(Unbounded, Excluded);
        self.by_id.range((from, Unbounded)).map(|(id, s)| (*id, &**s))
    }

    /// Takes a subscription out of the lookup indexes (so no new state and no refresh
    /// reaches it) while keeping it for its final NOTIFY.
    pub(crate) fn detach(&mut self, id: SubscriptionId, directory: &mut Directory) {
        let Some(sub) = self.by_id.get(&id) else { return };
        self.by_dialog.remove(&(sub.dialog.id.clone(), sub.package, sub.event_id.clone()));
        let was_active = self.by_entity.get(&sub.entity).is_some_and(|ids| ids.contains(&id));
        if was_active {
            uncount(&mut self.per_watcher, watcher_key(sub));
            self.per_source.remove(sub.peer.addr.ip());
            directory.touch(&sub.entity);
        }
        if remove_from(&mut self.by_entity, sub.entity.as_str(), id) {
            directory.remove(&sub.entity);
        }
        if let Some(ids) = self.by_call_id.get_mut(sub.dialog.id.call_id.as_str()) {
            ids.retain(|other| *other != id);
            if ids.is_empty() {
                self.by_call_id.remove(sub.dialog.id.call_id.as_str());
            }
        }
    }

    /// Forgets a subscription entirely.
    pub(crate) fn remove(&mut self, id: SubscriptionId, directory: &mut Directory) -> Option<Subscription> {
        self.detach(id, directory);
        let sub = self.by_id.remove(&id)?;
        if let Some(flow) = connection_of(&sub.peer) {
            remove_from(&mut self.by_flow, &flow, id);
        }
        Some(*sub)
    }
}

/// The connection a subscription's NOTIFYs travel on; none over UDP, whose flow is a socket
/// that outlives any one subscriber.
fn connection_of(peer: &Peer) -> Option<FlowId> {
    peer.flow.filter(|_| peer.transport.is_reliable())
}

fn watcher_key(sub: &Subscription) -> WatcherKey {
    (sub.entity.clone(), sub.vouched.then(|| sub.subscriber.clone()), sub.peer.addr)
}

/// One subscription fewer for `key`.
fn uncount(per_watcher: &mut HashMap<WatcherKey, usize>, key: WatcherKey) {
    if let Some(n) = per_watcher.get_mut(&key) {
        *n -= 1;
        if *n == 0 {
            per_watcher.remove(&key);
        }
    }
}

/// Takes `id` out of the set under `key`; true when that emptied (and dropped) the set.
fn remove_from<K: Borrow<Q> + Hash + Eq, Q: Hash + Eq + ?Sized>(
    index: &mut HashMap<K, BTreeSet<SubscriptionId>>,
    key: &Q,
    id: SubscriptionId,
) -> bool {
    let Some(ids) = index.get_mut(key) else { return false };
    ids.remove(&id);
    let emptied = ids.is_empty();
    if emptied {
        index.remove(key);
    }
    emptied
}
