//! Tests against the real binary over real sockets.
