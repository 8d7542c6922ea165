//! Group commit's other half: what the driver holds back until the batch of changes it
//! follows is stored (see [`crate::storage`]). A response to a SUBSCRIBE, REGISTER or PUBLISH,
//! or an API command's acknowledgement, leaves only once the change it reports is committed,
//! so a crash cannot undo what a phone or an integration was told. Everything the driver
//! sends while a batch is outstanding waits behind it, in order, so nothing overtakes what
//! it holds. While the store is down nothing is released, so the queue is bounded: past
//! [`MAX_HELD`] a message is dropped (its sender retransmits, as after a lost datagram) and an
//! acknowledgement refused.

use std::collections::VecDeque;

use presence_core::Transmit;
use tokio::sync::{oneshot, watch};

/// Most items held at once.
pub(crate) const MAX_HELD: usize = 65_536;

/// Something waiting for a batch.
#[derive(Debug)]
pub(crate) enum Held {
    /// A message to send.
    Transmit(Transmit),
    /// An API command applied, to acknowledge.
    Applied(oneshot::Sender<()>),
}

/// The held items, by the number of the batch each waits for.
#[derive(Debug)]
pub(crate) struct Durable {
    held: VecDeque<(u64, Held)>,
    /// The number of the last batch the writer has committed.
    committed: watch::Receiver<u64>,
}

impl Durable {
    pub(crate) fn new(committed: watch::Receiver<u64>) -> Self {
        Durable { held: VecDeque::new(), committed }
    }

    /// Whether what follows batch `batch` must wait: it is not committed yet, or something
    /// earlier still waits.
    pub(crate) fn must_wait(&self, batch: u64) -> bool {
        batch > *self.committed.borrow() || !self.held.is_empty()
    }

    /// Holds `item` until batch `batch` is committed; `false` (and the item dropped) when
    /// [`MAX_HELD`] are held already.
    pub(crate) fn hold(&mut self, batch: u64, item: Held) -> bool {
        if self.held.len() >= MAX_HELD {
            return false;
        }
        self.held.push_back((batch, item));
        true
    }

    /// Waits until the writer commits another batch; `None` once the writer has stopped.
    pub(crate) async fn next_commit(&mut self) -> Option<u64> {
        self.committed.changed().await.ok()?;
        Some(*self.committed.borrow_and_update())
    }

    /// Waits until batch `batch` is committed, or the writer stops.
    pub(crate) async fn committed(&mut self, batch: u64) {
        while *self.committed.borrow() < batch {
            if self.committed.changed().await.is_err() {
                return;
            }
        }
    }

    /// Takes out everything held, in order (the writer is gone: nothing will be reported).
    pub(crate) fn take_all(&mut self) -> Vec<Held> {
        self.held.drain(..).map(|(_, item)| item).collect()
    }

    /// Takes out, in order, what waited for batches up to what is committed now.
    pub(crate) fn release(&mut self) -> Vec<Held> {
        let committed = *self.committed.borrow();
        let ready = self.held.iter().take_while(|(batch, _)| *batch <= committed).count();
        self.held.drain(..ready).map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_wait_for_their_batch_and_leave_in_order() {
        let (report, committed) = watch::channel(0);
        let mut durable = Durable::new(committed);
        assert!(durable.must_wait(1));
        let (first, mut first_done) = oneshot::channel();
        let (second, mut second_done) = oneshot::channel();
        assert!(durable.hold(1, Held::Applied(first)));
        assert!(durable.hold(2, Held::Applied(second)));
        assert!(durable.release().is_empty(), "nothing is committed yet");
        report.send_replace(1);
        let released = durable.release();
        assert_eq!(released.len(), 1);
        for item in released {
            if let Held::Applied(done) = item {
                done.send(()).unwrap();
            }
        }
        assert!(first_done.try_recv().is_ok());
        assert!(second_done.try_recv().is_err(), "batch 2 is not committed");
        assert!(durable.must_wait(1), "batch 1 is stored, but something earlier still waits");
        report.send_replace(2);
        assert_eq!(durable.release().len(), 1);
        assert!(!durable.must_wait(2));
    }

    #[test]
    fn the_queue_is_bounded_while_the_store_is_down() {
        let (_report, committed) = watch::channel(0);
        let mut durable = Durable::new(committed);
        for _ in 0..MAX_HELD {
            assert!(durable.hold(1, Held::Applied(oneshot::channel().0)));
        }
        assert!(!durable.hold(1, Held::Applied(oneshot::channel().0)), "one more is refused");
    }
}
