//! The live view's notes of changed entities (what the dashboard follows): a SUBSCRIBE, its
//! end, a REGISTER and an unregister each note their entity once, and what they change shows
//! in its view; a retransmission notes nothing.

use presence_core::EntityKey;

use crate::support::*;

const AOR: &str = "1001@pbx.example.com";

fn touched(h: &mut Harness) -> Vec<String> {
    let touched = h.engine.take_touched();
    assert!(!touched.overflowed);
    let mut keys: Vec<String> = touched.keys.iter().map(EntityKey::to_string).collect();
    keys.sort_unstable();
    keys
}

#[test]
fn watchers_and_bindings_that_come_and_go_note_their_entity() {
    let mut h = Harness::new();
    h.engine.follow_entities();
    let key = h.engine.config().entity_key(AOR);

    let mut watch = Watch::new("live1", "dialog", AOR);
    established(&mut h, &mut watch, Some(600), 0.0);
    assert_eq!(touched(&mut h), [AOR]);
    assert_eq!(h.engine.entity_view(&key).watchers, 1);
    assert!(!h.engine.has_touched(), "taking empties the notes");

    // The same SUBSCRIBE again (a retransmission) changes nothing.
    watch.cseq -= 1;
    h.send(&watch.subscribe(Some(600)), udp_peer(), 0.5);
    assert_eq!(touched(&mut h), Vec::<String>::new());

    let bind = register(AOR, "live-reg", 1, &["<sip:1001@192.0.2.10:5062>"], "Expires: 600\r\n");
    h.send(&bind, udp_peer(), 1.0);
    assert_eq!(touched(&mut h), [AOR]);
    let view = h.engine.entity_view(&key);
    assert_eq!((view.contacts, view.user_agents.as_slice()), (1, ["test-phone".to_owned()].as_slice()));

    let (responses, notifies) = split(&h.send(&watch.subscribe(Some(0)), udp_peer(), 2.0));
    assert_eq!(responses[0].status, 200);
    h.send(&answer(&notifies[0], 200), udp_peer(), 2.0);
    assert_eq!(touched(&mut h), [AOR]);
    assert_eq!(h.engine.entity_view(&key).watchers, 0);

    let unregister = register(AOR, "live-reg", 2, &["<sip:1001@192.0.2.10:5062>"], "Expires: 0\r\n");
    h.send(&unregister, udp_peer(), 3.0);
    assert_eq!(touched(&mut h), [AOR]);
    let view = h.engine.entity_view(&key);
    assert_eq!((view.contacts, view.registered, view.unavailable), (0, Some(false), Some("not registered")));
}

#[test]
fn nothing_is_noted_before_the_shell_follows() {
    let mut h = Harness::new();
    let mut watch = Watch::new("live2", "presence", AOR);
    established(&mut h, &mut watch, Some(600), 0.0);
    assert!(!h.engine.has_touched());
    assert_eq!(touched(&mut h), Vec::<String>::new());
}
