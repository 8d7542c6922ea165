//! The live view of entities behind the dashboard: every [`TAKE_EVERY`] the driver takes the
//! entities whose look-up changed from the engine, builds the views of those alone, moves
//! each between the groups the dashboard filters by (registered, busy, DND, with messages:
//! an index per group, in look-up order, so a filtered page costs the page), and hands the
//! views and the counts to every follower (a broadcast). No change makes anything walk every
//! entity; only the first take, and one after the engine noted more changes than it keeps,
//! list them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use presence_core::views::{Category, EntityView};
use presence_core::{Engine, EntityKey, NameIndex};
use tokio::sync::broadcast;

/// How often changed entities are taken: what a change waits at most before it shows, and
/// what makes a busy entity cost one view per period however often it changes.
pub(crate) const TAKE_EVERY: Duration = Duration::from_millis(200);

/// Batches a follower may fall behind before it is told to start over.
const FOLLOWER_BACKLOG: usize = 64;

/// How many entities there are, and in each [`Category`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Entities listed.
    pub entities: usize,
    /// Entities in each category, in the order of [`Category::ALL`].
    pub by_category: [usize; 4],
}

impl Counts {
    /// The number in `category`.
    pub fn of(&self, category: Category) -> usize {
        self.by_category[index(category)]
    }
}

/// The entities of each group, in look-up order, and how many entities there are.
#[derive(Debug, Default)]
struct Groups {
    members: [NameIndex<()>; 4],
    entities: usize,
}

impl Groups {
    fn counts(&self) -> Counts {
        Counts { entities: self.entities, by_category: self.members.each_ref().map(NameIndex::len) }
    }

    /// Moves `key` from the groups of `before` to those of `after` (bits of [`bit`]).
    fn regroup(&mut self, key: &EntityKey, before: u8, after: u8) {
        for category in Category::ALL {
            let members = &mut self.members[index(category)];
            match (before & bit(category) != 0, after & bit(category) != 0) {
                (false, true) => members.insert(key, ()),
                (true, false) => members.remove(key),
                _ => {}
            }
        }
    }
}

/// What changed in one take.
#[derive(Clone, Debug)]
pub struct FeedBatch {
    /// The views of the entities that changed and are still listed.
    pub changed: Vec<EntityView>,
    /// The entities that changed and are no longer listed.
    pub gone: Vec<String>,
    /// The counts after the take.
    pub counts: Counts,
    /// The views before this batch cannot be brought up to date by it: list again.
    pub relist: bool,
}

/// What front ends read: the batches as they come and the latest counts.
#[derive(Clone, Debug)]
pub struct EntityFeedHandle {
    batches: broadcast::Sender<Arc<FeedBatch>>,
    /// Written by the driver once per take, read by look-ups; held for no I/O.
    groups: Arc<Mutex<Groups>>,
}

impl EntityFeedHandle {
    /// The batches from now on. A follower that falls [`FOLLOWER_BACKLOG`] batches behind
    /// gets a lag error and should list again.
    pub fn follow(&self) -> broadcast::Receiver<Arc<FeedBatch>> {
        self.batches.subscribe()
    }

    /// The counts as of the last take.
    pub fn counts(&self) -> Counts {
        self.groups.lock().unwrap_or_else(PoisonError::into_inner).counts()
    }

    /// How many entities of `category` start with `prefix`, and the `limit` of them after
    /// the first `offset`, in look-up order, as of the last take. It costs the page.
    pub fn page_of(&self, category: Category, prefix: &str, offset: usize, limit: usize) -> (usize, Vec<EntityKey>) {
        let groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let (total, keys) = groups.members[index(category)].page(prefix, offset, limit);
        (total, keys.into_iter().cloned().collect())
    }
}

/// The driver's side: what each entity was counted in, and when to take next.
#[derive(Debug)]
pub(crate) struct EntityFeed {
    handle: EntityFeedHandle,
    /// The groups each listed entity is in (bits of [`bit`]).
    grouped: HashMap<EntityKey, u8>,
    next_take: Option<Instant>,
}

impl EntityFeed {
    pub(crate) fn new() -> EntityFeed {
        let handle = EntityFeedHandle {
            batches: broadcast::channel(FOLLOWER_BACKLOG).0,
            groups: Arc::new(Mutex::new(Groups::default())),
        };
        EntityFeed { handle, grouped: HashMap::new(), next_take: None }
    }

    /// What front ends read.
    pub(crate) fn handle(&self) -> EntityFeedHandle {
        self.handle.clone()
    }

    /// When the driver should wake to take changes (`None` before the first take).
    pub(crate) fn next_take(&self) -> Option<Instant> {
        self.next_take
    }

    /// Takes the engine's changed entities if it is time. The first take starts the engine
    /// noting changes and counts every entity.
    pub(crate) fn take_if_due(&mut self, engine: &mut Engine, now: Instant) {
        match self.next_take {
            None => {
                engine.follow_entities();
                self.count_all(engine);
            }
            Some(due) if now < due => return,
            Some(_) => self.take(engine),
        }
        self.next_take = Some(now + TAKE_EVERY);
    }

    fn take(&mut self, engine: &mut Engine) {
        let touched = engine.take_touched();
        if touched.overflowed {
            self.count_all(engine);
            return;
        }
        if touched.keys.is_empty() {
            return;
        }
        let mut batch = FeedBatch { changed: Vec::new(), gone: Vec::new(), counts: Counts::default(), relist: false };
        let mut groups = self.handle.groups.lock().unwrap_or_else(PoisonError::into_inner);
        for key in touched.keys {
            let before = self.grouped.get(&key).copied().unwrap_or(0);
            let view = engine.is_listed(&key).then(|| engine.entity_view(&key));
            let after = view.as_ref().map_or(0, categories);
            groups.regroup(&key, before, after);
            match view {
                Some(view) => {
                    self.grouped.insert(key, after);
                    batch.changed.push(view);
                }
                None => {
                    self.grouped.remove(&key);
                    batch.gone.push(key.to_string());
                }
            }
        }
        groups.entities = self.grouped.len();
        batch.counts = groups.counts();
        drop(groups);
        self.publish(batch);
    }

    /// Groups every listed entity afresh, and tells followers to list again.
    fn count_all(&mut self, engine: &Engine) {
        let mut groups = Groups::default();
        self.grouped.clear();
        for key in engine.listed_entities() {
            let categories = categories(&engine.entity_view(key));
            groups.regroup(key, 0, categories);
            self.grouped.insert(key.clone(), categories);
        }
        groups.entities = self.grouped.len();
        let counts = groups.counts();
        *self.handle.groups.lock().unwrap_or_else(PoisonError::into_inner) = groups;
        self.publish(FeedBatch { changed: Vec::new(), gone: Vec::new(), counts, relist: true });
    }

    fn publish(&self, batch: FeedBatch) {
        // Nobody following is not an error: no dashboard is open.
        let _ = self.handle.batches.send(Arc::new(batch));
    }
}

/// Its place in [`Category::ALL`] (the enum's order).
fn index(category: Category) -> usize {
    category as usize
}

fn bit(category: Category) -> u8 {
    1 << index(category)
}

fn categories(view: &EntityView) -> u8 {
    Category::ALL.into_iter().filter(|c| view.is(*c)).fold(0, |bits, c| bits | bit(c))
}

#[cfg(test)]
mod tests {
    use presence_core::EngineConfig;
    use presence_core::api::{Command, VoicemailReason};
    use presence_core::bodies::mwi::MessageCounts;

    use super::*;

    #[test]
    fn counts_follow_changes_without_listing_again() {
        let mut engine = Engine::new(EngineConfig::default());
        let mut feed = EntityFeed::new();
        let handle = feed.handle();
        let mut batches = handle.follow();
        let t0 = tokio::time::Instant::now().into_std();
        let voicemail = |entity: &str, new| Command::Voicemail {
            entity: entity.to_owned(),
            counts: MessageCounts { new, old: 0, new_urgent: 0, old_urgent: 0 },
            reason: VoicemailReason::Update,
        };
        engine.handle_command(voicemail("1001@pbx", 2), t0);
        feed.take_if_due(&mut engine, t0);
        let first = batches.try_recv().unwrap();
        assert!(first.relist);
        assert_eq!((first.counts.entities, first.counts.of(Category::Messages)), (1, 1));

        engine.handle_command(voicemail("1002@pbx", 1), t0);
        engine.handle_command(voicemail("1001@pbx", 0), t0);
        feed.take_if_due(&mut engine, t0 + TAKE_EVERY / 2);
        assert!(batches.try_recv().is_err(), "nothing is taken before its time");
        feed.take_if_due(&mut engine, t0 + TAKE_EVERY);
        let batch = batches.try_recv().unwrap();
        assert!(!batch.relist);
        let mut changed: Vec<_> = batch.changed.iter().map(|v| v.entity.as_str()).collect();
        changed.sort_unstable();
        assert_eq!(changed, ["1001@pbx", "1002@pbx"]);
        assert_eq!((batch.counts.entities, batch.counts.of(Category::Messages)), (2, 1));
        assert_eq!(handle.counts(), batch.counts);
        let (total, page) = handle.page_of(Category::Messages, "", 0, 10);
        assert_eq!((total, page.iter().map(EntityKey::as_str).collect::<Vec<_>>()), (1, vec!["1002@pbx"]));
    }
}
