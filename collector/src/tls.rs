//! TLS for the `https://` servers llmtel dials: the `otlp` / `otlp_http` exporters' backends, and the model server
//! the `llm_proxy` and `ollama` receivers reach. rustls with the system's root certificates, plus a CA file when
//! configured. And the server side of every listener with `tls:` set ([`server_config`]): the OTLP receivers, the
//! Prometheus and admin endpoints and the sidecar. Shared by receivers and exporters, so it sits beside both rather
//! than inside either.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A rustls client config trusting the system roots and the certificates in `ca_file`.
pub(crate) fn client_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        for cert in pem_certs("tls.ca_file", path)? {
            roots
                .add(cert)
                .map_err(|e| format!("tls.ca_file {path}: {e}"))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("tls: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The rustls server config of a listener whose settings at `path` are `cfg`, offering `alpn` (e.g. `h2` and
/// `http/1.1`); `None` when TLS is off. With `client_ca_file`, clients must present a certificate signed by one
/// of its CAs. Errors name the setting and the file.
pub(crate) fn server_config(
    cfg: &llmtel_config::ServerTlsConfig,
    path: &str,
    alpn: &[&[u8]],
) -> Result<Option<Arc<rustls::ServerConfig>>, String> {
    let (Some(cert_file), Some(key_file)) = (&cfg.cert_file, &cfg.key_file) else {
        return Ok(None);
    };
    let chain = pem_certs(&format!("{path}.tls.cert_file"), cert_file)?;
    let key = rustls::pki_types::PrivateKeyDer::from_pem_file(key_file)
        .map_err(|e| format!("{path}.tls.key_file {key_file}: {e}"))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("{path}.tls: {e}"))?;
    let builder = match &cfg.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(ca_file) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in pem_certs(&format!("{path}.tls.client_ca_file"), ca_file)? {
                roots
                    .add(cert)
                    .map_err(|e| format!("{path}.tls.client_ca_file {ca_file}: {e}"))?;
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .map_err(|e| format!("{path}.tls.client_ca_file {ca_file}: {e}"))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{path}.tls: cert_file {cert_file} and key_file {key_file}: {e}"))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Some(Arc::new(config)))
}

/// ALPN for servers that speak HTTP/2 and HTTP/1.1.
pub(crate) const ALPN_H2_HTTP1: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN for gRPC (HTTP/2 only).
pub(crate) const ALPN_H2: &[&[u8]] = &[b"h2"];

/// The PEM certificates in `file`, the setting `setting` names; an unreadable file, a bad certificate or none at
/// all is an error naming both.
fn pem_certs(setting: &str, file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| format!("{setting} {file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{setting} {file}: no PEM certificate in it"));
    }
    Ok(certs)
}
