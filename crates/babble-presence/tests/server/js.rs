//! Interop: JsSIP and SIP.js under Node.js over WS and WSS (interop/js).
