//! TLS for the `tls` and `wss` listeners (RFC 3261 §26.2; RFC 7118 §3 for WSS): the server's
//! certificate chain and key, read from PEM files, and, when `sip.tls.client_ca` is set, the
//! CAs a client certificate must chain to (mutual TLS). A reload swaps the whole server
//! configuration at once: connections already open keep the one they began with, new ones
//! get the new one, and a reload that fails to read keeps the old.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use super::StreamRules;
use crate::config::TlsConfig;
use crate::counters;

/// Why the TLS settings cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A `tls` or `wss` listener without `sip.tls.certificate` and `sip.tls.private_key`.
    #[error(
        "a tls or wss listener needs sip.tls.certificate and sip.tls.private_key (PEM files); \
         `babble-presence gen-cert` makes a self-signed pair for a first try"
    )]
    NotConfigured,
    /// A PEM file cannot be read, or holds nothing of what it should.
    #[error("reading {what} from {}: {source}", path.display())]
    Pem {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{} holds no certificate (expected PEM blocks \"BEGIN CERTIFICATE\")", .0.display())]
    NoCertificate(PathBuf),
    /// The client CA file holds a certificate that cannot be a trust anchor, or none.
    #[error("sip.tls.client_ca {}: {why}", path.display())]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// What rustls said of it.
        why: String,
    },
    /// The key does not fit the certificate, or another refusal of rustls.
    #[error("sip.tls: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The TLS server configuration in use, swapped whole on reload.
#[derive(Debug)]
pub(crate) struct ServerTls(ArcSwap<ServerConfig>);

impl ServerTls {
    /// Reads the certificate, key and client CAs that `config` names.
    pub(crate) fn load(config: &TlsConfig) -> Result<ServerTls, TlsError> {
        Ok(ServerTls(ArcSwap::from_pointee(server_config(config)?)))
    }

    /// Reads them again (a renewed certificate); on failure the one in use stays.
    pub(crate) fn reload(&self, config: &TlsConfig) -> Result<(), TlsError> {
        self.0.store(Arc::new(server_config(config)?));
        Ok(())
    }

    /// Completes the server side of a TLS handshake on `stream`, within the head timeout.
    /// `None` when it fails or times out: counted, and the connection is closed.
    pub(crate) async fn handshake(&self, stream: TcpStream, rules: &StreamRules) -> Option<TlsStream<TcpStream>> {
        let peer = stream.peer_addr().ok();
        let acceptor = TlsAcceptor::from(self.0.load_full());
        let why = match tokio::time::timeout(rules.head_timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => return Some(stream),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "timed out".to_owned(),
        };
        counters::add(&rules.counters.tls_handshake_failures, 1);
        tracing::debug!(?peer, why, "tls handshake failed");
        None
    }
}

/// A rustls server configuration from the PEM files of `config`, with the ring provider.
fn server_config(config: &TlsConfig) -> Result<ServerConfig, TlsError> {
    let (Some(certificate), Some(private_key)) = (&config.certificate, &config.private_key) else {
        return Err(TlsError::NotConfigured);
    };
    let chain = certificates("sip.tls.certificate", certificate)?;
    let key = PrivateKeyDer::from_pem_file(private_key).map_err(|source| TlsError::Pem {
        what: "sip.tls.private_key",
        path: private_key.clone(),
        source,
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca in certificates("sip.tls.client_ca", path)? {
                roots.add(ca).map_err(|e| TlsError::ClientCa { path: path.clone(), why: e.to_string() })?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| TlsError::ClientCa { path: path.clone(), why: e.to_string() })?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    Ok(builder.with_single_cert(chain, key)?)
}

/// Every certificate of a PEM file, at least one.
fn certificates(what: &'static str, path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem { what, path: path.to_owned(), source };
    let chain = CertificateDer::pem_file_iter(path).map_err(pem)?.collect::<Result<Vec<_>, _>>().map_err(pem)?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(chain)
}
