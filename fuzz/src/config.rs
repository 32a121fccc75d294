//! Target `config`: config text as `llmtel --config` reads it (`llmtel_config::parse`: YAML, `${ENV}`
//! substitution, decoding with every error collected, the whole-config checks), with a fixed environment.
//!
//! Input: the config text (not UTF-8: skipped, as the file read would fail first).
//!
//! Invariants: a failure has at least one error, each with a message; a config that parses passes `validate`
//! again (what a reload or a command-line override relies on) and renders as YAML.

use crate::Input;

/// The environment the config sees: a few variables for `${…}` to find, none of the `OTEL_*` ones.
fn env(name: &str) -> Option<String> {
    match name {
        "PORT" => Some("4317".to_owned()),
        "HOST" => Some("127.0.0.1".to_owned()),
        "TOKEN" => Some("s3cret".to_owned()),
        "EMPTY" => Some(String::new()),
        _ => None,
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(Input::new(data).payload()) else {
        return;
    };
    match llmtel_config::parse(text, &env) {
        Ok(cfg) => {
            let _ = cfg.to_yaml();
            if let Err(errors) = llmtel_config::validate(cfg.into_inner()) {
                let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
                panic!("a parsed config fails validate: {}", list.join("; "));
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "parse failed without an error");
            assert!(
                errors.iter().all(|e| !e.message.is_empty()),
                "an error without a message: {errors:?}"
            );
        }
    }
}
