#!/usr/bin/env python3
"""Loopback sinks for the notifier tests: an HTTP server (SMS providers and
the helpdesk webhook) that records every request as one JSON line, and a
SMTP server (aiosmtpd) that writes each message to a directory.

    notify_sink.py HTTP_PORT SMTP_PORT OUTDIR

OUTDIR/http.jsonl  {"path","headers","body","status"} per request
OUTDIR/mail/N.eml  one file per accepted message (envelope in X-Envelope-*)
OUTDIR/fail        when present, holds "PATHPREFIX N": the next N requests
                   whose path starts with PATHPREFIX get 500
"""
import http.server, json, os, socketserver, sys, threading

from aiosmtpd.controller import Controller

HTTP_PORT, SMTP_PORT, OUT = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
os.makedirs(os.path.join(OUT, "mail"), exist_ok=True)
lock = threading.Lock()


def fail_now(path):
    f = os.path.join(OUT, "fail")
    with lock:
        try:
            prefix, n = open(f).read().split()
        except (OSError, ValueError):
            return False
        if not path.startswith(prefix) or int(n) <= 0:
            return False
        open(f, "w").write("%s %d" % (prefix, int(n) - 1))
        return True


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode("utf-8", "replace")
        status = 500 if fail_now(self.path) else 201
        rec = {"path": self.path, "headers": {k: v for k, v in self.headers.items()},
               "body": body, "status": status}
        with lock:
            with open(os.path.join(OUT, "http.jsonl"), "a") as f:
                f.write(json.dumps(rec) + "\n")
        out = b'{"sid":"SM1","id":"m1"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *a):
        pass


class Mailbox:
    """aiosmtpd handler: each accepted message becomes a file."""
    counter = 0

    async def handle_DATA(self, server, session, envelope):
        with lock:
            Mailbox.counter += 1
            p = os.path.join(OUT, "mail", "%06d.eml" % Mailbox.counter)
            with open(p + ".tmp", "wb") as f:
                f.write(("X-Envelope-From: %s\r\nX-Envelope-To: %s\r\n"
                         % (envelope.mail_from,
                            ",".join(envelope.rcpt_tos))).encode())
                f.write(envelope.original_content)
            os.rename(p + ".tmp", p)
        return "250 Message accepted for delivery"


class TS(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


class HS(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


# Debian's python3-aiosmtpd: a real SMTP server on loopback.
smtp = Controller(Mailbox(), hostname="127.0.0.1", port=SMTP_PORT)
smtp.start()
HS(("127.0.0.1", HTTP_PORT), H).serve_forever()
