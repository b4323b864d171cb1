//! TLS for every connection to the server (the pool's and the listener's), with rustls, and
//! libpq's meaning of `sslmode`.
//!
//! | `sslmode` | encrypted | server certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `prefer` (libpq's default) | if the server offers it | no |
//! | `require` | always, or the connection fails | no; with `sslrootcert`, as `verify-ca` |
//! | `verify-ca` | always | chains to a root in `sslrootcert` (any host name) |
//! | `verify-full` | always | chains to a root in `sslrootcert` and names the host |
//!
//! `require` without a root certificate encrypts against eavesdroppers but accepts any server
//! certificate, so it does not stop an active man in the middle: that is libpq's behaviour, and
//! `verify-full` is the mode to use across untrusted networks. Unlike libpq, no default root
//! file (`~/.postgresql/root.crt`) is read: `verify-ca` and `verify-full` need `sslrootcert`.
//! The handshake's signatures are checked in every mode, so the server must hold the key of
//! the certificate it shows.
//!
//! Invariant: a mode that verifies never connects to a server whose certificate fails the
//! check; only `disable` and `prefer` ever send a byte in the clear.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::error::ConnectError;

/// How a connection uses TLS: libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it, without checking its certificate (libpq's default).
    #[default]
    Prefer,
    /// Always encrypt; check the certificate only when a root certificate is given.
    Require,
    /// Always encrypt, and the certificate must chain to a given root (any host name).
    VerifyCa,
    /// Always encrypt, and the certificate must chain to a given root and name the host.
    VerifyFull,
}

impl TlsMode {
    /// The mode named by a libpq `sslmode` value (`allow` is not supported).
    pub fn from_sslmode(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    /// What tokio-postgres is told: whether to ask for TLS, and whether to insist.
    pub(crate) fn ssl_mode(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

/// The TLS settings of a store's connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// The mode (`sslmode`).
    pub mode: TlsMode,
    /// A PEM file of root certificates (`sslrootcert`).
    pub root_cert: Option<PathBuf>,
}

/// The connector for `options`: a rustls client configured to check what the mode asks.
pub(crate) fn connector(options: &TlsOptions) -> Result<MakeRustlsConnect, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = match &options.root_cert {
        Some(path) => Some(roots(path)?),
        None => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (options.mode, roots) {
        (TlsMode::VerifyFull, Some(roots)) => webpki(roots, &provider)?,
        (TlsMode::VerifyCa | TlsMode::Require, Some(roots)) => Arc::new(AnyHostName {
            inner: webpki(roots, &provider)?,
        }),
        (TlsMode::VerifyCa | TlsMode::VerifyFull, None) => {
            return Err(tls_error(
                "sslmode=verify-ca and verify-full need sslrootcert=<PEM file of the root \
                 certificates to trust>",
            ));
        }
        (TlsMode::Disable | TlsMode::Prefer | TlsMode::Require, _) => Arc::new(EncryptOnly {
            provider: Arc::clone(&provider),
        }),
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| tls_error(&format!("setting up TLS: {error}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// The root certificates in the PEM file at `path`.
fn roots(path: &Path) -> Result<RootCertStore, ConnectError> {
    let unreadable = |error: &dyn std::fmt::Display| {
        tls_error(&format!("reading sslrootcert {}: {error}", path.display()))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        let cert = cert.map_err(|e| unreadable(&e))?;
        roots.add(cert).map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no certificate"));
    }
    Ok(roots)
}

fn webpki(
    roots: RootCertStore,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, ConnectError> {
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), Arc::clone(provider))
        .build()
        .map_err(|error| tls_error(&format!("setting up certificate checks: {error}")))
}

fn tls_error(reason: &str) -> ConnectError {
    ConnectError::Tls {
        reason: reason.to_owned(),
    }
}

/// Accepts any certificate (libpq's `prefer` and `require` without a root), still checking
/// that the server signed the handshake with the certificate's key.
#[derive(Debug)]
struct EncryptOnly {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The full check except the host name (libpq's `verify-ca`).
#[derive(Debug)]
struct AnyHostName {
    inner: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for AnyHostName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let checked = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match checked {
            // The chain was checked first: only the name is left unchecked.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
