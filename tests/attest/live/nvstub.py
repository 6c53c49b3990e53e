#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Loopback stand-ins for NVIDIA's RIM service and OCSP responder (tests and bench/attest-online).

Usage: nvstub.py --dir DIR [--rim-dir RIMS] [--responder ISSUER,SIGNER,KEY,INDEX[,NMIN]]...
                 [--delay-ms MS] [--lifetime SECONDS]

One HTTPS origin on 127.0.0.1 (TLS with a CA made at start-up: DIR/ca.pem), HTTP/1.1 keep-alive,
threads. When it listens it writes DIR/port atomically. It exits after --lifetime seconds, or
when its parent exits.

  GET /v1/rim/<id>   {"id", "rim": base64(RIMS/<id>.xml), "sha256", ...} as NVIDIA's service.
                     Ids starting with "T_" inject faults (the rest of the id names the RIM file
                     served where one is served):
                       T_MISMATCH_<id>   body id differs from the requested id
                       T_404_<id>        404
                       T_FLAKY_<id>      500 on the first request, then 200 (id = whole id)
                       T_RATE_<id>       429 Retry-After: 1 on the first request, then 200
                       T_STALL_<id>      headers and half a body, then silence
                       T_HUGE_<id>       a body of 6 MiB
                       T_BADJSON_<id>    malformed JSON
                       T_BADB64_<id>     "rim" is not base64
  POST /[...]        OCSP: the request is routed by its issuerKeyHash to the --responder of that
                     issuer and answered by `openssl ocsp -reqin ... -respout ...` (index file
                     INDEX, signed by SIGNER with KEY, nextUpdate NMIN minutes ahead, default
                     60); no responder: responseStatus unauthorized. (--ocsp-signer python: the
                     benchmark signs in process with python3-cryptography instead.) Path faults:
                       /down/...      connection closed without an answer
                       /500/...       HTTP 500
                       /trylater/...  OCSP responseStatus tryLater
  GET /_stats        {"rim": n, "ocsp": n, "connections": n}
Every request first sleeps --delay-ms (the benchmark's round trip).
"""
import argparse
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../lib"))
import tlsstub  # noqa: E402  (tests/lib)

STATS = {"rim": 0, "ocsp": 0, "connections": 0}
SEEN = set()
LOCK = threading.Lock()


def der_read(buf, off):
    """(tag, content_start, content_end) of the TLV at off."""
    tag = buf[off]
    n = buf[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(buf[off:off + k], "big")
        off += k
    return tag, off, off + n


def der_children(buf, start, end):
    out = []
    while start < end:
        tag, s, e = der_read(buf, start)
        out.append((tag, s, e))
        start = e
    return out


def request_key_hash(der):
    """issuerKeyHash of the first Request of an OCSPRequest."""
    _, s, e = der_read(der, 0)                      # OCSPRequest
    _, s, e = der_children(der, s, e)[0]            # tbsRequest
    kids = [k for k in der_children(der, s, e) if k[0] == 0x30]
    _, s, e = kids[0]                               # requestList
    _, s, e = der_children(der, s, e)[0]            # Request
    _, s, e = der_children(der, s, e)[0]            # CertID
    f = der_children(der, s, e)
    return der[f[2][1]:f[2][2]]


def key_hashes(cert):
    pem = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout.decode()
    spki = base64.b64decode("".join(l for l in pem.splitlines() if "-----" not in l))
    _, s, e = der_read(spki, 0)
    bits = der_children(spki, s, e)[1]
    key = spki[bits[1] + 1:bits[2]]
    return [hashlib.new(h, key).digest() for h in ("sha1", "sha256", "sha384")]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        with LOCK:
            STATS["connections"] += 1

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"", ctype="application/json", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def once(self, key):
        with LOCK:
            if key in SEEN:
                return False
            SEEN.add(key)
            return True

    def do_GET(self):
        time.sleep(self.server.delay)
        if self.path == "/_stats":
            with LOCK:
                return self.send(200, json.dumps(STATS).encode())
        if not self.path.startswith("/v1/rim/"):
            return self.send(404, b'{"error": "no such endpoint"}')
        with LOCK:
            STATS["rim"] += 1
        rid = self.path[len("/v1/rim/"):]
        fault, name = "", rid
        if rid.startswith("T_"):
            fault, _, name = rid[2:].partition("_")
        if fault == "404":
            return self.send(404, b'{"error": "RIM not found"}')
        if fault == "FLAKY" and self.once(rid):
            return self.send(500, b'{"error": "internal"}')
        if fault == "RATE" and self.once(rid):
            return self.send(429, b'{"error": "slow down"}', headers={"Retry-After": "1"})
        path = os.path.join(self.server.rim_dir or "/nonexistent", name + ".xml")
        if not os.path.isfile(path):
            return self.send(404, b'{"error": "RIM not found"}')
        xml = open(path, "rb").read()
        body = {"id": rid if fault != "MISMATCH" else rid + "_OTHER",
                "rim": base64.b64encode(xml).decode(),
                "sha256": hashlib.sha256(xml).hexdigest(), "request_id": "stub",
                "rim_format": "SWIDTAG", "last_updated": "2026-01-01T00:00:00Z"}
        if fault == "BADB64":
            body["rim"] = "not*base64!"
        data = json.dumps(body).encode()
        if fault == "BADJSON":
            data = data[:-5] + b",,}"
        if fault == "HUGE":
            data = b'{"id": "%s", "rim": "%s"}' % (rid.encode(), b"A" * (6 << 20))
        if fault == "STALL":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            time.sleep(30)
            return
        self.send(200, data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        req = self.rfile.read(n)
        time.sleep(self.server.delay)
        with LOCK:
            STATS["ocsp"] += 1
        if self.path.startswith("/down"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if self.path.startswith("/500"):
            return self.send(500, b"oops", ctype="text/plain")
        if self.path.startswith("/trylater"):
            return self.send(200, bytes.fromhex("30030a0103"), ctype="application/ocsp-response")
        if self.headers.get("Content-Type") != "application/ocsp-request":
            return self.send(415, b"bad content type", ctype="text/plain")
        try:
            route = self.server.routes.get(request_key_hash(req))
        except (IndexError, ValueError):
            route = None
        if route is None:  # unauthorized (no responder for this issuer)
            return self.send(200, bytes.fromhex("30030a0106"), ctype="application/ocsp-response")
        issuer, signer, key, index, nmin = route
        if self.server.signer == "python":
            return self.send(200, py_ocsp(req, route), ctype="application/ocsp-response")
        with tempfile.TemporaryDirectory() as t:
            with open(t + "/req.der", "wb") as f:
                f.write(req)
            p = subprocess.run(["openssl", "ocsp", "-reqin", t + "/req.der", "-index", index,
                                "-CA", issuer, "-rsigner", signer, "-rkey", key, "-nmin", nmin,
                                "-respout", t + "/resp.der"], capture_output=True)
            if p.returncode != 0 or not os.path.exists(t + "/resp.der"):
                return self.send(500, p.stderr, ctype="text/plain")
            data = open(t + "/resp.der", "rb").read()
        self.send(200, data, ctype="application/ocsp-response")


def py_ocsp(req_der, route):
    """The benchmark's in-process signer (python3-cryptography): the same answer as `openssl ocsp`
    (status from the index file, nonce echoed, nextUpdate NMIN minutes ahead) without a process
    per request. The index's name field must be "/CN=<path of the certificate>"."""
    import datetime
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509 import ocsp
    issuer_p, signer_p, key_p, index, nmin = route
    req = ocsp.load_der_ocsp_request(req_der)
    status, cert_p, rev = ocsp.OCSPCertStatus.UNKNOWN, None, None
    for line in open(index):
        f = line.rstrip("\n").split("\t")
        if int(f[3], 16) == req.serial_number:
            cert_p = f[5].split("=", 1)[1]
            if f[0] == "R":
                status, rev = ocsp.OCSPCertStatus.REVOKED, f[2]
            else:
                status = ocsp.OCSPCertStatus.GOOD
    load = lambda p: x509.load_pem_x509_certificate(open(p, "rb").read())
    issuer, signer = load(issuer_p), load(signer_p)
    key = serialization.load_pem_private_key(open(key_p, "rb").read(), None)
    now = datetime.datetime.utcnow()
    if cert_p is None:  # unknown: the builder needs a certificate; answer with a dummy status
        return bytes.fromhex("30030a0106")
    b = ocsp.OCSPResponseBuilder().add_response(
        load(cert_p), issuer, hashes.SHA384(), status, now, now + datetime.timedelta(minutes=int(nmin)),
        datetime.datetime.strptime(rev.split(",")[0], "%y%m%d%H%M%SZ") if rev else None, None)
    b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, signer)
    try:
        b = b.add_extension(req.extensions.get_extension_for_class(x509.OCSPNonce).value, False)
    except x509.ExtensionNotFound:
        pass
    return b.sign(key, hashes.SHA384()).public_bytes(serialization.Encoding.DER)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rim-dir")
    ap.add_argument("--responder", action="append", default=[])
    ap.add_argument("--delay-ms", type=float, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--ocsp-signer", choices=("openssl", "python"), default="openssl")
    a = ap.parse_args()
    if not os.path.exists(a.dir + "/ca.pem"):
        tlsstub.make_certs(a.dir, "cocoon nvstub test CA")
    routes = {}
    for spec in a.responder:  # a later --responder for the same issuer wins
        f = spec.split(",")
        issuer, signer, key, index = f[:4]
        nmin = f[4] if len(f) > 4 else "60"
        for h in key_hashes(issuer):
            routes[h] = (issuer, signer, key, index, nmin)
    ctx = tlsstub.server_context(a.dir)
    srv = tlsstub.Server(("127.0.0.1", 0), Handler)
    # the TLS handshake happens in the handler's thread, not in the accepting one
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True, do_handshake_on_connect=False)
    srv.signer = a.ocsp_signer
    srv.delay = a.delay_ms / 1000.0
    srv.rim_dir = a.rim_dir
    srv.routes = routes
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    tlsstub.publish(a.dir, "port", "%d\n" % srv.server_port)
    tlsstub.live(a.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
