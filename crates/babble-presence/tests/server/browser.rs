//! Interop: JsSIP in headless Chromium over WSS (interop/js/browser).
