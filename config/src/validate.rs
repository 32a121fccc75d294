//! Whole-config checks that no single section can make alone: pipelines refer to defined components of the right
//! signal, connectors join pipelines without cycles, listeners do not collide.

use std::collections::{BTreeMap, BTreeSet};

use crate::components::{ConnectorConfig, ProcessorConfig, ReceiverConfig, Signal};
use crate::decode::{Ctx, child, index};
use crate::model::{Config, PipelineConfig, ServiceConfig};
use crate::suggest::closest;
use crate::types::ComponentId;

/// Where a connector is used, with the signal of the pipeline at each place: `(signal, path in the config)`.
type Uses = Vec<(Signal, String)>;

/// Runs every cross-section check, pushing one error per problem.
pub fn validate(cfg: &Config, ctx: &mut Ctx) {
    let pipelines = &cfg.service.pipelines;
    if pipelines.is_empty() {
        ctx.error("service.pipelines", "empty: expected at least one pipeline, e.g. traces: {receivers: [otlp], exporters: [debug]}");
    }
    // connector id -> (signals it is fed from, signals it feeds), for the connector checks below.
    let mut connector_use: BTreeMap<&str, (Uses, Uses)> = BTreeMap::new();
    let mut edges: Vec<(String, &str, String)> = Vec::new(); // (from pipeline, connector, to pipeline)

    for (pid, p) in pipelines {
        let ppath = format!("service.pipelines.{pid}");
        let Some(signal) = ServiceConfig::pipeline_signal(pid) else {
            ctx.error(
                &ppath,
                format!("{pid:?}: a pipeline id is traces, metrics or logs, optionally followed by /name"),
            );
            continue;
        };
        check_list(
            &p.receivers,
            &child(&ppath, "receivers"),
            ctx,
            |name, path, ctx| {
                if let Some(r) = lookup(&cfg.receivers, name) {
                    if !r.signals().contains(&signal) {
                        ctx.error(path, format!("{name:?} cannot produce {signal}"));
                    }
                } else if lookup(&cfg.connectors, name).is_some() {
                    connector_use
                        .entry(key(&cfg.connectors, name))
                        .or_default()
                        .1
                        .push((signal, path.to_owned()));
                } else {
                    not_defined(
                        name,
                        path,
                        "receivers",
                        cfg.receivers.keys().chain(cfg.connectors.keys()),
                        ctx,
                    );
                }
            },
        );
        check_list(
            &p.processors,
            &child(&ppath, "processors"),
            ctx,
            |name, path, ctx| match lookup(&cfg.processors, name) {
                Some(pc) if !pc.signals().contains(&signal) => {
                    ctx.error(path, format!("{name:?} cannot process {signal}"));
                }
                Some(_) => {}
                None => {
                    not_defined(name, path, "processors", cfg.processors.keys(), ctx);
                }
            },
        );
        // The Collector's rule: a memory_limiter refuses before anything else spends memory on a batch.
        for (i, name) in p.processors.iter().enumerate().skip(1) {
            if let Some(ProcessorConfig::MemoryLimiter(_)) = lookup(&cfg.processors, name) {
                ctx.error(
                    &index(&child(&ppath, "processors"), i),
                    format!("{name:?} is a memory_limiter: it must be the first processor"),
                );
            }
        }
        check_list(
            &p.exporters,
            &child(&ppath, "exporters"),
            ctx,
            |name, path, ctx| {
                if let Some(e) = lookup(&cfg.exporters, name) {
                    if !e.signals().contains(&signal) {
                        ctx.error(path, format!("{name:?} cannot export {signal}"));
                    }
                } else if lookup(&cfg.connectors, name).is_some() {
                    connector_use
                        .entry(key(&cfg.connectors, name))
                        .or_default()
                        .0
                        .push((signal, path.to_owned()));
                } else {
                    not_defined(
                        name,
                        path,
                        "exporters",
                        cfg.exporters.keys().chain(cfg.connectors.keys()),
                        ctx,
                    );
                }
            },
        );
        for c in p
            .exporters
            .iter()
            .filter(|n| lookup(&cfg.connectors, n).is_some())
        {
            for (qid, q) in pipelines {
                if q.receivers.iter().any(|r| r == c) {
                    edges.push((pid.clone(), key(&cfg.connectors, c), qid.clone()));
                }
            }
        }
    }

    for (cid, conn) in &cfg.connectors {
        let Some((fed_by, feeds)) = connector_use.get(cid.as_str()) else {
            continue; // defined but unused: harmless, like the Collector
        };
        let path = format!("connectors.{cid}");
        if fed_by.is_empty() {
            ctx.error(&path, "used as a receiver but no pipeline exports to it (add it to some pipeline's exporters)");
        }
        if feeds.is_empty() {
            ctx.error(&path, "used as an exporter but no pipeline receives from it (add it to some pipeline's receivers)");
        }
        check_connector_signals(conn, fed_by, feeds, ctx);
    }

    if let Some(cycle) = find_cycle(pipelines, &edges) {
        ctx.error(
            "service.pipelines",
            format!("connectors form a cycle: {cycle}"),
        );
    }
    check_endpoints(cfg, ctx);
}

/// Checks each entry of a component list for duplicates, then hands it to `each`.
fn check_list(
    list: &[String],
    path: &str,
    ctx: &mut Ctx,
    mut each: impl FnMut(&str, &str, &mut Ctx),
) {
    let mut seen = BTreeSet::new();
    for (i, name) in list.iter().enumerate() {
        let p = index(path, i);
        if !seen.insert(name.as_str()) {
            ctx.error(&p, format!("{name:?} is listed twice"));
            continue;
        }
        each(name, &p, ctx);
    }
    if list.is_empty() && !path.ends_with("processors") {
        ctx.error(path, "empty: expected at least one");
    }
}

fn lookup<'a, T>(map: &'a BTreeMap<ComponentId, T>, name: &str) -> Option<&'a T> {
    map.iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
}

fn key<'a, T>(map: &'a BTreeMap<ComponentId, T>, name: &str) -> &'a str {
    map.keys()
        .find(|k| k.as_str() == name)
        .map_or("", |k| k.as_str())
}

fn not_defined<'a>(
    name: &str,
    path: &str,
    section: &str,
    defined: impl Iterator<Item = &'a ComponentId>,
    ctx: &mut Ctx,
) {
    let defined: Vec<&str> = defined.map(ComponentId::as_str).collect();
    let hint = match closest(name, defined.iter().copied()) {
        Some(s) => format!("did you mean {s:?}? "),
        None => String::new(),
    };
    let list = if defined.is_empty() {
        "none".to_owned()
    } else {
        defined.join(", ")
    };
    ctx.error(
        path,
        format!("{name:?} is not defined under {section} ({hint}defined: {list})"),
    );
}

fn check_connector_signals(
    conn: &ConnectorConfig,
    fed_by: &[(Signal, String)],
    feeds: &[(Signal, String)],
    ctx: &mut Ctx,
) {
    for (to, to_path) in feeds {
        for (from, _) in fed_by {
            if !conn.supports(*from, *to) {
                ctx.error(
                    to_path,
                    format!("this connector cannot turn {from} into {to}"),
                );
            }
        }
    }
}

/// Depth-first search over pipelines joined by connectors; returns the cycle as `a -[c]-> b -[d]-> a`.
fn find_cycle(
    pipelines: &BTreeMap<String, PipelineConfig>,
    edges: &[(String, &str, String)],
) -> Option<String> {
    fn visit<'a>(
        node: &'a str,
        edges: &'a [(String, &'a str, String)],
        state: &mut BTreeMap<&'a str, u8>,
        stack: &mut Vec<(&'a str, &'a str)>,
    ) -> Option<String> {
        state.insert(node, 1);
        for (from, via, to) in edges.iter().filter(|(f, _, _)| f == node) {
            stack.push((from.as_str(), via));
            match state.get(to.as_str()) {
                Some(1) => {
                    let start = stack
                        .iter()
                        .position(|(p, _)| *p == to.as_str())
                        .unwrap_or(0);
                    let mut s = String::new();
                    for (p, c) in &stack[start..] {
                        s.push_str(&format!("{p} -[{c}]-> "));
                    }
                    s.push_str(to);
                    return Some(s);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(to, edges, state, stack) {
                        return Some(c);
                    }
                }
            }
            stack.pop();
        }
        state.insert(node, 2);
        None
    }
    let mut state = BTreeMap::new();
    for p in pipelines.keys() {
        if !state.contains_key(p.as_str())
            && let Some(c) = visit(p, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// Two listeners on the same fixed address would fail at start; say so at validation instead.
fn check_endpoints(cfg: &Config, ctx: &mut Ctx) {
    let used: BTreeSet<&str> = cfg
        .service
        .pipelines
        .values()
        .flat_map(|p| p.receivers.iter().map(String::as_str))
        .collect();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut claim = |endpoint: &str, path: String, ctx: &mut Ctx| {
        if endpoint.ends_with(":0") {
            return;
        }
        if let Some(first) = seen.get(endpoint) {
            ctx.error(&path, format!("{endpoint:?} is already used by {first}"));
        } else {
            seen.insert(endpoint.to_owned(), path);
        }
    };
    for (id, r) in cfg
        .receivers
        .iter()
        .filter(|(id, _)| used.contains(id.as_str()))
    {
        match r {
            ReceiverConfig::Otlp(o) => {
                if let Some(g) = &o.protocols.grpc {
                    claim(
                        g.endpoint.as_str(),
                        format!("receivers.{id}.protocols.grpc.endpoint"),
                        ctx,
                    );
                }
                if let Some(h) = &o.protocols.http {
                    claim(
                        h.endpoint.as_str(),
                        format!("receivers.{id}.protocols.http.endpoint"),
                        ctx,
                    );
                }
            }
            ReceiverConfig::LlmProxy(p) => {
                claim(p.listen.as_str(), format!("receivers.{id}.listen"), ctx);
            }
            ReceiverConfig::Ollama(_) | ReceiverConfig::Gpu(_) => {}
            ReceiverConfig::Prometheus(_) => {}
            ReceiverConfig::Host(_) => {}
        }
    }
    let used_exporters: BTreeSet<&str> = cfg
        .service
        .pipelines
        .values()
        .flat_map(|p| p.exporters.iter().map(String::as_str))
        .collect();
    for (id, e) in cfg
        .exporters
        .iter()
        .filter(|(id, _)| used_exporters.contains(id.as_str()))
    {
        if let crate::components::ExporterConfig::Prometheus(p) = e {
            claim(p.endpoint.as_str(), format!("exporters.{id}.endpoint"), ctx);
        }
    }
    let admin = &cfg.service.telemetry.admin;
    if admin.enabled {
        claim(
            admin.endpoint.as_str(),
            "service.telemetry.admin.endpoint".to_owned(),
            ctx,
        );
    }
}
