//! The house rules that keep the code readable, checked over the source tree itself:
//! - every path `docs/architecture.md` names exists, so the newcomer's map stays true;
//! - no source file is longer than 600 lines unless its first lines say why;
//! - no file-level import cycle: within each crate, the graph of "file A names an item of file B" (through `crate::`,
//!   `super::`, `self::` or a child module's name) has no cycle, so each file can be read after the ones it uses.

// The helpers below are test code too (clippy's allow-*-in-tests covers only the #[test] functions themselves).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("integration-tests sits in the workspace")
        .to_owned()
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The crates' source folders.
const CRATES: &[&str] = &[
    "config/src",
    "pipelines/src",
    "instrument/src",
    "collector/src",
    "integration-tests/src",
];

/// Test folders, checked for length only (each test file is a crate of its own).
const TEST_DIRS: &[&str] = &["config/tests", "integration-tests/tests"];

#[test]
fn every_path_docs_architecture_names_exists() {
    let doc_path = root().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&doc_path).expect("docs/architecture.md exists");
    // Paths are written in backticks: `collector/src/receivers/otlp/`, `pipelines/src/graph.rs`.
    let mut named = BTreeSet::new();
    for piece in doc.split('`').skip(1).step_by(2) {
        let looks_like_path = piece.contains('/')
            && !piece.contains(' ')
            && !piece.contains("://")
            && !piece.starts_with('/')
            && piece
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_-.".contains(c));
        if looks_like_path {
            named.insert(piece.trim_end_matches('/').to_owned());
        }
    }
    assert!(
        named.len() >= 30,
        "docs/architecture.md should name the files of each stage; found only {named:?}"
    );
    let missing: Vec<&String> = named.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "docs/architecture.md names paths that do not exist: {missing:?}"
    );
}

#[test]
fn no_source_file_is_over_600_lines_without_a_reason_at_its_top() {
    let mut long = Vec::new();
    for dir in CRATES.iter().chain(TEST_DIRS) {
        for f in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&f).unwrap();
            let lines = text.lines().count();
            // The reason is a line of the file's opening comment that says why it is long.
            let reasoned = text
                .lines()
                .take_while(|l| l.starts_with("//"))
                .any(|l| l.contains("Long because") || l.contains("long because"));
            if lines > 600 && !reasoned {
                long.push(format!("{} ({lines} lines)", f.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these along a seam, or say at their top why they are long: {long:?}"
    );
}

/// The module path of `file` within the crate rooted at `src`: `a/b.rs` and `a/b/mod.rs` are `[a, b]`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    match last.as_str() {
        "lib.rs" | "main.rs" | "mod.rs" => {}
        other => parts.push(other.trim_end_matches(".rs").to_owned()),
    }
    parts
}

/// The text of `src` without comments and string literals (rough, but enough to find paths in code).
fn code_only(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        let mut in_str = false;
        let mut prev = ' ';
        for c in line.chars() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            } else if !in_str {
                out.push(c);
            }
            prev = c;
        }
        out.push('\n');
    }
    out
}

/// The paths a file names, each as segments after its prefix: `crate::a::b::C` gives (`crate`, [a, b, C]); a use
/// group `crate::{a::X, b}` gives one path per member.
fn named_paths(code: &str, prefixes: &[String]) -> Vec<(String, Vec<String>)> {
    let bytes: Vec<char> = code.chars().collect();
    let mut out = Vec::new();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut i = 0;
    while i < bytes.len() {
        if (i == 0 || !is_ident(bytes[i - 1]) && bytes[i - 1] != ':') && is_ident(bytes[i]) {
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            if prefixes.contains(&word)
                && bytes.get(i) == Some(&':')
                && bytes.get(i + 1) == Some(&':')
            {
                // Read `::seg::seg` or `::{ ... }`.
                let mut j = i;
                let mut segs = Vec::new();
                loop {
                    if bytes.get(j) == Some(&':') && bytes.get(j + 1) == Some(&':') {
                        j += 2;
                        if bytes.get(j) == Some(&'{') {
                            let mut depth = 0;
                            let mut k = j;
                            while k < bytes.len() {
                                match bytes[k] {
                                    '{' => depth += 1,
                                    '}' => {
                                        depth -= 1;
                                        if depth == 0 {
                                            break;
                                        }
                                    }
                                    _ => {}
                                }
                                k += 1;
                            }
                            let inner: String = bytes[j + 1..k.min(bytes.len())].iter().collect();
                            for member in split_top_level(&inner) {
                                let mut p = segs.clone();
                                p.extend(
                                    member
                                        .split("::")
                                        .map(|s| s.trim().to_owned())
                                        .take_while(|s| !s.is_empty() && s.chars().all(is_ident)),
                                );
                                out.push((word.clone(), p));
                            }
                            segs.clear();
                            j = k;
                            break;
                        }
                        let s = j;
                        while j < bytes.len() && is_ident(bytes[j]) {
                            j += 1;
                        }
                        if s == j {
                            break;
                        }
                        segs.push(bytes[s..j].iter().collect());
                    } else {
                        break;
                    }
                }
                if !segs.is_empty() {
                    out.push((word, segs));
                }
                i = j.max(i);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// Splits a use group's inside at its top-level commas.
fn split_top_level(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut cur));
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter()
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .collect()
}

/// The child modules a file declares with `mod x;` (not inline `mod x { … }`).
fn declared_children(code: &str) -> Vec<String> {
    code.lines()
        .filter_map(|l| {
            let l = l.trim();
            let l = l
                .strip_prefix("pub(crate) ")
                .or_else(|| l.strip_prefix("pub "))
                .unwrap_or(l);
            let name = l.strip_prefix("mod ")?.strip_suffix(';')?;
            Some(name.trim().to_owned())
        })
        .collect()
}

/// Whether `code` defines an item named `name` itself.
fn defines(code: &str, name: &str) -> bool {
    let kinds = [
        "struct", "enum", "fn", "const", "static", "type", "trait", "mod", "union",
    ];
    code.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '!'))
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| (kinds.contains(&w[0]) || w[0] == "macro_rules!") && w[1] == name)
}

/// Where `path` (resolved to `target`, a file that may only re-export the item) really leads: a crate root or a
/// `mod.rs` that says `pub use x::*` or `pub use x::Item` is an index, and naming an item through it depends on
/// the file that defines the item, not on the index.
fn through_reexports(
    modules: &BTreeMap<Vec<String>, PathBuf>,
    src: &Path,
    target: &Path,
    path: &[String],
) -> PathBuf {
    let module = module_of(src, target);
    let Some(item) = path.get(module.len()) else {
        return target.to_owned();
    };
    let code = code_only(&std::fs::read_to_string(target).unwrap_or_default());
    if defines(&code, item) {
        return target.to_owned();
    }
    for line in code.lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else {
            continue;
        };
        let rest = rest.trim_end_matches(';').trim();
        let (base, members): (&str, Vec<String>) = match rest.split_once("::{") {
            Some((base, group)) => (base, split_top_level(group.trim_end_matches('}'))),
            None => match rest.rsplit_once("::") {
                Some((base, last)) => (base, vec![last.to_owned()]),
                None => continue,
            },
        };
        let mut base_path: Vec<String> = Vec::new();
        for (i, seg) in base.split("::").enumerate() {
            match seg {
                "crate" if i == 0 => {}
                "self" if i == 0 => base_path = module.clone(),
                "super" => {
                    if i == 0 {
                        base_path = module.clone();
                    }
                    base_path.pop();
                }
                other => {
                    if i == 0 {
                        base_path = module.clone();
                    }
                    base_path.push(other.to_owned());
                }
            }
        }
        for m in members {
            let last = m.rsplit("::").next().unwrap_or_default().trim();
            let last = last.split(" as ").next().unwrap_or_default().trim();
            let glob = last == "*";
            if !glob && last != item {
                continue;
            }
            let mut source = base_path.clone();
            source.extend(
                m.split("::")
                    .map(str::trim)
                    .filter(|s| *s != "*" && *s != item)
                    .map(str::to_owned),
            );
            if let Some(file) = modules.get(&source)
                && file != target
            {
                // The re-exported module may itself re-export the item: follow it there.
                let mut next = source.clone();
                next.push(item.clone());
                let end = through_reexports(modules, src, file, &next);
                let text = code_only(&std::fs::read_to_string(&end).unwrap_or_default());
                if !glob || defines(&text, item) {
                    return end;
                }
            }
        }
    }
    // `#[macro_export]` macros sit at the crate root wherever they are written.
    if module.is_empty() {
        let by_macro = modules.values().find(|file| {
            let text = std::fs::read_to_string(file).unwrap_or_default();
            text.contains(&format!("macro_rules! {item}"))
        });
        if let Some(file) = by_macro {
            return file.clone();
        }
    }
    target.to_owned()
}

/// Cycles (strongly connected components of more than one file) in one crate's file graph.
fn cycles_in(src: &Path) -> Vec<Vec<String>> {
    let files = rust_files(src);
    let modules: BTreeMap<Vec<String>, PathBuf> = files
        .iter()
        .map(|f| (module_of(src, f), f.clone()))
        .collect();
    // The file holding the longest known module prefix of `path`.
    let resolve = |path: &[String]| -> Option<&PathBuf> {
        (0..=path.len()).rev().find_map(|n| modules.get(&path[..n]))
    };
    let mut edges: BTreeMap<PathBuf, BTreeSet<PathBuf>> = BTreeMap::new();
    for f in &files {
        let module = module_of(src, f);
        let code = code_only(&std::fs::read_to_string(f).unwrap());
        let children = declared_children(&code);
        let mut prefixes: Vec<String> = vec!["crate".into(), "super".into(), "self".into()];
        prefixes.extend(children.iter().cloned());
        let targets = edges.entry(f.clone()).or_default();
        for (prefix, segs) in named_paths(&code, &prefixes) {
            let mut full: Vec<String> = match prefix.as_str() {
                "crate" => Vec::new(),
                "self" => module.clone(),
                "super" => {
                    let mut m = module.clone();
                    m.pop();
                    m
                }
                child => {
                    let mut m = module.clone();
                    m.push(child.to_owned());
                    m
                }
            };
            let mut segs = segs.as_slice();
            while prefix == "super" && segs.first().is_some_and(|s| s == "super") {
                full.pop();
                segs = &segs[1..];
            }
            full.extend(segs.iter().filter(|s| *s != "self").cloned());
            if let Some(target) = resolve(&full).map(|t| through_reexports(&modules, src, t, &full))
                && target != *f
            {
                targets.insert(target);
            }
        }
    }
    // Tarjan's strongly connected components.
    struct State<'a> {
        edges: &'a BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        index: BTreeMap<&'a PathBuf, usize>,
        low: BTreeMap<&'a PathBuf, usize>,
        on_stack: BTreeSet<&'a PathBuf>,
        stack: Vec<&'a PathBuf>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a PathBuf) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.edges.get(v).into_iter().flatten() {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                comp.push(w.display().to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                // Each file of the cycle, with the files of the cycle it names.
                let described = comp
                    .iter()
                    .map(|a| {
                        let named: Vec<String> = s
                            .edges
                            .iter()
                            .find(|(k, _)| k.display().to_string() == *a)
                            .map(|(_, to)| {
                                to.iter()
                                    .map(|t| t.display().to_string())
                                    .filter(|t| comp.contains(t))
                                    .collect()
                            })
                            .unwrap_or_default();
                        format!("{a} → {}", named.join(", "))
                    })
                    .collect();
                s.out.push(described);
            }
        }
    }
    let mut state = State {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        on_stack: BTreeSet::new(),
        stack: Vec::new(),
        next: 0,
        out: Vec::new(),
    };
    for f in edges.keys() {
        if !state.index.contains_key(f) {
            visit(&mut state, f);
        }
    }
    state.out
}

#[test]
fn no_file_level_import_cycle_in_any_crate() {
    let cycles: Vec<Vec<String>> = CRATES
        .iter()
        .flat_map(|c| cycles_in(&root().join(c)))
        .collect();
    assert!(
        cycles.is_empty(),
        "files that name each other's items (move what they share into a file both use):\n{}",
        cycles
            .iter()
            .map(|c| c.join("\n  "))
            .collect::<Vec<_>>()
            .join("\n\n")
    );
}

#[test]
fn the_cycle_finder_sees_a_cycle_through_super_and_a_child_module() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "mod a;\nmod b;\n").unwrap();
    std::fs::write(
        src.join("a/mod.rs"),
        "mod child;\npub struct Shared;\nfn f() { child::run(); }\n",
    )
    .unwrap();
    std::fs::write(
        src.join("a/child.rs"),
        "use super::Shared;\npub fn run() {}\n",
    )
    .unwrap();
    std::fs::write(src.join("b.rs"), "use crate::a::{Shared, child::run};\n").unwrap();
    let cycles = cycles_in(src);
    assert_eq!(cycles.len(), 1, "{cycles:?}");
    assert!(cycles[0][0].contains("a/child.rs →") && cycles[0][0].ends_with("a/mod.rs"));
    assert!(cycles[0][1].contains("a/mod.rs →") && cycles[0][1].ends_with("a/child.rs"));
}
