//! Environment: `${VAR}` substitution in config values, and the standard `OTEL_*` variables.
//!
//! Substitution happens on parsed string values, never on the raw text, so a variable's value cannot inject YAML
//! structure. Forms: `${VAR}`, `${env:VAR}` (the Collector's spelling), `${VAR:-default}` (default when unset or
//! empty), and `$$` for a literal `$`. A variable that is unset and has no default is an error naming it.

use serde_json::Value;

use crate::decode::{Ctx, child, index};

/// Looks up an environment variable; injected so tests need not touch the process environment.
pub type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The process environment.
pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Replaces every `${...}` in the string values of `value`, recording errors with their paths.
pub fn substitute(value: &mut Value, path: &str, env: EnvLookup<'_>, ctx: &mut Ctx) {
    match value {
        Value::String(s) if s.contains('$') => match expand(s, env) {
            Ok(expanded) => *s = expanded,
            Err(e) => ctx.error(path, e),
        },
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                substitute(item, &index(path, i), env, ctx);
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                substitute(v, &child(path, k), env, ctx);
            }
        }
        _ => {}
    }
}

/// Expands the references in one string.
pub fn expand(s: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body_and_tail) = after.strip_prefix('{') {
            let Some(end) = body_and_tail.find('}') else {
                return Err(format!(
                    "{s:?}: unterminated ${{ (expected ${{VAR}} or ${{VAR:-default}})"
                ));
            };
            let body = &body_and_tail[..end];
            out.push_str(&resolve(body, s, env)?);
            rest = &body_and_tail[end + 1..];
        } else {
            // A lone `$` is kept as written: `$` followed by anything but `{` or `$` is not a reference.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

fn resolve(body: &str, whole: &str, env: EnvLookup<'_>) -> Result<String, String> {
    let body = body.strip_prefix("env:").unwrap_or(body);
    let (name, default) = match body.split_once(":-") {
        Some((n, d)) => (n, Some(d)),
        None => (body, None),
    };
    let valid = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid {
        return Err(format!(
            "{whole:?}: ${{{body}}} is not a variable reference (expected ${{VAR}} or ${{VAR:-default}})"
        ));
    }
    match (env(name).filter(|v| !v.is_empty()), default) {
        (Some(v), _) => Ok(v),
        (None, Some(d)) => Ok(d.to_owned()),
        (None, None) => Err(format!(
            "environment variable {name} is not set (write ${{{name}:-default}} to give a default)"
        )),
    }
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas, values percent-encoded.
pub fn parse_resource_attributes(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = pair.split_once('=') else {
            return Err(format!("{pair:?}: expected key=value"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("{pair:?}: empty key"));
        }
        out.push((
            k.to_owned(),
            percent_decode(v.trim()).ok_or_else(|| format!("{pair:?}: bad %-escape"))?,
        ));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(key: &str) -> Option<String> {
        match key {
            "PORT" => Some("4317".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn expands_every_form() {
        assert_eq!(expand("127.0.0.1:${PORT}", &env).unwrap(), "127.0.0.1:4317");
        assert_eq!(expand("${env:PORT}", &env).unwrap(), "4317");
        assert_eq!(expand("${NOPE:-9}/${EMPTY:-x}", &env).unwrap(), "9/x");
        assert_eq!(expand("$$HOME and $5", &env).unwrap(), "$HOME and $5");
    }

    #[test]
    fn names_the_missing_variable() {
        let e = expand("${NOPE}", &env).unwrap_err();
        assert!(e.contains("NOPE is not set"), "{e}");
        assert!(expand("${PORT", &env).unwrap_err().contains("unterminated"));
        assert!(
            expand("${1X}", &env)
                .unwrap_err()
                .contains("not a variable reference")
        );
    }

    #[test]
    fn parses_resource_attributes() {
        let attrs =
            parse_resource_attributes("service.namespace=llm, deployment.environment=prod%20eu")
                .unwrap();
        assert_eq!(
            attrs,
            vec![
                ("service.namespace".into(), "llm".into()),
                ("deployment.environment".into(), "prod eu".into())
            ]
        );
        assert!(parse_resource_attributes("novalue").is_err());
    }
}
