//! Integration tests for sip-proto: the RFC 4475 torture messages and vendor-shaped
//! captures as files, round-trip properties, and transaction timing with a virtual clock.

// Test helpers fail the test by panicking; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod roundtrip;
mod transactions;
mod vectors;
