//! The live view of entities behind the dashboard: every [`TAKE_EVERY`] the driver takes the
//! entities whose look-up changed from the engine, builds the views of those alone, keeps
//! the counts of registered, busy, DND and with-messages entities by difference, and hands
//! the views and counts to every follower (a broadcast). No change makes anything walk every
//! entity; only the first take, and one after the engine noted more changes than it keeps,
//! list them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use presence_core::views::{Category, EntityView};
use presence_core::{Engine, EntityKey};
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

    fn apply(&mut self, categories: u8, sign: isize) {
        for category in Category::ALL {
            if categories & bit(category) != 0 {
                let n = &mut self.by_category[index(category)];
                *n = n.saturating_add_signed(sign);
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
    counts: Arc<Mutex<Counts>>,
}

impl EntityFeedHandle {
    /// The batches from now on. A follower that falls [`FOLLOWER_BACKLOG`] batches behind
    /// gets a lag error and should list again.
    pub fn follow(&self) -> broadcast::Receiver<Arc<FeedBatch>> {
        self.batches.subscribe()
    }

    /// The counts as of the last take.
    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The driver's side: what each entity was counted in, and when to take next.
#[derive(Debug)]
pub(crate) struct EntityFeed {
    handle: EntityFeedHandle,
    /// The categories each listed entity was counted in (bits of [`bit`]).
    counted: HashMap<EntityKey, u8>,
    counts: Counts,
    next_take: Option<Instant>,
}

impl EntityFeed {
    pub(crate) fn new() -> EntityFeed {
        let handle = EntityFeedHandle {
            batches: broadcast::channel(FOLLOWER_BACKLOG).0,
            counts: Arc::new(Mutex::new(Counts::default())),
        };
        EntityFeed { handle, counted: HashMap::new(), counts: Counts::default(), next_take: None }
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
        for key in touched.keys {
            let before = self.counted.get(&key).copied();
            let listed = engine.is_listed(&key);
            let view = listed.then(|| engine.entity_view(&key));
            let after = view.as_ref().map(categories);
            if let Some(before) = before {
                self.counts.apply(before, -1);
            }
            if let Some(after) = after {
                self.counts.apply(after, 1);
            }
            match (after, view) {
                (Some(after), Some(view)) => {
                    self.counted.insert(key, after);
                    batch.changed.push(view);
                }
                _ => {
                    self.counted.remove(&key);
                    batch.gone.push(key.to_string());
                }
            }
        }
        self.counts.entities = self.counted.len();
        batch.counts = self.counts;
        self.publish(batch);
    }

    /// Counts every listed entity afresh, and tells followers to list again.
    fn count_all(&mut self, engine: &Engine) {
        self.counted.clear();
        self.counts = Counts::default();
        for key in engine.listed_entities() {
            let categories = categories(&engine.entity_view(key));
            self.counts.apply(categories, 1);
            self.counted.insert(key.clone(), categories);
        }
        self.counts.entities = self.counted.len();
        self.publish(FeedBatch { changed: Vec::new(), gone: Vec::new(), counts: self.counts, relist: true });
    }

    fn publish(&self, batch: FeedBatch) {
        *self.handle.counts.lock().unwrap_or_else(PoisonError::into_inner) = batch.counts;
        // Nobody following is not an error: no dashboard is open.
        let _ = self.handle.batches.send(Arc::new(batch));
    }
}

fn index(category: Category) -> usize {
    Category::ALL.iter().position(|c| *c == category).unwrap_or(0)
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
    }
}
