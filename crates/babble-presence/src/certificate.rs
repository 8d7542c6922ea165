//! `babble-presence gen-cert`: a self-signed certificate and its key, for a first try of the
//! `tls` and `wss` listeners before a certificate from a CA is installed. Phones and browsers
//! must be told to trust it (or to skip verification), which is why it is for trying only.

use std::path::{Path, PathBuf};

/// A certificate and its private key, PEM-encoded.
#[derive(Debug)]
pub struct SelfSigned {
    /// The certificate (`BEGIN CERTIFICATE`).
    pub certificate_pem: String,
    /// Its private key (PKCS#8, `BEGIN PRIVATE KEY`).
    pub private_key_pem: String,
}

/// Why a certificate could not be made or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// rcgen refused a name or could not sign.
    #[error("making the certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file to write exists already.
    #[error("{} exists: gen-cert writes new files only", .0.display())]
    Exists(PathBuf),
    /// A file could not be written.
    #[error("writing {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// A self-signed certificate valid for `names`: host names, and IP addresses, which become
/// IP subject alternative names (what a phone pointed at an address checks).
pub fn self_signed(names: &[String]) -> Result<SelfSigned, CertificateError> {
    let rcgen::CertifiedKey { cert, signing_key } = rcgen::generate_simple_self_signed(names.to_vec())?;
    Ok(SelfSigned { certificate_pem: cert.pem(), private_key_pem: signing_key.serialize_pem() })
}

/// Writes a new certificate for `names` into `dir` as `babble-presence.crt` and
/// `babble-presence.key` (readable by the owner only), and returns both paths.
pub fn write_self_signed(dir: &Path, names: &[String]) -> Result<(PathBuf, PathBuf), CertificateError> {
    let (certificate, key) = (dir.join("babble-presence.crt"), dir.join("babble-presence.key"));
    for path in [&certificate, &key] {
        if path.exists() {
            return Err(CertificateError::Exists(path.clone()));
        }
    }
    let pair = self_signed(names)?;
    let write = |path: &Path, text: &str, mode: u32| {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
        file.write_all(text.as_bytes())
    };
    let failed = |path: &Path| {
        let path = path.to_owned();
        move |source| CertificateError::Write { path, source }
    };
    write(&key, &pair.private_key_pem, 0o600).map_err(failed(&key))?;
    write(&certificate, &pair.certificate_pem, 0o644).map_err(failed(&certificate))?;
    Ok((certificate, key))
}
