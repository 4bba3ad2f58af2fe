#!/usr/bin/env python3
"""alert_receiver.py — a recording alert receiver for the rules benchmark.

    alert_receiver.py PORT LOGFILE

Listens on 127.0.0.1:PORT and accepts what Prometheus (and vigild) post to an
Alertmanager — POST /api/v2/alerts, a JSON list of {labels, annotations,
startsAt, endsAt, generatorURL} — and Alertmanager webhook payloads (a JSON
object with "alerts": [...]) on any other path. Answers 200 at once. For
every alert received it appends one tab-separated line to LOGFILE:

    arrival  startsAt  endsAt  alertname  labels

arrival is the Unix time (seconds, microsecond precision) at which the whole
request body had been read; startsAt and endsAt are the alert's times
converted to Unix seconds ("-" when absent); labels is the alert's label set
as sorted name=value pairs joined with ",". Each request also logs one line
"# batch ARRIVAL N PATH" (N alerts). Runs until killed (SIGTERM).
"""
import http.server
import json
import re
import socketserver
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))$")


def unix(s):
    """RFC 3339 with any number of fraction digits (Go prints up to 9) to
    Unix seconds as a float; None when missing or unparsable."""
    if not s:
        return None
    m = _RFC3339.match(s)
    if not m:
        return None
    y, mo, d, h, mi, se = (int(m.group(i)) for i in range(1, 7))
    frac = float("0." + m.group(7)) if m.group(7) else 0.0
    t = datetime(y, mo, d, h, mi, se, tzinfo=timezone.utc)
    if m.group(9):
        off = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        t = t - off if m.group(9) == "+" else t + off
    return t.timestamp() + frac


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        arrival = time.time()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")
        try:
            doc = json.loads(body or b"null")
        except ValueError:
            doc = None
        alerts = doc.get("alerts", []) if isinstance(doc, dict) else doc
        if not isinstance(alerts, list):
            alerts = []
        lines = ["# batch %.6f %d %s\n" % (arrival, len(alerts), self.path)]
        for a in alerts:
            if not isinstance(a, dict):
                continue
            labels = a.get("labels") or {}
            st, en = unix(a.get("startsAt")), unix(a.get("endsAt"))
            lines.append("%.6f\t%s\t%s\t%s\t%s\n" % (
                arrival,
                "%.3f" % st if st is not None else "-",
                "%.3f" % en if en is not None else "-",
                labels.get("alertname", "-"),
                ",".join("%s=%s" % kv for kv in sorted(labels.items()))))
        with LOCK:
            OUT.write("".join(lines))
            OUT.flush()

    def do_GET(self):  # readiness probes
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write("usage: alert_receiver.py PORT LOGFILE\n")
        sys.exit(2)
    LOCK = threading.Lock()
    OUT = open(sys.argv[2], "a")
    srv = Server(("127.0.0.1", int(sys.argv[1])), Handler)
    sys.stderr.write("listening 127.0.0.1:%s\n" % sys.argv[1])
    sys.stderr.flush()
    srv.serve_forever()
