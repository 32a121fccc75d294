//! Settings every listener shares: server TLS ([`ServerTlsConfig`], with an optional client CA for mTLS), bearer
//! auth ([`BearerAuthConfig`], inline like the Collector's `bearertokenauth`) and the sidecar's API keys
//! ([`ApiKeysConfig`]). Used by the `otlp` receiver's servers, the `prometheus` exporter, the admin endpoint and
//! `llm_proxy`. Files named here are read when the listener starts (this crate does no I/O); a problem then is
//! an error naming the file.
//!
//! [`exposure_warning`] is the one wording of the start-up warning for a listener open to the network.

use std::net::IpAddr;

use crate::config_struct;
use crate::decode::{Check, Ctx, child};
use crate::otlp_exporters::Secret;
use crate::types::Duration;

config_struct! {
    /// Server TLS on a listener (rustls). Off unless `cert_file` and `key_file` are set. With `client_ca_file`,
    /// clients must present a certificate signed by that CA (mTLS).
    pub struct ServerTlsConfig {
        /// PEM file with the server's certificate chain (leaf first).
        cert_file: Option<String> = None,
        /// PEM file with the server's private key (PKCS#8, PKCS#1 or SEC1).
        key_file: Option<String> = None,
        /// PEM file of CA certificates; when set, a client without a certificate signed by one of them is refused
        /// during the handshake.
        client_ca_file: Option<String> = None,
        /// Time a client gets to finish the TLS handshake; past it the connection is closed (counted as
        /// `llmtel_events_total{event="tls_handshake_failed"}`). Other clients are never held up by it.
        handshake_timeout: Duration = Duration::from_secs(10),
    }
}

impl ServerTlsConfig {
    /// Whether TLS is on (a certificate and a key are configured).
    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() && self.key_file.is_some()
    }
}

impl Check for ServerTlsConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        for (key, v) in [
            ("cert_file", &self.cert_file),
            ("key_file", &self.key_file),
            ("client_ca_file", &self.client_ca_file),
        ] {
            if v.as_deref().is_some_and(|f| f.trim().is_empty()) {
                ctx.error(&child(path, key), "empty: expected the path of a PEM file");
            }
        }
        match (&self.cert_file, &self.key_file) {
            (Some(_), None) => ctx.error(
                &child(path, "key_file"),
                "missing: cert_file is set, so key_file (its private key) is needed too",
            ),
            (None, Some(_)) => ctx.error(
                &child(path, "cert_file"),
                "missing: key_file is set, so cert_file (its certificate) is needed too",
            ),
            _ => {}
        }
        if self.client_ca_file.is_some() && !self.enabled() {
            ctx.error(
                &child(path, "client_ca_file"),
                "needs cert_file and key_file: client certificates are only asked for over TLS",
            );
        }
        if self.handshake_timeout.get().is_zero() {
            ctx.error(
                &child(path, "handshake_timeout"),
                "0s: expected a duration above zero",
            );
        }
    }
}

config_struct! {
    /// Bearer-token auth on a listener: clients send `Authorization: Bearer TOKEN` (gRPC: the `authorization`
    /// metadata). Off unless one of the two is set; setting both is an error.
    pub struct BearerAuthConfig {
        /// The token itself, usually `${ENV_VAR}`. Never logged; `print-config` shows `[REDACTED]`.
        bearer_token: Option<Secret> = None,
        /// A file holding the token (surrounding whitespace ignored), read at start.
        bearer_token_file: Option<String> = None,
    }
}

impl BearerAuthConfig {
    /// Whether auth is on.
    pub fn enabled(&self) -> bool {
        self.bearer_token.is_some() || self.bearer_token_file.is_some()
    }
}

impl Check for BearerAuthConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        match (&self.bearer_token, &self.bearer_token_file) {
            (Some(_), Some(_)) => ctx.error(
                path,
                "both bearer_token and bearer_token_file are set: expected exactly one",
            ),
            (Some(t), None) if t.expose().trim().is_empty() => ctx.error(
                &child(path, "bearer_token"),
                "empty (an unset ${VAR}?): expected the token",
            ),
            (None, Some(f)) if f.trim().is_empty() => ctx.error(
                &child(path, "bearer_token_file"),
                "empty: expected the path of a file holding the token",
            ),
            _ => {}
        }
    }
}

config_struct! {
    /// API keys the sidecar accepts. Off unless `file` or `env` is set. A client sends its key as
    /// `Authorization: Bearer KEY`, `x-api-key: KEY` (Anthropic's header) or `api-key: KEY` (Azure OpenAI's);
    /// without a known key it gets 401 in its API's dialect.
    pub struct ApiKeysConfig {
        /// A file of keys, one per line (blank lines and lines starting with `#` are skipped), read at start.
        file: Option<String> = None,
        /// The name of an environment variable holding keys, separated by commas or whitespace, read at start.
        env: Option<String> = None,
        /// Pass the header that carried the key on to the upstream. Off: that header is removed before the
        /// request goes upstream (other headers, such as an `Authorization` for the upstream sent beside an
        /// `x-api-key` for the sidecar, still go on).
        forward_upstream: bool = false,
    }
}

impl ApiKeysConfig {
    /// Whether API keys are required.
    pub fn enabled(&self) -> bool {
        self.file.is_some() || self.env.is_some()
    }
}

impl Check for ApiKeysConfig {
    fn check(&self, path: &str, ctx: &mut Ctx) {
        if self.file.as_deref().is_some_and(|f| f.trim().is_empty()) {
            ctx.error(
                &child(path, "file"),
                "empty: expected the path of a file of keys",
            );
        }
        let is_name = |n: &str| {
            n.bytes()
                .enumerate()
                .all(|(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
                && !n.is_empty()
        };
        if let Some(name) = &self.env
            && !is_name(name)
        {
            // Not the value itself: it may be a key someone wrote as `${VAR}`.
            ctx.error(
                &child(path, "env"),
                "expected the name of an environment variable (letters, digits, _), such as LLMTEL_API_KEYS, not ${VAR}",
            );
        }
    }
}

/// The start-up warning for `listener` bound to `addr`, or `None` when there is nothing to warn about: a
/// loopback bind, or TLS and auth both on. `auth_setting` names the setting that turns auth on (e.g.
/// `auth.bearer_token`, `api_keys.file`).
pub fn exposure_warning(
    listener: &str,
    addr: IpAddr,
    tls: bool,
    auth: bool,
    setting_path: &str,
    auth_setting: &str,
) -> Option<String> {
    if addr.is_loopback() {
        return None;
    }
    match (tls, auth) {
        (true, true) => None,
        (false, false) => Some(format!(
            "{listener} listens on {addr}, a non-loopback address, without TLS or auth: anyone who can reach it \
             can use it, in clear text; set {setting_path}.tls (cert_file, key_file) and {setting_path}.{auth_setting}"
        )),
        (false, true) => Some(format!(
            "{listener} listens on {addr}, a non-loopback address, without TLS: credentials travel in clear text; \
             set {setting_path}.tls (cert_file, key_file)"
        )),
        (true, false) => Some(format!(
            "{listener} listens on {addr}, a non-loopback address, without auth: any client that can reach it can \
             use it; set {setting_path}.{auth_setting}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decode;

    fn errors<T: Decode>(yaml: serde_json::Value) -> Vec<String> {
        let mut ctx = Ctx::default();
        let _ = T::decode(&yaml, "x", &mut ctx);
        ctx.into_errors().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn tls_needs_both_files_and_a_client_ca_needs_tls() {
        assert!(errors::<ServerTlsConfig>(serde_json::json!({})).is_empty());
        assert_eq!(
            errors::<ServerTlsConfig>(serde_json::json!({"cert_file": "/c.pem"})),
            ["x.key_file: missing: cert_file is set, so key_file (its private key) is needed too"]
        );
        assert_eq!(
            errors::<ServerTlsConfig>(serde_json::json!({"key_file": "/k.pem"})),
            ["x.cert_file: missing: key_file is set, so cert_file (its certificate) is needed too"]
        );
        let e = errors::<ServerTlsConfig>(serde_json::json!({"client_ca_file": "/ca.pem"}));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("x.client_ca_file: needs cert_file"),
            "{e:?}"
        );
        assert!(
            errors::<ServerTlsConfig>(serde_json::json!({
                "cert_file": "/c", "key_file": "/k", "client_ca_file": "/ca"
            }))
            .is_empty()
        );
        assert_eq!(
            errors::<ServerTlsConfig>(
                serde_json::json!({"cert_file": "/c", "key_file": "/k", "handshake_timeout": "0s"})
            ),
            ["x.handshake_timeout: 0s: expected a duration above zero"]
        );
    }

    #[test]
    fn bearer_auth_takes_exactly_one_source_and_never_shows_the_token() {
        assert_eq!(
            errors::<BearerAuthConfig>(
                serde_json::json!({"bearer_token": "s3cret", "bearer_token_file": "/t"})
            ),
            ["x: both bearer_token and bearer_token_file are set: expected exactly one"]
        );
        let e = errors::<BearerAuthConfig>(serde_json::json!({"bearer_token": " "}));
        assert!(e[0].starts_with("x.bearer_token: empty"), "{e:?}");
        let mut ctx = Ctx::default();
        let c = BearerAuthConfig::decode(
            &serde_json::json!({"bearer_token": "s3cret"}),
            "x",
            &mut ctx,
        )
        .unwrap();
        assert!(c.enabled());
        let shown = format!("{c:?} {}", serde_json::to_string(&c).unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
    }

    #[test]
    fn a_secret_matches_only_itself() {
        let s = Secret("k3y".into());
        assert!(s.matches(b"k3y"));
        for wrong in [&b""[..], b"k3", b"k3y ", b"k3z", b"k3y\0"] {
            assert!(!s.matches(wrong), "{wrong:?}");
        }
    }

    #[test]
    fn api_keys_check_the_variable_name() {
        assert!(errors::<ApiKeysConfig>(serde_json::json!({"env": "LLMTEL_KEYS"})).is_empty());
        for bad in ["A B", "", "1ABC", "sk-live-secret,other"] {
            let e = errors::<ApiKeysConfig>(serde_json::json!({ "env": bad }));
            assert_eq!(e.len(), 1, "{bad:?}");
            assert!(
                e[0].starts_with("x.env: expected the name of an environment variable"),
                "{e:?}"
            );
            assert!(
                bad.is_empty() || !e[0].contains(bad),
                "the value may be a key: {e:?}"
            );
        }
    }

    #[test]
    fn only_an_open_non_loopback_bind_is_warned_about() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let any: IpAddr = "0.0.0.0".parse().unwrap();
        let w = |ip, tls, auth| {
            exposure_warning(
                "otlp grpc",
                ip,
                tls,
                auth,
                "receivers.otlp.protocols.grpc",
                "auth",
            )
        };
        assert_eq!(w(lo, false, false), None);
        assert_eq!(w(any, true, true), None);
        let open = w(any, false, false).unwrap();
        assert!(
            open.contains("0.0.0.0") && open.contains("receivers.otlp.protocols.grpc.tls"),
            "{open}"
        );
        assert!(w(any, false, true).unwrap().contains("without TLS"));
        assert!(w(any, true, false).unwrap().contains("without auth"));
    }
}
