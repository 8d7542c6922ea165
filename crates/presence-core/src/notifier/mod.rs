//! The notifier (RFC 6665 §4.2): owns the subscriptions we serve. `subscribe` takes
//! SUBSCRIBEs (new, refresh, unsubscribe, fetch), `notify` sends their NOTIFYs and reads
//! their outcomes, `store` keeps them across restarts, `subscription` is the table and its
//! indexes. What the NOTIFYs show comes from the entity component, read-only.

mod notify;
mod store;
mod subscribe;
mod subscription;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use crate::api::SourceAddress;
use crate::bodies::Format;
use crate::config::EngineConfig;
use crate::context::Ctx;
use crate::entities::Entities;
use crate::entity_key::EntityKey;
use crate::ids::SubscriptionId;
use crate::peer::FlowId;
use crate::views::SubscriptionView;
use subscription::{Phase, Subscription, Subscriptions};

/// The notifier component.
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    subscriptions: Subscriptions,
}

impl Notifier {
    /// A stream connection closed: the subscriptions bound to it can no longer be notified
    /// and end without a final NOTIFY (a transport error ends a stream-bound subscription).
    pub(crate) fn on_flow_closed(&mut self, flow: FlowId, cx: &mut Ctx<'_>) {
        for id in self.subscriptions.on_flow(flow) {
            self.end_subscription(id, cx.fx);
        }
    }

    /// Ends a subscription from outside (`terminated;reason=deactivated`). False when there
    /// is no such active subscription.
    pub(crate) fn deactivate(&mut self, id: u64, entities: &Entities, cx: &mut Ctx<'_>) -> bool {
        let id = SubscriptionId(id);
        let active = self.subscriptions.get(id).is_some_and(|s| s.phase == Phase::Active);
        if active {
            self.terminate(id, "deactivated", entities, cx);
        }
        active
    }

    /// The addresses that hold a message-summary subscription to `entity` (their phones
    /// need no unsolicited MWI).
    pub(crate) fn mwi_subscriber_addrs(&self, entity: &EntityKey) -> Vec<SocketAddr> {
        let subs = self.subscriptions.of_entity(entity).into_iter().filter_map(|id| self.subscriptions.get(id));
        subs.filter(|s| s.format == Format::MessageSummary).map(|s| s.peer.addr).collect()
    }

    /// How many subscriptions are held, ending ones included.
    pub(crate) fn len(&self) -> usize {
        self.subscriptions.len()
    }

    /// How many active subscriptions `entity` has.
    pub(crate) fn watchers_of(&self, entity: &EntityKey) -> usize {
        self.subscriptions.count_of_entity(entity)
    }

    /// How many subscriptions there are, and the first `limit` after id `after` in id order.
    pub(crate) fn page(
        &self,
        after: Option<u64>,
        limit: usize,
        config: &EngineConfig,
        now: Instant,
    ) -> (usize, Vec<SubscriptionView>) {
        let views = (self.subscriptions.after(after.map(SubscriptionId)))
            .take(limit)
            .map(|(id, s)| view(id, s, config, now))
            .collect();
        (self.subscriptions.len(), views)
    }

    /// The active subscriptions to `entity`, in id order.
    pub(crate) fn views_of(&self, entity: &EntityKey, config: &EngineConfig, now: Instant) -> Vec<SubscriptionView> {
        let ids = self.subscriptions.of_entity(entity).into_iter();
        ids.filter_map(|id| self.subscriptions.get(id).map(|s| view(id, s, config, now))).collect()
    }

    /// How many subscriptions there are per (event package, `active`/`terminating`).
    pub(crate) fn counts(&self) -> BTreeMap<(&'static str, &'static str), u64> {
        let mut counts = BTreeMap::new();
        for (_, s) in self.subscriptions.iter() {
            *counts.entry((s.package.name(), s.phase.name())).or_default() += 1;
        }
        counts
    }
}

fn view(id: SubscriptionId, s: &Subscription, config: &EngineConfig, now: Instant) -> SubscriptionView {
    SubscriptionView {
        id: id.0,
        entity: s.entity.to_string(),
        subscriber: s.subscriber.to_string(),
        event: s.package.name(),
        content_type: s.format.content_type(),
        call_id: s.dialog.id.call_id.clone(),
        expires_in: s.remaining_secs(now),
        state: s.phase.name(),
        peer: SourceAddress::of(s.peer),
        profile: s.profile.and_then(|p| config.profiles.get(p)).map(|p| p.name.clone()),
    }
}
