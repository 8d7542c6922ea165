//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`): the server's own paths
//! through hostile bytes, without sockets.

pub use crate::transport::ws::fuzz_session as websocket_session;
