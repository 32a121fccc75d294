#!/usr/bin/env python3
"""Checks what kubernetes-validate cannot: every Deployment here runs an `llmtel` container with liveness on
/healthz and readiness on /readyz (admin port), CPU and memory limits, and named ports; a pod with
prometheus.io/scrape annotations names a port the llmtel container exposes. Writes each ConfigMap's llmtel.yaml into
OUT_DIR (for `llmtel validate`). Usage: check_manifests.py OUT_DIR MANIFEST...; exit 1 with the problems listed."""
import os
import sys

import yaml


def main() -> int:
    out_dir, files = sys.argv[1], sys.argv[2:]
    problems = []
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d]
        for doc in docs:
            kind, name = doc.get("kind"), doc.get("metadata", {}).get("name")
            where = f"{path}: {kind}/{name}"
            if kind == "ConfigMap":
                text = doc.get("data", {}).get("llmtel.yaml")
                if text is None:
                    problems.append(f"{where}: no llmtel.yaml")
                    continue
                with open(os.path.join(out_dir, f"{name}.yaml"), "w") as out:
                    out.write(text)
            if kind != "Deployment":
                continue
            pod = doc["spec"]["template"]
            containers = {c["name"]: c for c in pod["spec"]["containers"]}
            llmtel = containers.get("llmtel")
            if llmtel is None:
                problems.append(f"{where}: no llmtel container")
                continue
            ports = {p.get("name"): p["containerPort"] for p in llmtel.get("ports", [])}
            for probe, want in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                get = llmtel.get(probe, {}).get("httpGet", {})
                if get.get("path") != want:
                    problems.append(f"{where}: llmtel {probe} path {get.get('path')!r}, want {want}")
                if get.get("port") not in ports and get.get("port") not in ports.values():
                    problems.append(f"{where}: llmtel {probe} port {get.get('port')!r} is not a container port")
            limits = llmtel.get("resources", {}).get("limits", {})
            for r in ("cpu", "memory"):
                if r not in limits:
                    problems.append(f"{where}: llmtel has no {r} limit")
            notes = pod.get("metadata", {}).get("annotations", {})
            if notes.get("prometheus.io/scrape") == "true":
                port = int(notes.get("prometheus.io/port", "0"))
                if port not in ports.values():
                    problems.append(f"{where}: prometheus.io/port {port} is not an llmtel port {sorted(ports.values())}")
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
