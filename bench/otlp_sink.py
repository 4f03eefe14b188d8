"""A local OTLP/HTTP receiver for the benchmark: answers every export with success and keeps only counts.

    python -m bench.otlp_sink PORT      # 127.0.0.1:PORT; GET /stats -> {"requests": N, "bytes": B}

It decodes nothing: the benchmark measures what tracing costs the service
(spans, encoding, the exporter's thread), not what a collector does with them.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_stats = {"requests": 0, "bytes": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the exporter's session expects

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with _lock:
            _stats["requests"] += 1
            _stats["bytes"] += len(body)
        # An empty ExportTraceServiceResponse serializes to no bytes: full success.
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        with _lock:
            body = json.dumps(_stats).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> None:
    # Runs until the benchmark terminates it (SIGTERM).
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()


if __name__ == "__main__":
    main()
