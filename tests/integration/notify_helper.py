#!/usr/bin/env python3
"""notify_helper.py — the receiving ends of tests/integration/notify_e2e.sh.

serve LOG PORTFILE   a webhook receiver on 127.0.0.1 (a free port, written
                     to PORTFILE once listening): each POSTed body is
                     appended to LOG as one line; while the file LOG.fail
                     exists it answers 500 (and records the body in
                     LOG.rejected instead).
hook OUT ARG...      an exec hook: writes {"argv": [ARG...], "stdin": ...,
                     "env": {VIGIL_*}} as one JSON line to OUT.
"""
import http.server
import json
import os
import sys


def serve(log, portfile):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            failing = os.path.exists(log + ".fail")
            with open(log + ".rejected" if failing else log, "ab") as f:
                f.write(body.replace(b"\n", b" ") + b"\n")
            self.send_response(500 if failing else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


def hook(out, args):
    rec = {"argv": args, "stdin": json.loads(sys.stdin.read()),
           "env": {k: v for k, v in os.environ.items() if k.startswith("VIGIL_")}}
    with open(out, "a") as f:
        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "serve":
        serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) >= 3 and sys.argv[1] == "hook":
        hook(sys.argv[2], sys.argv[3:])
    else:
        sys.exit("usage: notify_helper.py serve LOG PORTFILE | hook OUT ARG...")
