//! HTTPS with rustls: a PEM certificate chain and private key (`--tls-cert`, `--tls-key`),
//! served on the main port or on a second one (`--tls-port`) beside plain HTTP. The handshake
//! runs in the connection's own task, under the client timeout, so a client that never
//! finishes it holds its slot no longer than one that never sends its headers.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

/// The acceptor for a certificate chain and key; a file that cannot be read or parsed, or a
/// key that does not match the certificate, is refused with the file and reason.
pub fn acceptor(cert: &Path, key: &Path) -> Result<TlsAcceptor, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!(
            "TLS certificate {}: no CERTIFICATE block in the file",
            cert.display()
        ));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
    // Only HTTP/1.1 is served.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_empty_files_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no pem here\n").unwrap();
        let missing = dir.path().join("missing.pem");
        let e = acceptor(&missing, &empty).err().unwrap();
        assert!(
            e.starts_with("TLS certificate ") && e.contains("missing.pem"),
            "{e}"
        );
        let e = acceptor(&empty, &empty).err().unwrap();
        assert!(e.contains("no CERTIFICATE block"), "{e}");
    }
}
