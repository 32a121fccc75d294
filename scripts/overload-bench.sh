#!/usr/bin/env bash
# The overload of issue 20, for a before/after number (docs/benchmarks.md §5): the built-in config of BINARY (as
# `print-config` writes it with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a port where nothing listens) under SECONDS
# of OTLP/gRPC overload from h2load (16 clients × 16 streams, 100 spans of 10 attributes per request). Prints the
# peak RSS (VmHWM) and RSS when the overload ends, then starts a backend (a Python OTLP/HTTP sink that answers 200)
# and prints the RSS every 5 s while the queues drain, and llmtel's own counters.
#   scripts/overload-bench.sh target/release/llmtel [25] [ENV=VALUE…]   (e.g. MALLOC_ARENA_MAX=2)
# Needs h2load (apt nghttp2-client), python3 with opentelemetry-proto (scripts/test.sh installs both) and curl.
# Ports 21435, 24317, 24318, 28888, 29464, 29999 must be free.
set -euo pipefail
BIN=$1; SECS=${2:-25}; shift $(( $# >= 2 ? 2 : 1 ))
D=$(mktemp -d); trap 'kill $P $S 2>/dev/null || true; rm -rf "$D"' EXIT
P=; S=
python3 - "$D/body.bin" <<'PY'
import struct, sys
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1 import common_pb2 as c
req = ts.ExportTraceServiceRequest(); rs = req.resource_spans.add()
rs.resource.attributes.add(key="service.name", value=c.AnyValue(string_value="h2load"))
ss = rs.scope_spans.add(); ss.scope.name = "overload"
for i in range(100):
    s = ss.spans.add(); s.trace_id = bytes([1 + i] * 16); s.span_id = bytes([2 + i] * 8); s.name = f"span-{i}"; s.kind = 2
    s.start_time_unix_nano = 1_700_000_000_000_000_000; s.end_time_unix_nano = s.start_time_unix_nano + 1000
    for a in range(10):
        s.attributes.add(key=f"attr.key.{a}", value=c.AnyValue(string_value=f"value-{i}-{a}"))
b = req.SerializeToString(); open(sys.argv[1], "wb").write(b"\x00" + struct.pack(">I", len(b)) + b)
PY
cat > "$D/sink.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:29999 "$BIN" print-config > "$D/c.yaml"
# Listeners moved off the defaults; retry backoff shortened so the drain is seen within 20 s. Nothing else changed.
sed -i 's/127.0.0.1:11435/127.0.0.1:21435/; s/127.0.0.1:9464/127.0.0.1:29464/; s/127.0.0.1:4317/127.0.0.1:24317/;
  s/127.0.0.1:4318/127.0.0.1:24318/; s/127.0.0.1:8888/127.0.0.1:28888/; s/initial_interval: 5s/initial_interval: 200ms/;
  s/max_interval: 30s/max_interval: 1s/' "$D/c.yaml"
env "$@" RUST_LOG=warn "$BIN" --config "$D/c.yaml" 2> "$D/log" & P=$!
sleep 2
rss() { grep -E "^$1:" /proc/$P/status | awk '{printf "%.1f MiB", $2/1024}'; }
echo "idle: RSS $(rss VmRSS)"
h2load -c16 -m16 -t2 -D "$SECS" -d "$D/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
  http://127.0.0.1:24317/opentelemetry.proto.collector.trace.v1.TraceService/Export > "$D/h2" 2>&1
echo "after ${SECS} s of overload: peak RSS (VmHWM) $(rss VmHWM), RSS $(rss VmRSS); h2load: $(grep -E '^requests' "$D/h2")"
python3 "$D/sink.py" 29999 & S=$!
for i in 5 10 15 20; do
  sleep 5; echo "backend up +${i} s: RSS $(rss VmRSS)"
done
curl -s 127.0.0.1:28888/metrics | grep -E '^llmtel_(receiver|exporter)_(accepted|refused|memory_refused|dropped|sent)_items_total.*signal="traces"' \
  | grep -v '} 0$' | sed 's/,otel_scope_name="llmtel"//'
