"""A tiny HTTP app for the cluster smoke tests: it answers its path and can call a URL."""

import json
import os
import socket
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = {"path": self.path, "host": socket.gethostname()}
        if self.path.startswith("/smoke/call"):
            # Resolve and call another Service by its DNS name, as a service would.
            target = os.environ.get("CALL_URL", "")
            body["resolved"] = socket.gethostbyname("kubernetes.default.svc.cluster.local")
            with urllib.request.urlopen(target, timeout=5) as resp:
                body["called"] = json.loads(resp.read())
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
