"""A flapping registry for bench/soak.sh: serves one OCI image layout over
HTTPS on 127.0.0.1 (the distribution API's read side: /v2/, manifests,
blobs), and changes mood every PERIOD seconds, in a cycle:

    ok, 503 (UNAVAILABLE), ok, 429 (Retry-After: 1), ok, down (not listening)

so a soaked agent goes through its success, server-error, rate-limit and
connection-refused paths again and again. Loopback only; stops on SIGTERM.

Usage: flapping_registry.py PORT CERT KEY LAYOUT REPO PERIOD
"""

import hashlib
import http.server
import json
import os
import signal
import ssl
import sys
import threading
import time

port, cert, key, layout, repo, period = sys.argv[1:7]
port, period = int(port), float(period)
MOODS = ["ok", "503", "ok", "429", "ok", "down"]

index = json.load(open(os.path.join(layout, "index.json")))
desc = index["manifests"][0]
tag = desc["annotations"]["org.opencontainers.image.ref.name"]
blobs = {}
for name in os.listdir(os.path.join(layout, "blobs", "sha256")):
    data = open(os.path.join(layout, "blobs", "sha256", name), "rb").read()
    assert hashlib.sha256(data).hexdigest() == name
    blobs["sha256:" + name] = data
manifest = blobs[desc["digest"]]


def mood_now():
    return MOODS[int(time.time() / period) % len(MOODS)]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        self.send_header("Docker-Distribution-API-Version", "registry/2.0")
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, headers=()):
        body = json.dumps({"errors": [{"code": code, "message": message}]}).encode()
        self.send(status, body, [("Content-Type", "application/json"), *headers])

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        mood = mood_now()
        if mood == "503":
            return self.error(503, "UNAVAILABLE", "flapping: unavailable")
        if mood == "429":
            return self.error(429, "TOOMANYREQUESTS", "flapping: slow down", [("Retry-After", "1")])
        path = self.path.split("?")[0]
        if path == "/v2/":
            return self.send(200, b"{}", [("Content-Type", "application/json")])
        prefix = f"/v2/{repo}/"
        if path.startswith(prefix + "manifests/"):
            ref = path[len(prefix + "manifests/"):]
            if ref not in (tag, desc["digest"]):
                return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
            return self.send(200, manifest, [
                ("Content-Type", desc["mediaType"]),
                ("Docker-Content-Digest", desc["digest"]),
            ])
        if path.startswith(prefix + "blobs/"):
            data = blobs.get(path[len(prefix + "blobs/"):])
            if data is None:
                return self.error(404, "BLOB_UNKNOWN", "blob unknown")
            return self.send(200, data, [("Content-Type", "application/octet-stream")])
        return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
signal.signal(signal.SIGINT, lambda *_: stop.set())

while not stop.is_set():
    # Listening while the mood is not "down"; closed (connection refused) while it is.
    if mood_now() == "down":
        stop.wait(0.05)
        continue
    server = Server(("127.0.0.1", port), Handler)
    # The handshake happens in the handler thread, on its first read.
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    while not stop.is_set() and mood_now() != "down":
        stop.wait(0.05)
    server.shutdown()
    server.server_close()
    thread.join()
