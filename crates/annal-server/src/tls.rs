//! TLS with rustls, when the server is given a certificate chain and a key (PEM files).

use std::io;
use std::sync::Arc;

use crate::config::TlsFiles;

/// The acceptor for `files`, or `None` to serve plain HTTP.
pub(crate) fn acceptor(files: Option<&TlsFiles>) -> io::Result<Option<tokio_rustls::TlsAcceptor>> {
    let Some(files) = files else {
        return Ok(None);
    };
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, path: &std::path::Path, error: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {}: {error}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|error| bad("certificate", &files.cert, &error))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| bad("certificate", &files.cert, &error))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| bad("private key", &files.key, &error))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| bad("TLS setup for", &files.cert, &error))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|error| bad("certificate and key", &files.cert, &error))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
}
