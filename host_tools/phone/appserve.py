"""The web app (webapp/: static files, no build step) served from this
computer.

  cloudpin app serve [--host H] [--port N] [--tls-cert FILE --tls-key FILE]

Web Bluetooth works only in a secure context: http://localhost on this
computer, or https for a phone. On the local network give a certificate
(--tls-cert/--tls-key), or put the folder on any static HTTPS host: the app
needs nothing from the server. The card's QR code opens the app with the
pairing secret in the URL fragment (#CLOUDPIN:1:...), which browsers never
send to the server.
"""
import argparse
import functools
import http.server
import ssl
import sys
from pathlib import Path

from host_tools import REPO

WEBAPP_DIR = REPO / "webapp"


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def end_headers(self):
        # the secret is only in the fragment; still, no referrer and no caching of the app's state
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))


def server(host="127.0.0.1", port=8080, handler=Handler, root=WEBAPP_DIR, cert=None, key=None):
    """A ThreadingHTTPServer for the app (port 0: any free one)."""
    httpd = http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(root)))
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    return httpd


def add_arguments(p):
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = p.add_subparsers(dest="app_command", metavar="COMMAND")
    s = sub.add_parser("serve", help="serve the web app")
    s.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this computer only)")
    s.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    s.add_argument("--tls-cert", metavar="FILE", help="certificate (PEM) for https, needed by phones on the network")
    s.add_argument("--tls-key", metavar="FILE", help="its private key (PEM)")


def run(args):
    if args.app_command != "serve":
        print("cloudpin app: give a command (see cloudpin app --help)", file=sys.stderr)
        return 2
    if bool(args.tls_cert) != bool(args.tls_key):
        print("cloudpin app: --tls-cert and --tls-key come together", file=sys.stderr)
        return 2
    for f in (args.tls_cert, args.tls_key):
        if f and not Path(f).is_file():
            print("cloudpin app: no such file: %s" % f, file=sys.stderr)
            return 2
    try:
        httpd = server(args.host, args.port, cert=args.tls_cert, key=args.tls_key)
    except (OSError, ssl.SSLError) as e:
        print("cloudpin app: cannot serve on %s:%d: %s" % (args.host, args.port, e), file=sys.stderr)
        return 1
    scheme = "https" if args.tls_cert else "http"
    host = "localhost" if args.host in ("127.0.0.1", "::1") else args.host
    print("serving the web app on %s://%s:%d/ (Ctrl-C stops)" % (scheme, host, httpd.server_port), file=sys.stderr)
    if scheme == "http" and host != "localhost":
        print("warning: phones allow Web Bluetooth only on https (or localhost): give --tls-cert/--tls-key",
              file=sys.stderr)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
    return 0
