#!/usr/bin/env python3
"""Static checks for llmtel.json.

- the file is valid JSON with the expected top-level settings;
- every target expr uses only the Grafana macros $model, $__rate_interval and $__range;
- panel ids are unique, gridPos rectangles do not overlap on the 24-column grid;
- every panel has a description and the ${datasource} data source; every target has a refId,
  a legendFormat and the same data source; every non-row panel sets a unit;
- every annotation but Grafana's built-in one uses ${datasource} and has an expr (the same in its target);
- with --promtool, every expr, annotations' included (macros substituted: $model -> .*, $__rate_interval -> 1m,
  $__range -> 5m)
  is parsed by `promtool check rules`.

Prints the (panel title, expr) pairs. Exit status 1 on any failure.
Usage: python3 check_dashboard.py [path/to/llmtel.json] [--promtool]
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ALLOWED_MACROS = {"model", "__rate_interval", "__range"}
DS = {"type": "prometheus", "uid": "${datasource}"}
UNITS = {"s", "reqps", "percentunit", "percent", "bytes", "watt", "joule", "celsius", "short", "suffix:×"}
MACRO = re.compile(r"\$(?:\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|(\w+))")


def substitute(expr):
    return expr.replace("$__rate_interval", "1m").replace("$__range", "5m").replace("$model", ".*")


def main(argv):
    use_promtool = "--promtool" in argv
    args = [a for a in argv if a != "--promtool"]
    path = args[0] if args else os.path.join(os.path.dirname(os.path.abspath(__file__)), "llmtel.json")
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)

    errors = []
    for key, want in [("uid", "llmtel"), ("title", "llmtel — LLM inference"), ("schemaVersion", 39),
                      ("refresh", "30s"), ("time", {"from": "now-1h", "to": "now"})]:
        if dash.get(key) != want:
            errors.append(f"dashboard {key} is {dash.get(key)!r}, want {want!r}")

    variables = {v["name"]: v for v in dash["templating"]["list"]}
    ds_var = variables.get("datasource", {})
    if ds_var.get("type") != "datasource" or ds_var.get("query") != "prometheus":
        errors.append("datasource variable missing or wrong")
    model = variables.get("model", {})
    if not (model.get("multi") and model.get("includeAll") and model.get("allValue") == ".*"
            and "gen_ai_client_operation_duration_seconds_count" in str(model.get("query"))):
        errors.append("model variable missing or wrong")

    # Flatten rows (collapsed rows keep their panels inside).
    panels = []
    for p in dash["panels"]:
        panels.append(p)
        panels.extend(p.get("panels", []))

    ids = [p.get("id") for p in panels]
    dupes = {i for i in ids if ids.count(i) > 1}
    if dupes or None in ids:
        errors.append(f"panel ids not unique / missing: {sorted(d for d in dupes if d is not None)}")

    cells = {}
    for p in panels:
        g = p.get("gridPos") or {}
        if not all(k in g for k in "hwxy"):
            errors.append(f"{p.get('title')}: gridPos incomplete")
            continue
        if g["x"] < 0 or g["x"] + g["w"] > 24:
            errors.append(f"{p.get('title')}: gridPos outside 24 columns")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells:
                    errors.append(f"{p.get('title')} overlaps {cells[(x, y)]}")
                    break
                cells[(x, y)] = p.get("title")
            else:
                continue
            break

    pairs = []
    for p in panels:
        title = p.get("title")
        if not p.get("description"):
            errors.append(f"{title}: no description")
        if p.get("datasource") != DS:
            errors.append(f"{title}: datasource is {p.get('datasource')!r}")
        if p.get("type") == "row":
            continue
        unit = p.get("fieldConfig", {}).get("defaults", {}).get("unit")
        if unit not in UNITS:
            errors.append(f"{title}: unit {unit!r}")
        if not p.get("targets"):
            errors.append(f"{title}: no targets")
        refs = [t.get("refId") for t in p.get("targets", [])]
        if len(set(refs)) != len(refs):
            errors.append(f"{title}: duplicate refIds")
        for t in p.get("targets", []):
            expr = t.get("expr", "")
            pairs.append((title, expr))
            if not t.get("refId") or "legendFormat" not in t:
                errors.append(f"{title}: target without refId/legendFormat")
            if t.get("datasource") != DS:
                errors.append(f"{title}: target datasource is {t.get('datasource')!r}")
            for m in MACRO.finditer(expr):
                name = next(g for g in m.groups() if g)
                # Only the bare forms $model / $__rate_interval are allowed.
                if name not in ALLOWED_MACROS or m.group(3) is None:
                    errors.append(f"{title}: macro {m.group(0)!r} not allowed in {expr!r}")
            if re.search(r"\bvector\s*\(", expr):
                errors.append(f"{title}: vector() fallback in {expr!r}")

    for a in dash.get("annotations", {}).get("list", []):
        if a.get("builtIn"):
            continue
        name = a.get("name")
        if a.get("datasource") != DS:
            errors.append(f"annotation {name}: datasource is {a.get('datasource')!r}")
        expr = a.get("expr", "")
        if not expr or (a.get("target") or {}).get("expr") != expr:
            errors.append(f"annotation {name}: no expr, or its target's expr differs")
        if "$" in expr:
            errors.append(f"annotation {name}: macros in {expr!r}")
        pairs.append((f"annotation {name}", expr))

    for title, expr in pairs:
        print(f"{title}\t{' '.join(expr.split())}")

    if use_promtool and pairs:
        with tempfile.TemporaryDirectory() as d:
            rules = os.path.join(d, "rules.yml")
            with open(rules, "w") as f:
                f.write("groups:\n  - name: dashboard\n    rules:\n")
                for n, (_, expr) in enumerate(pairs):
                    f.write(f"      - record: dashboard:expr_{n}\n        expr: {json.dumps(substitute(expr))}\n")
            r = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
            if r.returncode != 0:
                errors.append("promtool: " + r.stdout + r.stderr)

    if errors:
        print("\nFAILED:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print(f"\nOK: {len(panels)} panels, {len(pairs)} targets", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
