#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A fake Hugging Face hub for the tests (127.0.0.1 only, TLS with a CA made at start-up).

Usage: fakehub.py --dir DIR [--lifetime SECONDS]

Creates DIR/ca.pem (the test CA) and serves two HTTPS origins on ephemeral ports: the "hub"
(API + /resolve/) and a "CDN" that LFS downloads are redirected to. When both listen it writes
DIR/ports ("HUBPORT CDNPORT\n", atomically). It exits after --lifetime seconds at the latest, or when its parent exits.

Repositories (see REPOS below) share one small tree with nested paths, two LFS files, an empty
file, a duplicate content and a .cache/ entry; each name selects a behaviour or an injected fault.
GET /_stats returns what was requested (for assertions on Range and Authorization).
"""
import argparse
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../lib"))
import tlsstub  # noqa: E402  (tests/lib)

TOKEN = "secret-token"          # the valid token
NOACCESS_TOKEN = "no-access"    # a valid token without access to gated repos
PAGE = 3                        # tree entries per page (forces pagination)

rng = random.Random(1234)
LFS_A = bytes(rng.getrandbits(8) for _ in range(300_000))
LFS_B = bytes(rng.getrandbits(8) for _ in range(70_001))
FILES = {
    ".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs -text\n",
    "config.json": b'{"model_type": "tiny", "hidden_size": 8}\n',
    "copy/config.json": b'{"model_type": "tiny", "hidden_size": 8}\n',
    "empty.txt": b"",
    "model.safetensors": LFS_A,
    "nested/deep/dir/notes with space.md": b"# notes\n" * 100,
    "tokenizer/vocab.txt": b"".join(b"tok%d\n" % i for i in range(2000)),
    "weights/part-2.bin": LFS_B,
    ".cache/huggingface/download/x.metadata": b"junk the reference deletes\n",
}
LFS = {"model.safetensors", "weights/part-2.bin"}

REPOS = {
    "t/good": {},
    "solo": {},                                  # a legacy id without a namespace
    "t/private": {"auth": "private"},
    "t/gated": {"auth": "gated"},
    "t/forbidden": {"auth": "forbidden"},
    "t/flaky": {"fail_first": {"revision": 500, "config.json": 503, "model.safetensors": 502}},
    "t/ratelimit": {"fail_first": {"revision": 429, "model.safetensors": 429}},
    "t/ratelimit-long": {"fail_always": {"revision": 429}, "retry_after": "3600"},
    "t/ratelimit-always": {"fail_always": {"model.safetensors": 429}},
    "t/truncated": {"truncate_first": {"model.safetensors", "tokenizer/vocab.txt"}},
    "t/truncated-norange": {"truncate_first": {"model.safetensors"}, "ignore_range": True},
    "t/corrupt": {"corrupt": "always", "corrupt_files": {"model.safetensors"}},
    "t/corrupt-small": {"corrupt": "always", "corrupt_files": {"config.json"}},
    "t/corrupt-once": {"corrupt": "once", "corrupt_files": {"model.safetensors"}},
    "t/toolong": {"append": {"weights/part-2.bin"}},
    "t/dotdot": {"extra_entries": [{"type": "file", "path": "../evil.txt", "size": 3,
                                    "oid": "0" * 40}]},
    "t/dotgit": {"extra_entries": [{"type": "file", "path": ".git/config", "size": 3,
                                    "oid": "0" * 40}]},
    "t/dup": {"extra_entries": [{"type": "file", "path": "config.json", "size": 41,
                                 "oid": "0" * 40}]},
    "t/stall": {"stall": {"model.safetensors"}},
    "t/trickle": {"trickle": {"model.safetensors"}},   # a CDN that trickles ~3 KB/s
    "t/http-redirect": {"cdn_scheme": "http"},
    "t/badlink": {"link_host": "https://evil.invalid:1"},
    "t/badsha": {"sha": "not-a-sha"},
    "t/missing-file": {"missing": {"tokenizer/vocab.txt"}},
    # a second revision: one file changed, two removed (a new commit must not keep stale files)
    "t/big": {},
    "t/two": {"revisions": {"v2": {"drop": {"empty.txt", "weights/part-2.bin"},
                                   "change": {"config.json": b'{"model_type": "tiny", "hidden_size": 16}\n'}}}},
}

stats_lock = threading.Lock()
stats = {"requests": [], "cdn_auth": 0}
counters = {}


def commit_of(repo, rev="main"):
    return hashlib.sha1((repo if rev == "main" else repo + "@" + rev).encode()).hexdigest()


def rev_of(repo, rev_or_commit):
    """The revision name for a branch name or a commit, or None."""
    for rev in ["main"] + list(REPOS[repo].get("revisions", {})):
        if rev_or_commit in (rev, commit_of(repo, rev)):
            return rev
    return None


BIG = {}   # repository "t/big" (bench/hub-download): --big-mib of LFS files


def files_at(repo, rev):
    if repo == "t/big":
        return BIG
    if rev == "main":
        return FILES
    ch = REPOS[repo]["revisions"][rev]
    out = {p: d for p, d in FILES.items() if p not in ch.get("drop", ())}
    out.update(ch.get("change", {}))
    return out


def git_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


digest_cache = {}


def digests(data):
    """(git oid, sha256) of data, computed once per content (big files in benchmarks)."""
    key = id(data)
    with stats_lock:
        hit = digest_cache.get(key)
    if hit and hit[0] is data:
        return hit[1], hit[2]
    g, s = git_oid(data), hashlib.sha256(data).hexdigest()
    with stats_lock:
        digest_cache[key] = (data, g, s)
    return g, s


def tree_entries(repo, files):
    cfg = REPOS[repo]
    dirs = set()
    out = []
    for path in sorted(files):
        parts = path.split("/")
        for i in range(1, len(parts)):
            d = "/".join(parts[:i])
            if d not in dirs:
                dirs.add(d)
                out.append({"type": "directory", "oid": "1" * 40, "size": 0, "path": d})
        data = files[path]
        g, sha = digests(data)
        e = {"type": "file", "oid": g, "size": len(data), "path": path}
        if is_lfs(path):
            e["lfs"] = {"oid": sha, "size": len(data), "pointerSize": 134}
        out.append(e)
    out += cfg.get("extra_entries", [])
    return out


def is_lfs(path):
    return path in LFS or path.startswith("big/")


def once(key):
    """True the first time key is seen."""
    with stats_lock:
        n = counters.get(key, 0)
        counters[key] = n + 1
    return n == 0


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakehub"

    def log_message(self, fmt, *args):  # quiet
        pass

    def record(self, origin):
        with stats_lock:
            stats["requests"].append({"origin": origin, "path": self.path,
                                      "range": self.headers.get("Range"),
                                      "auth": bool(self.headers.get("Authorization"))})

    def send(self, status, body=b"", headers=None, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code=None, msg="error", headers=None):
        h = dict(headers or {})
        if code:
            h["X-Error-Code"] = code
        h["X-Error-Message"] = msg
        self.send(status, json.dumps({"error": msg}).encode(), h)

    def serve_content(self, repo, path, data):
        cfg = REPOS[repo]
        if path in cfg.get("corrupt_files", ()):
            if cfg["corrupt"] == "always" or once(("corrupt", repo, path)):
                data = bytearray(data)
                data[len(data) // 2] ^= 0x01
                data = bytes(data)
        if path in cfg.get("append", ()):
            data = data + b"EXTRA"
        start = 0
        rng_hdr = self.headers.get("Range")
        if rng_hdr and not cfg.get("ignore_range"):
            if not (rng_hdr.startswith("bytes=") and rng_hdr.endswith("-")):
                return self.error(416, msg="bad range")
            start = int(rng_hdr[6:-1])
            if start >= len(data):
                return self.error(416, msg="range not satisfiable")
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if path in cfg.get("trickle", ()):
            for i in range(0, len(body), 1000):
                try:
                    self.wfile.write(body[i:i + 1000])
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.3)
            return
        if path in cfg.get("stall", ()):
            self.wfile.write(body[:1000])
            self.wfile.flush()
            time.sleep(30)
            self.close_connection = True
            return
        if path in cfg.get("truncate_first", ()) and once(("trunc", repo, path)):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.wfile.write(body)

    def check_auth(self, repo, files):
        """As the hub: private repositories hide everything; gated ones only their files."""
        mode = REPOS[repo].get("auth")
        auth = self.headers.get("Authorization")
        token = auth[7:] if auth and auth.startswith("Bearer ") else None
        if mode == "private" and token != TOKEN:
            self.error(401, "RepoNotFound", "Repository Not Found")
            return False
        if mode == "gated" and files:
            if token is None:
                self.error(401, "GatedRepo", "Access to model t/gated is restricted.")
                return False
            if token != TOKEN:
                self.error(403, "GatedRepo", "Access to model t/gated is restricted and you are not in the authorized list.")
                return False
        if mode == "forbidden":
            self.error(403, None, "Forbidden")
            return False
        return True

    def injected(self, repo, what):
        cfg = REPOS[repo]
        ra = {"Retry-After": cfg.get("retry_after", "1")}
        st = cfg.get("fail_always", {}).get(what)
        if st:
            self.error(st, None, "injected", ra if st == 429 else None)
            return True
        st = cfg.get("fail_first", {}).get(what)
        if st and once(("fail", repo, what)):
            self.error(st, None, "injected", {"Retry-After": "1"} if st == 429 else None)
            return True
        return False

    def split_repo(self, parts):
        """parts: path components after the prefix; returns (repo, rest) or (None, None)."""
        for n in (2, 1):
            if len(parts) > n and "/".join(parts[:n]) in REPOS:
                return "/".join(parts[:n]), parts[n:]
        return None, None

    def do_GET(self):
        origin = "cdn" if self.server.is_cdn else "hub"
        self.record(origin)
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.split("/")[1:]]
        if origin == "cdn":
            return self.cdn(parts, urllib.parse.parse_qs(url.query).get("rev", [""])[0])
        if url.path == "/_stats":
            with stats_lock:
                return self.send(200, json.dumps(stats).encode())
        if url.path == "/_files":
            # what the tests compare against: content digests, and those of the corrupted content
            out = {}
            for path, data in FILES.items():
                bad = bytearray(data)
                if bad:
                    bad[len(bad) // 2] ^= 0x01
                out[path] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                             "git": git_oid(data), "bad_sha256": hashlib.sha256(bytes(bad)).hexdigest(),
                             "bad_git": git_oid(bytes(bad)), "lfs": path in LFS}
            return self.send(200, json.dumps(out).encode())
        if parts[:2] == ["api", "models"]:
            repo, rest = self.split_repo(parts[2:])
            if repo is None:
                return self.error(404, "RepoNotFound", "Repository Not Found")
            if not self.check_auth(repo, False):
                return
            cfg = REPOS[repo]
            if len(rest) == 2 and rest[0] == "revision":
                if self.injected(repo, "revision"):
                    return
                rev = rev_of(repo, rest[1])
                if rev is None:
                    return self.error(404, "RevisionNotFound", "Invalid rev id: " + rest[1])
                return self.send(200, json.dumps({"id": repo, "sha": cfg.get("sha", commit_of(repo, rev))}).encode())
            if len(rest) == 2 and rest[0] == "tree":
                if self.injected(repo, "tree"):
                    return
                rev = rev_of(repo, rest[1])
                commit = rest[1]
                if rev is None or commit != commit_of(repo, rev):
                    return self.error(404, "RevisionNotFound", "Invalid rev id")
                q = urllib.parse.parse_qs(url.query)
                if q.get("recursive") != ["true"]:
                    return self.error(400, None, "recursive expected")
                cursor = int(q.get("cursor", ["0"])[0])
                entries = tree_entries(repo, files_at(repo, rev))
                page = entries[cursor:cursor + PAGE]
                headers = {}
                if cursor + PAGE < len(entries):
                    host = cfg.get("link_host", "https://127.0.0.1:%d" % self.server.server_port)
                    nxt = "%s/api/models/%s/tree/%s?recursive=true&cursor=%d" % (host, repo, commit, cursor + PAGE)
                    headers["Link"] = '<%s>; rel="next"' % nxt
                return self.send(200, json.dumps(page).encode(), headers)
            return self.error(404, None, "unknown api")
        repo, rest = self.split_repo(parts)
        if repo is None:
            return self.error(404, "RepoNotFound", "Repository Not Found")
        if len(rest) < 3 or rest[0] != "resolve":
            return self.error(404, None, "not found")
        if not self.check_auth(repo, True):
            return
        cfg = REPOS[repo]
        rev = rev_of(repo, rest[1])
        if rev is None or rest[1] != commit_of(repo, rev):
            return self.error(404, "RevisionNotFound", "Invalid rev id")
        files = files_at(repo, rev)
        path = "/".join(rest[2:])
        if path not in files or path in cfg.get("missing", ()):
            return self.error(404, "EntryNotFound", "Entry not found")
        if self.injected(repo, path):
            return
        if is_lfs(path):
            scheme = cfg.get("cdn_scheme", "https")
            loc = "%s://127.0.0.1:%d/blob/%s/%s?rev=%s&sig=x" % (scheme, self.server.cdn_port, urllib.parse.quote(repo),
                                                                 urllib.parse.quote(path), rest[1])
            return self.send(302, b"", {"Location": loc})
        return self.serve_content(repo, path, files[path])

    def do_POST(self):
        # /_echo: the request body back, with the Content-Type it came with (cn_http_post test)
        self.record("hub")
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        if self.path != "/_echo":
            return self.error(404, None, "not found")
        return self.send(200, body, ctype=self.headers.get("Content-Type", "none"))

    def cdn(self, parts, commit):
        if self.headers.get("Authorization"):
            with stats_lock:
                stats["cdn_auth"] += 1
            return self.error(400, None, "credentials forwarded to the CDN")
        if len(parts) < 3 or parts[0] != "blob":
            return self.error(404, None, "no such blob")
        repo, rest = self.split_repo(parts[1:])
        if repo is None or not rest or rev_of(repo, commit) is None:
            return self.error(404, None, "no such blob")
        files = files_at(repo, rev_of(repo, commit))
        path = "/".join(rest)
        if not is_lfs(path) or path not in files:
            return self.error(404, None, "no such blob")
        return self.serve_content(repo, path, files[path])


def serve(ctx, is_cdn):
    srv = tlsstub.Server(("127.0.0.1", 0), Handler)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.is_cdn = is_cdn
    return srv


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--lifetime", type=float, default=300)
    ap.add_argument("--big-mib", type=int, default=0, help="size of repository t/big (benchmarks)")
    a = ap.parse_args()
    if a.big_mib:
        per = (a.big_mib << 20) // 4
        for i in range(1, 5):
            BIG["big/model-%05d-of-00004.safetensors" % i] = os.urandom(per)
        BIG["config.json"] = b'{"architectures": ["X"]}\n'
        BIG["tokenizer.json"] = os.urandom(3 << 20).hex().encode()
    tlsstub.make_certs(a.dir, "cocoon fake hub test CA")
    ctx = tlsstub.server_context(a.dir)
    hub, cdn = serve(ctx, False), serve(ctx, True)
    hub.cdn_port = cdn.cdn_port = cdn.server_port
    for s in (hub, cdn):
        threading.Thread(target=s.serve_forever, daemon=True).start()
    tlsstub.publish(a.dir, "ports", "%d %d\n" % (hub.server_port, cdn.server_port))
    tlsstub.live(a.lifetime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
