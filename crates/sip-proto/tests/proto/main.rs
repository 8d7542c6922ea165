//! Integration tests for sip-proto: torture and vendor vectors, round-trip properties and
//! transaction timing with a virtual clock.
