//! Property: whatever mix of state changes, NOTIFY answers, refreshes, unsubscribes and
//! elapsed time a subscription meets, its NOTIFYs keep RFC 6665's promises: CSeq strictly
//! increases, dialog-info versions go up by one, nothing follows the terminated NOTIFY,
//! and no two NOTIFYs are outstanding at once.

use presence_core::api::{CallsUpdate, Command};
use presence_core::bodies::dialog_info;
use presence_core::call::{Call, CallState};
use proptest::prelude::*;
use sip_proto::{HeaderName, Request};

use crate::support::*;

#[derive(Clone, Debug)]
enum Step {
    Change(u8),
    Answer(u16),
    Wait(u16),
    Refresh,
    Unsubscribe,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => any::<u8>().prop_map(Step::Change),
        4 => prop_oneof![Just(200u16), Just(200), Just(202), Just(481), Just(500)].prop_map(Step::Answer),
        2 => (0u16..40_000).prop_map(Step::Wait),
        1 => Just(Step::Refresh),
        1 => Just(Step::Unsubscribe),
    ]
}

#[derive(Default)]
struct Observed {
    last_cseq: Option<u32>,
    last_version: Option<u32>,
    terminated: bool,
    /// The NOTIFY awaiting an answer, and when it was sent.
    outstanding: Option<(Request, f64)>,
}

impl Observed {
    fn see(&mut self, notify: Request, now: f64) -> Result<(), TestCaseError> {
        let cseq = notify.headers.cseq().unwrap().seq;
        if Some(cseq) == self.last_cseq {
            return Ok(()); // a retransmission of the outstanding NOTIFY
        }
        // Timer F (64*T1 = 32 s) ends an unanswered NOTIFY's transaction.
        if self.outstanding.as_ref().is_some_and(|(_, sent)| now - sent >= 32.0) {
            self.outstanding = None;
        }
        prop_assert!(!self.terminated, "a NOTIFY after the terminated one");
        prop_assert!(self.last_cseq.is_none_or(|last| cseq > last), "CSeq {cseq} after {:?}", self.last_cseq);
        prop_assert!(self.outstanding.is_none(), "two NOTIFYs outstanding");
        let doc = dialog_info::parse(&notify.body).unwrap();
        prop_assert_eq!(doc.version, self.last_version.map_or(0, |v| v + 1));
        self.last_version = Some(doc.version);
        self.last_cseq = Some(cseq);
        self.terminated = header(&notify, HeaderName::SubscriptionState).starts_with("terminated");
        self.outstanding = Some((notify, now));
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn notify_sequences_keep_their_promises(steps in proptest::collection::vec(step(), 1..40)) {
        let mut h = Harness::new();
        let mut watch = Watch::new("prop", "dialog", "1001@pbx.example.com");
        let mut seen = Observed::default();
        let (responses, notifies) = split(&h.send(&watch.subscribe(Some(300)), udp_peer(), 0.0));
        watch.accepted(&responses[0]);
        for n in notifies {
            seen.see(n, 0.0)?;
        }
        let mut now = 0.0;
        for step in steps {
            let sent = match step {
                Step::Change(n) => {
                    let id = format!("call-{}", n % 4);
                    let state = [CallState::Early, CallState::Confirmed, CallState::Terminated][usize::from(n / 4 % 3)];
                    let command = Command::Dialog {
                        entity: "1001@pbx.example.com".into(),
                        display: None,
                        call_count: None,
                        calls: CallsUpdate::Partial(Call::new(id, state)),
                        call_id: None,
                    };
                    h.engine.handle_command(command, h.at(now));
                    h.drain()
                }
                Step::Answer(status) => match seen.outstanding.take() {
                    Some((notify, _)) => h.send(&answer(&notify, status), udp_peer(), now),
                    None => Vec::new(),
                },
                Step::Wait(ms) => {
                    now += f64::from(ms) / 1000.0;
                    h.engine.handle_timeout(h.at(now));
                    h.drain()
                }
                Step::Refresh => h.send(&watch.subscribe(Some(300)), udp_peer(), now),
                Step::Unsubscribe => h.send(&watch.subscribe(Some(0)), udp_peer(), now),
            };
            for n in split(&sent).1 {
                seen.see(n, now)?;
            }
            if h.engine.subscription_count() == 0 {
                // Ended (terminated, 481, error or timeouts): nothing more may arrive.
                seen.outstanding = None;
            }
        }
    }
}
