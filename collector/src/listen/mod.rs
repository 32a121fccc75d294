//! What every listener of the collector shares, built from its `tls:` and `auth:` settings: the [`Guard`] of a
//! listener (its TLS acceptor and bearer token), the accepted connections as one stream whether or not they are
//! TLS ([`incoming`]), and the bearer check for HTTP and gRPC ([`bearer`]). Used by the `otlp` receiver, the
//! `prometheus` exporter and the admin endpoint; the sidecar (`llm_proxy`) gets its TLS config from the factory.

pub(crate) mod bearer;
pub(crate) mod incoming;

use std::net::SocketAddr;
use std::sync::Arc;

use llmtel_config::{BearerAuthConfig, ServerTlsConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::bearer::Bearer;
use self::incoming::{Incoming, Tls};

/// The security of one listener: TLS, bearer auth, both or neither.
#[derive(Clone)]
pub(crate) struct Guard {
    /// The component it counts its refusals and failed handshakes for.
    component: String,
    /// The config path of the listener's settings, for the start-up warning.
    setting_path: String,
    tls: Option<Tls>,
    bearer: Option<Arc<Bearer>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("component", &self.component)
            .field("tls", &self.tls.is_some())
            .field("bearer", &self.bearer.is_some())
            .finish()
    }
}

impl Guard {
    /// The guard for the listener configured at `setting_path`, counting for `component`. Reads the certificate,
    /// key, client CA and token files; an error names the setting and the file.
    pub(crate) fn build(
        component: &str,
        setting_path: &str,
        tls: &ServerTlsConfig,
        auth: Option<&BearerAuthConfig>,
        alpn: &[&[u8]],
    ) -> Result<Self, String> {
        let tls = crate::tls::server_config(tls, setting_path, alpn)?.map(|config| Tls {
            acceptor: tokio_rustls::TlsAcceptor::from(config),
            handshake_timeout: tls.handshake_timeout.get(),
        });
        let bearer = match auth {
            Some(a) if a.enabled() => Some(Arc::new(Bearer::build(
                component,
                &format!("{setting_path}.auth"),
                a,
            )?)),
            _ => None,
        };
        Ok(Self {
            component: component.to_owned(),
            setting_path: setting_path.to_owned(),
            tls,
            bearer,
        })
    }

    /// The bearer check, when auth is on.
    pub(crate) fn bearer(&self) -> Option<Arc<Bearer>> {
        self.bearer.clone()
    }

    /// Whether clients speak TLS to this listener (for the URLs logged at start).
    pub(crate) fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "https" } else { "http" }
    }

    /// The accepted connections of `listener` (TLS-terminated when TLS is on) until `stop`, for `what` (the
    /// listener's name in logs); logs the one warning if `local` is open to the network.
    pub(crate) fn incoming(
        &self,
        what: &str,
        listener: TcpListener,
        local: SocketAddr,
        stop: CancellationToken,
    ) -> Incoming {
        if let Some(w) = llmtel_config::exposure_warning(
            what,
            local.ip(),
            self.tls.is_some(),
            self.bearer.is_some(),
            &self.setting_path,
            "auth.bearer_token",
        ) {
            tracing::warn!(component = %self.component, endpoint = %local, "{w}");
        }
        incoming::spawn(
            &self.component,
            what,
            listener,
            local,
            self.tls.clone(),
            stop,
        )
    }
}
