# SPDX-License-Identifier: Apache-2.0
"""Scaffolding shared by the tests' HTTPS stand-ins (tests/net/fakehub.py,
tests/attest/live/nvstub.py): a throwaway CA and a 127.0.0.1 server certificate made with
openssl, a quiet threading server, the port file the test waits for, and a bounded lifetime."""
import os
import ssl
import subprocess
import time
from http.server import ThreadingHTTPServer


def make_certs(d, ca_name):
    """d/ca.pem (CN=ca_name) and d/server.{pem,key} for 127.0.0.1 and localhost, valid 2 days."""
    def run(*args):
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", d + "/ca.key", "-out", d + "/ca.pem", "-days", "2",
        "-subj", "/CN=" + ca_name, "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("openssl", "req", "-new", *ec, "-keyout", d + "/server.key", "-out", d + "/server.csr",
        "-subj", "/CN=127.0.0.1")
    with open(d + "/server.ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n")
    run("openssl", "x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
        "-CAcreateserial", "-out", d + "/server.pem", "-days", "2", "-extfile", d + "/server.ext")


def server_context(d):
    """A TLS server context with d/server.pem and d/server.key."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d + "/server.pem", d + "/server.key")
    return ctx


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        pass  # clients that hang up (timeouts, hash failures, aborted batches) are expected here


def publish(d, name, text):
    """Writes d/name atomically: the test polls for it to learn the ports."""
    tmp = d + "/" + name + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, d + "/" + name)


def live(lifetime):
    """Bounded: returns after lifetime seconds, or as soon as the test that started us is gone."""
    parent = os.getppid()
    deadline = time.monotonic() + lifetime
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.2)
