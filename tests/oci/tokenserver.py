#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A registry token service for the Bearer-flow test (127.0.0.1 only, TLS).

Usage: tokenserver.py --dir DIR --cert PEM --key KEY --signing-key KEY --signing-cert PEM
                      --issuer ISS --user USER --password PW [--lifetime S]

Implements the Docker token protocol that Distribution 2.8's `auth: token` verifies: GET
/token?service=S&scope=repository:NAME:ACTIONS... with Basic credentials answers
{"token": JWT} (ES256, signed with `openssl dgst`, certificate in the x5c header), granting the
requested actions; wrong or missing credentials get 401. Writes DIR/port when listening and
DIR/requests (one line per request: "<user or -> <scopes>").
"""
import argparse
import base64
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def der_to_raw(sig):
    # ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER } -> r || s (32 bytes each)
    assert sig[0] == 0x30
    i = 2 if sig[1] < 0x80 else 2 + (sig[1] & 0x7F)
    out = b""
    for _ in range(2):
        assert sig[i] == 0x02
        n = sig[i + 1]
        v = sig[i + 2:i + 2 + n].lstrip(b"\0")
        out += v.rjust(32, b"\0")
        i += 2 + n
    return out


def main():
    ap = argparse.ArgumentParser()
    for a in ("dir", "cert", "key", "signing-key", "signing-cert", "issuer", "user", "password"):
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--lifetime", type=int, default=300)
    args = ap.parse_args()
    with open(args.signing_cert) as f:
        pem = f.read()
    der_b64 = "".join(l for l in pem.splitlines() if "CERTIFICATE" not in l)
    lock = threading.Lock()

    def sign(claims):
        header = {"typ": "JWT", "alg": "ES256", "x5c": [der_b64]}
        payload = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", args.signing_key],
                             input=payload.encode(), capture_output=True, check=True).stdout
        return payload + "." + b64url(der_to_raw(sig))

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            u = urllib.parse.urlparse(self.path)
            q = urllib.parse.parse_qs(u.query)
            auth = self.headers.get("Authorization", "")
            user = None
            if auth.startswith("Basic "):
                try:
                    up = base64.b64decode(auth[6:]).decode()
                except Exception:
                    up = ""
                if up == args.user + ":" + args.password:
                    user = args.user
                else:
                    user = "!bad"
            scopes = q.get("scope", [])
            with lock, open(os.path.join(args.dir, "requests"), "a") as f:
                f.write("%s %s\n" % (user or "-", " ".join(scopes)))
            if u.path != "/token" or user != args.user:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            access = []
            for s in scopes:
                parts = s.split(":")
                if len(parts) == 3 and parts[0] == "repository":
                    access.append({"type": "repository", "name": parts[1],
                                   "actions": parts[2].split(",")})
            now = int(time.time())
            tok = sign({"iss": args.issuer, "sub": user, "aud": q.get("service", [""])[0],
                        "exp": now + 300, "nbf": now - 10, "iat": now,
                        "jti": b64url(os.urandom(12)), "access": access})
            body = json.dumps({"token": tok, "expires_in": 300}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Timer(args.lifetime, srv.shutdown).start()
    tmp = os.path.join(args.dir, "port.tmp")
    with open(tmp, "w") as f:
        f.write("%d\n" % srv.server_address[1])
    os.rename(tmp, os.path.join(args.dir, "port"))
    srv.serve_forever()


if __name__ == "__main__":
    main()
