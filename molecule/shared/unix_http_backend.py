"""A stand-in app for the nginx scenario: answers every GET on a unix socket with a fixed body."""

import os
import socketserver
import sys
from http.server import BaseHTTPRequestHandler


class Handler(BaseHTTPRequestHandler):
    """200 with the path and the proxy headers nginx added."""

    def do_GET(self):
        body = "backend saw %s proto=%s" % (self.path, self.headers.get("X-Forwarded-Proto"))
        if self.headers.get("X-Forwarded-Prefix"):  # a site below a path prefix (nginx_path_prefix)
            body += " prefix=%s script_name=%s" % (self.headers["X-Forwarded-Prefix"], self.headers.get("SCRIPT_NAME"))
        body = (body + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def address_string(self):
        return "unix"

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


path = sys.argv[1]
os.makedirs(os.path.dirname(path), exist_ok=True)
if os.path.exists(path):
    os.unlink(path)
server = Server(path, Handler)
os.chmod(path, 0o666)  # noqa: S103 - nginx's workers must connect, as the app's socket lets them
server.serve_forever()
