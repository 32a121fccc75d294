//! The dashboard against Grafana's published schema types (`@grafana/schema`, the TypeScript types Grafana's own
//! front end builds dashboards with): the JSON is written into a `.ts` file as an object literal assigned to a
//! `Dashboard`-typed constant and `tsc --noEmit --strict` checks it, so unknown properties, missing required ones
//! and values outside an enum all fail. The schema leaves a Prometheus annotation's query fields open (its
//! `DataQuery` has only `refId`, `hide`, `key`, `queryType`, `datasource`), so annotations are checked against the
//! schema's `AnnotationQuery` extended with exactly the fields Grafana's Prometheus data source reads.
//!
//! TypeScript and `@grafana/schema` are installed by `scripts/test.sh` into `~/.cache/llmtel-npm` (or
//! `$LLMTEL_NPM_CACHE`), outside the clone.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

/// Where `scripts/test.sh` installs the npm packages.
fn npm_cache() -> PathBuf {
    if let Some(dir) = std::env::var_os("LLMTEL_NPM_CACHE") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").expect("HOME is set");
    PathBuf::from(home).join(".cache/llmtel-npm")
}

const PRELUDE: &str = r#"import type { AnnotationQuery, Dashboard, DataQuery } from "@grafana/schema";

// Grafana's schema types use TypeScript enums, which JSON string values cannot be assigned to; this maps every
// string enum to the union of its values, so "palette-classic" is accepted and "palette-classik" is not.
type Json<T> = T extends string
  ? `${T}`
  : T extends number | boolean | null | undefined
    ? T
    : T extends (infer E)[]
      ? Json<E>[]
      : T extends object
        ? { [K in keyof T]: Json<T[K]> }
        : T;

// A Prometheus annotation query, as Grafana's Prometheus data source reads it.
interface PromQuery extends DataQuery {
  expr: string;
  interval?: string;
}
interface PromAnnotation extends AnnotationQuery<PromQuery> {
  expr: string;
  step?: string;
  titleFormat?: string;
  textFormat?: string;
  tagKeys?: string;
  useValueForTime?: boolean;
}
"#;

/// The `.ts` text that types `dash` (Grafana's built-in annotation stays in the dashboard, the others are checked
/// as Prometheus annotations).
fn typescript(dash: &Value) -> String {
    let mut dash = dash.clone();
    let list = dash["annotations"]["list"].take();
    let (builtin, prom): (Vec<Value>, Vec<Value>) = list
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .partition(|a| a.get("builtIn").is_some());
    dash["annotations"]["list"] = Value::Array(builtin);
    format!(
        "{PRELUDE}\nexport const dashboard: Json<Dashboard> = {};\n\nexport const annotations: Json<PromAnnotation>[] = {};\n",
        serde_json::to_string_pretty(&dash).unwrap(),
        serde_json::to_string_pretty(&prom).unwrap()
    )
}

/// Runs `tsc --noEmit --strict` on `dash`; the compiler's output on failure.
pub fn check(dash: &Value) -> Result<(), String> {
    let cache = npm_cache();
    let tsc = cache.join("node_modules/typescript/bin/tsc");
    let schema = cache.join("node_modules/@grafana/schema/package.json");
    assert!(
        tsc.exists() && schema.exists(),
        "{} lacks typescript or @grafana/schema: run scripts/test.sh (it installs them there with npm), or \
         `npm install --prefix {} typescript@5.9.3 @grafana/schema@13.2.3`",
        cache.display(),
        cache.display()
    );
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(cache.join("node_modules"), dir.path().join("node_modules"))
        .unwrap();
    let file = dir.path().join("llmtel-dashboard.ts");
    std::fs::write(&file, typescript(dash)).unwrap();
    let out = Command::new("node")
        .arg(&tsc)
        .args([
            "--noEmit",
            "--strict",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
        ])
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| {
            panic!("run node (needed for the dashboard schema check; install Node.js and npm): {e}")
        });
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}
