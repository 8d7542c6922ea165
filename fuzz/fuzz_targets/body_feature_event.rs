//! Arbitrary bytes as a feature key's `SetDoNotDisturb`/`SetForwarding` body: the parser must
//! never panic, and what it accepts is a change it has checked (a target a phone can dial, a
//! ring count a phone offers).

#![no_main]

use libfuzzer_sys::fuzz_target;
use presence_core::bodies::feature_event;
use presence_core::features::FeatureChange;

fuzz_target!(|data: &[u8]| {
    if let Ok(FeatureChange::Forward(_, forwarding)) = feature_event::parse(data) {
        assert_eq!(forwarding.clone().checked(), Ok(forwarding), "accepted, so already checked");
    }
});
