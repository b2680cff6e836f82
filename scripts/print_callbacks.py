"""A callback receiver for trying callbridge out: prints every notification, answers 200.

Usage: python3 scripts/print_callbacks.py [PORT]   (default 9000)
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        print(f"GET {self.path}   webhook-id={self.headers.get('webhook-id')}", flush=True)
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    print(f"listening on http://127.0.0.1:{port}/callback", flush=True)
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
