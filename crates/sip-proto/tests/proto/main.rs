//! Integration tests for sip-proto: the RFC 4475 torture messages and vendor-shaped
//! captures as files, round-trip properties, and transaction timing with a virtual clock.

mod roundtrip;
mod transactions;
mod vectors;
