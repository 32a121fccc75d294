//! TLS for the `https://` servers llmtel dials: the `otlp` / `otlp_http` exporters' backends, and the model server
//! the `llm_proxy` and `ollama` receivers reach. rustls with the system's root certificates, plus a CA file when
//! configured. Shared by receivers and exporters, so it sits beside both rather than inside either.

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
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("tls.ca_file {path}: {e}"))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("tls.ca_file {path}: {e}"))?;
        if certs.is_empty() {
            return Err(format!("tls.ca_file {path}: no PEM certificate in it"));
        }
        for cert in certs {
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
