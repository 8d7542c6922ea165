//! Tests against the real `babble-presence` binary over real sockets on 127.0.0.1, and
//! interop tests that drive it with third-party SIP software (SIPp).

// Test helpers fail the test by panicking; that is their job.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod api;
mod baresip;
mod browser;
mod cli;
mod dashboard;
mod features;
mod hostile;
mod interop;
mod js;
mod kamailio;
mod kamailio_tls;
mod linphone;
mod lists;
mod matrix;
mod notifier;
mod pjsip;
mod profiles;
mod publisher;
mod registrar;
mod restart;
mod service;
mod streams;
mod support;
mod webdriver;
mod wire;
