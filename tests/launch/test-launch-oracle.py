#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The reference launcher as the oracle (issue 14).

Runs ../shared/reference/cocoon/scripts/cocoon-launch (Python 3) and `cocoon launch` on the same
inputs over a matrix of configs and options, with stand-ins: a qemu-system-x86_64 first in PATH
that records its argv and copies the 9p share it was given, a build-model that prints a fixed
model line, a setup-gpu-vfio that says the GPU is ready. For each config it compares:
  - the QEMU argv, element by element; the only allowed difference is the documented host-only
    block (-name, -pidfile, -qmp, -D) and the share's own path;
  - the share: the same files and folders, byte for byte and mode for mode (runtime/runtime.vars
    compared by content: it is 0600 here, a documented difference);
  - runtime/runtime.vars, entry for entry, in order;
  - the spec tree hash: the reference's cocoon-prepare-spec run with real git (SHA-256 objects:
    GIT_DEFAULT_HASH, since Debian 12's git ignores init.defaultObjectFormat) on both shares
    gives 64 hex, the same for both, and the same as `cocoon launch --print-only --json`
    predicts and `--prepare-only --json` reports.
Errors are compared too: a missing TON config outside fake-TON mode stops both, named.
The reference tree is copied to a temporary folder (modes as a git checkout gives them) with a
test mainnet-full-ton-config.json (not in the reference's repository). Skips (77) only when
../shared is missing.
"""
import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

COCOON = os.environ.get("COCOON", "")
SHARED = os.environ.get("CN_SHARED_DIR", os.path.join(os.path.dirname(__file__), "../../../shared"))
REF = os.path.join(SHARED, "reference/cocoon")
COMMIT = "0123456789abcdef0123456789abcdef01234567"
HOST_ONLY = ["-name", "-pidfile", "-qmp", "-D"]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)
        print("FAIL: " + msg, file=sys.stderr)
    return cond


QEMU_STANDIN = r"""#!/bin/sh
# Stand-in QEMU: capability queries answered as a TDX-capable QEMU would; otherwise the argv is
# recorded (JSON) and the 9p share copied, then exit 0.
if [ $# -eq 2 ] && [ "$2" = help ]; then
	case "$1" in
	-object) printf '  iommufd\n  memory-backend-ram\n  tdx-guest\n' ;;
	-device) printf 'name "vfio-pci"\nname "vhost-vsock-pci"\nname "virtio-9p-pci"\n' ;;
	esac
	exit 0
fi
exec python3 - "$ORACLE_OUT" "$0" "$@" <<'EOF'
import json, shutil, sys
out, argv = sys.argv[1], [sys.argv[2].rsplit("/", 1)[-1]] + sys.argv[3:]
json.dump(argv, open(out + "/argv.json", "w"))
for a in argv:
    if a.startswith("local,path=") and ",mount_tag=spec," in a:
        shutil.copytree(a[len("local,path="):a.index(",mount_tag=")], out + "/share", symlinks=True)
EOF
"""


def prepare_root(tmp):
    """The reference tree as an operator's checkout: scripts/ and spec/, 0644/0755, and stand-ins."""
    root = tmp + "/ref"
    os.makedirs(root + "/scripts")
    shutil.copy(REF + "/scripts/cocoon-launch", root + "/scripts/cocoon-launch")
    shutil.copytree(REF + "/spec", root + "/spec")
    for d, dirs, files in os.walk(root):
        os.chmod(d, 0o755)
        for f in files:
            p = os.path.join(d, f)
            os.chmod(p, 0o755 if os.stat(p).st_mode & stat.S_IXUSR else 0o644)
    with open(root + "/spec/mainnet-full-ton-config.json", "w") as f:
        f.write('{"@type": "config.global", "liteservers": [{"ip": 1, "port": 2}]}\n')
    tar = tmp + "/models/tiny_model.tar"
    os.makedirs(tmp + "/models")
    with open(tar, "wb") as f:
        f.write(b"\0" * 4096)
    with open(tar + ".verity", "wb") as f:
        f.write(b"\0" * 4096)
    root_hash = "ab" * 32
    with open(tar + ".hash", "w") as f:
        f.write(root_hash)
    build_model = "#!/bin/sh\necho 'tiny/model@%s:%s %s'\n" % (COMMIT, root_hash, tar)
    for d in (root + "/scripts", tmp + "/bin"):
        os.makedirs(d, exist_ok=True)
        with open(d + "/build-model", "w") as f:
            f.write(build_model)
        os.chmod(d + "/build-model", 0o755)
    with open(root + "/scripts/setup-gpu-vfio", "w") as f:
        f.write("#!/bin/sh\necho \"GPU $1 ready (stand-in)\"\n")
    os.chmod(root + "/scripts/setup-gpu-vfio", 0o755)
    with open(tmp + "/bin/qemu-system-x86_64", "w") as f:
        f.write(QEMU_STANDIN)
    os.chmod(tmp + "/bin/qemu-system-x86_64", 0o755)
    img = tmp + "/img"
    os.makedirs(img)
    for n in ("image.img", "image.vmlinuz", "image.initrd", "OVMF.fd"):
        with open(img + "/" + n, "w") as f:
            f.write(n)
    with open(img + "/image.cmdline", "w") as f:
        f.write("console=hvc0 roothash=0123 swiotlb=1048576\n")
    # Host stand-ins for our pre-flight: /dev and /sys.
    os.makedirs(tmp + "/dev")
    for n in ("kvm", "vhost-vsock"):
        open(tmp + "/dev/" + n, "w").close()
    os.makedirs(tmp + "/sys/module/kvm_intel/parameters")
    with open(tmp + "/sys/module/kvm_intel/parameters/tdx", "w") as f:
        f.write("Y\n")
    # A custom spec folder: a symlink (copied as a file), a sub-folder, .gitignore rules, modes.
    cs = tmp + "/custom-spec"
    os.makedirs(cs + "/sub/deep")
    os.makedirs(cs + "/logs")
    files = {"init": ("#!/bin/bash\ncocoon-render-ton-config\r\necho a\nsystemctl start x\n", 0o750),
             "a-runner.service": ("[Service]\r\nExecStart=/usr/bin/proxy-runner -c x\nExecStartPre=/x-runner\n", 0o640),
             "b.service": ("ExecStart=/usr/bin/worker-runner --disable-ton /run/spec/fake-ton-config.json", 0o644),
             ".gitignore": ("runtime\n*.log\n!keep.log\n/top-only \nlogs/\n# c\n", 0o644),
             "sub/.gitignore": ("deep/*.tmp\n", 0o644),
             "sub/x.log": ("ignored\n", 0o644), "sub/keep.log": ("kept\n", 0o644),
             "sub/top-only": ("kept: the pattern is anchored at the top\n", 0o600),
             "top-only": ("ignored\n", 0o644), "logs/a": ("ignored folder\n", 0o644),
             "sub/deep/a.tmp": ("ignored\n", 0o644), "sub/deep/b.txt": ("kept\n", 0o755),
             "spec.meta": ("not measured\n", 0o644), "utf8-\u00e9.json": ("{\"\u00e9\": 1}\n", 0o644)}
    for name, (text, mode) in files.items():
        with open(cs + "/" + name, "w", newline="") as f:
            f.write(text)
        os.chmod(cs + "/" + name, mode)
    os.symlink("sub/keep.log", cs + "/link-to-keep")
    os.chmod(cs + "/sub", 0o750)
    return root, tar


def read_tree(d):
    """{relative path: (kind, mode, bytes)} of a folder (symlinks are reported as such)."""
    out = {}
    for cur, dirs, files in os.walk(d):
        for n in dirs + files:
            p = os.path.join(cur, n)
            rel = os.path.relpath(p, d)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p).encode())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
            else:
                with open(p, "rb") as f:
                    out[rel] = ("file", stat.S_IMODE(st.st_mode), f.read())
    return out


def prepare_spec_hash(share, tmp, tag):
    out = "%s/prep-%s" % (tmp, tag)
    env = dict(os.environ, GIT_DEFAULT_HASH="sha256", HOME=tmp, GIT_CONFIG_NOSYSTEM="1")
    # From "/", as systemd runs cocoon-init: its git pathspecs ("runtime", ".gitignore") are taken
    # relative to the working directory, and inside another git checkout they silently miss.
    r = subprocess.run(["bash", REF + "/reprodebian/cocoon-init/cocoon-prepare-spec", share, out],
                       capture_output=True, text=True, env=env, timeout=60, cwd="/")
    if not check(r.returncode == 0, "cocoon-prepare-spec %s: %s" % (tag, r.stderr[-500:])):
        return None
    h = r.stdout.strip()
    check(re.fullmatch(r"[0-9a-f]{64}", h) is not None, "cocoon-prepare-spec %s: not 64 hex: %r" % (tag, h))
    return h


def run_reference(root, tmp, conf, opts, out):
    os.makedirs(out)
    env = dict(os.environ, PATH=tmp + "/bin:" + os.environ["PATH"], ORACLE_OUT=out, TMPDIR=tmp + "/reftmp")
    env.pop("HF_TOKEN", None)
    os.makedirs(env["TMPDIR"], exist_ok=True)
    r = subprocess.run([sys.executable, root + "/scripts/cocoon-launch"] + opts + [conf], cwd=tmp,
                       capture_output=True, text=True, env=env, timeout=60)
    m = re.search(r"^Preparing \w+: .*->(.*)$", r.stdout, re.M)
    if m and not os.path.exists(out + "/share") and os.path.isdir(m.group(1)):
        shutil.copytree(m.group(1), out + "/share", symlinks=True)
    return r


def run_ours(root, tmp, conf, opts, out, extra=()):
    os.makedirs(out, exist_ok=True)
    env = dict(os.environ, PATH=tmp + "/bin:" + os.environ["PATH"], ORACLE_OUT=out, COCOON_ROOT=root)
    env.pop("HF_TOKEN", None)
    cmd = [COCOON, "launch", "--run-dir", tmp + "/run", "--dev-dir", tmp + "/dev", "--sysfs-dir",
           tmp + "/sys"] + list(opts) + [conf] + list(extra)
    return subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, env=env, timeout=60)


def strip_host_only(argv, name):
    """Removes the documented host-only block: -name N -pidfile P -qmp Q -D L (in this order)."""
    if "-name" not in argv:
        check(False, "%s: no host-only block in our argv" % name)
        return argv
    i = argv.index("-name")
    block = argv[i:i + 8]
    check(block[0::2] == HOST_ONLY, "%s: host-only block is %r" % (name, block))
    return argv[:i] + argv[i + 8:]


def normalize_share(argv):
    return [re.sub(r"^local,path=[^,]*,mount_tag=spec,", "local,path=SHARE,mount_tag=spec,", a) for a in argv]


def vars_lines(text, case):
    lines = text.splitlines()
    if case.get("type") == "client":  # the reference's TON_CONFIG_FILE is in a fresh mkdtemp folder
        lines = [re.sub(r"^TON_CONFIG_FILE=.*/global\.config\.json$", "TON_CONFIG_FILE=RUN/global.config.json", x)
                 for x in lines]
    return lines


def compare_shares(name, ref_share, our_share, case):
    a, b = read_tree(ref_share), read_tree(our_share)
    check(sorted(a) == sorted(b), "%s: share files differ: only reference %s, only ours %s" %
          (name, sorted(set(a) - set(b)), sorted(set(b) - set(a))))
    for rel in sorted(set(a) & set(b)):
        if rel == "runtime/runtime.vars":
            check(vars_lines(a[rel][2].decode(), case) == vars_lines(b[rel][2].decode(), case),
                  "%s: runtime.vars differs:\n--- reference\n%s--- ours\n%s" % (name, a[rel][2].decode(),
                                                                                b[rel][2].decode()))
            check(b[rel][1] == 0o600, "%s: our runtime.vars mode %o" % (name, b[rel][1]))
            continue
        check(a[rel] == b[rel], "%s: %s differs: reference %r, ours %r" % (name, rel, a[rel][:2], b[rel][:2]))


def write_conf(tmp, name, case, port_base=None):
    keys = dict(case)
    if port_base and keys.get("type") != "client" and "ssh_port" not in keys:
        # Our launcher binds each host port once to see that it is free: away from the defaults,
        # which other tests on this machine may hold. Both launchers get the same values.
        keys["ssh_port"], keys["http_port"] = str(port_base + 5), str(port_base)
        if keys.get("type") == "proxy":
            keys["worker_rpc_port"], keys["client_rpc_port"] = str(port_base + 1), str(port_base + 2)
    keys.setdefault("owner_address", "EQ_owner_" + name)
    keys.setdefault("image-dir", tmp + "/img")
    if keys.get("type") != "client":
        keys.setdefault("persistent", "%s/disks/%s.img" % (tmp, name))
    if keys.get("type") == "worker":
        keys.setdefault("model", "tiny/model@" + COMMIT)
    path = "%s/%s.conf" % (tmp, name)
    with open(path, "w") as f:
        f.write("[node]\n" + "".join("%s = %s\n" % kv for kv in keys.items()))
    return path


def one(root, tar, tmp, name, case, opts=(), gpu=False, custom_spec=False, port_base=None):
    conf = write_conf(tmp, name, case, port_base)
    o = list(opts)
    if custom_spec:
        o += ["--spec", tmp + "/custom-spec"]
    ref_out, our_out = tmp + "/out/%s-ref" % name, tmp + "/out/%s-ours" % name
    client = case.get("type") == "client"
    r = run_reference(root, tmp, conf, o + (["--prepare-only"] if client else []), ref_out)
    if not check(r.returncode == 0, "%s: reference exited %d: %s" % (name, r.returncode, r.stderr[-800:])):
        return
    mi = ["--model-image", tar] if case.get("type") == "worker" else []
    # The prediction (no side effects) and the argv our launcher would exec.
    p = run_ours(root, tmp, conf, o + mi + ["--print-only", "--json"] + ([] if client else []), our_out) \
        if not client else None
    if client:
        pj = run_ours(root, tmp, conf, o + ["--prepare-only", "--json"], our_out)
        if not check(pj.returncode == 0, "%s: ours --prepare-only: %s" % (name, pj.stderr)):
            return
        prep = json.loads(pj.stdout)
        shutil.copytree(prep["spec_dir"], our_out + "/share", symlinks=True)
        predicted = prep["spec_tree"]
    else:
        if not check(p.returncode == 0, "%s: ours --print-only: %s" % (name, p.stderr)):
            return
        pred = json.loads(p.stdout)
        predicted = pred["spec_tree"]
        if gpu:  # no GPU here to pass the readiness check: the argv from --print-only, the share prepared
            ours_argv = pred["argv"]
            pj = run_ours(root, tmp, conf, o + mi + ["--prepare-only", "--json"], our_out)
            if not check(pj.returncode == 0, "%s: ours --prepare-only: %s" % (name, pj.stderr)):
                return
            prep = json.loads(pj.stdout)
            check(prep["spec_tree"] == predicted, "%s: --prepare-only and --print-only trees differ" % name)
            shutil.copytree(prep["spec_dir"], our_out + "/share", symlinks=True)
        else:  # the whole path into the stand-in QEMU
            f = run_ours(root, tmp, conf, o + mi, our_out, extra=["--", "-S"])
            if not check(f.returncode == 0, "%s: ours exited %d: %s" % (name, f.returncode, f.stderr[-800:])):
                return
            with open(our_out + "/argv.json") as fh:
                ours_argv = json.load(fh)
            check(ours_argv == pred["argv"] + ["-S"], "%s: --print-only argv is not the executed one" % name)
            ours_argv = ours_argv[:-1]
        with open(ref_out + "/argv.json") as fh:
            ref_argv = json.load(fh)
        mine = normalize_share(strip_host_only(ours_argv, name))
        theirs = normalize_share(ref_argv)
        if not check(mine == theirs, "%s: argv differs" % name):
            for i in range(max(len(mine), len(theirs))):
                x = mine[i] if i < len(mine) else None
                y = theirs[i] if i < len(theirs) else None
                if x != y:
                    print("  [%d] ours %r reference %r" % (i, x, y), file=sys.stderr)
    compare_shares(name, ref_out + "/share", our_out + "/share", case)
    h_ref = prepare_spec_hash(ref_out + "/share", tmp, name + "-ref")
    h_ours = prepare_spec_hash(our_out + "/share", tmp, name + "-ours")
    check(h_ref is not None and h_ref == h_ours, "%s: spec tree: reference %s, ours %s" % (name, h_ref, h_ours))
    check(h_ref == predicted, "%s: predicted spec tree %s, git says %s" % (name, predicted, h_ref))
    print("ok %s %s" % (name, predicted))


def errors(root, tmp):
    """A missing TON config outside fake-TON mode stops both, named; fake TON needs none."""
    full = root + "/spec/mainnet-full-ton-config.json"
    os.rename(full, full + ".away")
    try:
        conf = write_conf(tmp, "noton", {"type": "proxy"}, 29100)
        r = run_reference(root, tmp, conf, [], tmp + "/out/noton-ref")
        check(r.returncode == 1 and "ton_config not found: " + full in r.stderr,
              "reference without ton_config: %d %s" % (r.returncode, r.stderr))
        o = run_ours(root, tmp, conf, [], tmp + "/out/noton-ours")
        check(o.returncode == 1 and "ton_config not found: " + full in o.stderr,
              "ours without ton_config: %d %s" % (o.returncode, o.stderr))
        o = run_ours(root, tmp, conf, ["--print-only"], tmp + "/out/noton-ours")
        check(o.returncode == 1 and "ton_config not found: " + full in o.stderr,
              "ours --print-only without ton_config: %d %s" % (o.returncode, o.stderr))
        check(not os.path.exists(tmp + "/out/noton-ours/argv.json"), "ours started QEMU without ton_config")
        conf = write_conf(tmp, "nobase", {"type": "worker", "ton_config_base": tmp + "/nope.json"}, 29000)
        r = run_reference(root, tmp, conf, [], tmp + "/out/nobase-ref")
        o = run_ours(root, tmp, conf, ["--model-image", tmp + "/models/tiny_model.tar"], tmp + "/out/nobase-ours")
        for who, x in (("reference", r), ("ours", o)):
            check(x.returncode == 1 and "ton_config_base not found: " + tmp + "/nope.json" in x.stderr,
                  "%s without ton_config_base: %d %s" % (who, x.returncode, x.stderr))
    finally:
        os.rename(full + ".away", full)
    # A spec.tree that does not hold the tree's hash: the guest stops; ours refuses beforehand.
    bad = tmp + "/bad-spec"
    shutil.copytree(tmp + "/custom-spec", bad)
    with open(bad + "/spec.tree", "w") as f:
        f.write("00" * 32 + "\n")
    conf = write_conf(tmp, "badtree", {"type": "proxy"})
    o = run_ours(root, tmp, conf, ["--print-only", "--spec", bad], tmp + "/out/badtree-ours")
    check(o.returncode == 1 and "spec.tree' does not hold the tree hash" in o.stderr,
          "ours with a wrong spec.tree: %d %s" % (o.returncode, o.stderr))
    r = subprocess.run(["bash", REF + "/reprodebian/cocoon-init/cocoon-prepare-spec", bad, tmp + "/prep-bad"],
                       capture_output=True, text=True, env=dict(os.environ, GIT_DEFAULT_HASH="sha256"), timeout=60,
                       cwd="/")
    check(r.returncode == 4 and "existing spec.tree hash mismatch" in r.stderr,
          "cocoon-prepare-spec with a wrong spec.tree: %d %s" % (r.returncode, r.stderr))


MATRIX = [
    ("worker", {"type": "worker"}, [], {}),
    ("worker-test-i1", {"type": "worker", "test": "true", "instance": "1"}, [], {}),
    ("worker-fake", {"type": "worker", "fake_ton": "yes"}, [], {}),
    ("worker-fake-ext-i3", {"type": "worker", "fake_ton": "on", "instance": "3", "external_ip": "192.0.2.7",
                            "external_worker_port": "13001", "external_client_port": "13002"}, [], {}),
    ("worker-vars", {"type": "worker", "root_contract_address": "EQ_root", "hf_token": "hf_tok",
                     "worker_coefficient": "1500", "node_wallet_key": "KEY=", "external_ip": "1.2.3.4",
                     "ton_config_base": "spec-alt/base.json", "ton_config": "spec-alt/full.json"},
     ["--set", "B=2", "--set", "MODEL_NAME=override", "--set", "B=3", "--set", "EMPTY="], {}),
    ("worker-gpu-fake", {"type": "worker", "fake_ton": "1", "gpu": "0000:41:00.0"}, ["--no-tdx"], {"gpu": True}),
    ("proxy", {"type": "proxy"}, [], {}),
    ("proxy-fake-test-i2", {"type": "proxy", "fake_ton": "true", "test": "true", "instance": "2",
                            "model": "some/model"}, ["--set", "OWNER_ADDRESS=x", "--set", "A=1"], {}),
    ("proxy-gpu", {"type": "proxy", "gpu": "0000:ab:00.00", "ssh_port": "2222"}, ["--test"], {"gpu": True}),
    ("proxy-pseudo", {"type": "proxy"}, ["--pseudo", "--instance", "4"], {}),
    ("client", {"type": "client"}, [], {}),
    ("client-fake-test-i1", {"type": "client", "fake_ton": "true", "test": "true", "instance": "1"},
     ["--set", "X=1"], {}),
    ("custom-spec", {"type": "worker"}, [], {"custom_spec": True}),
    ("custom-spec-fake", {"type": "proxy", "fake_ton": "true"}, [], {"custom_spec": True}),
]


def main():
    if not os.path.isdir(REF):
        print("SKIP: %s missing" % REF)
        return 77
    if not COCOON:
        print("COCOON not set", file=sys.stderr)
        return 1
    if shutil.which("git") is None:
        print("git is required (scripts/packages)", file=sys.stderr)
        return 1
    # Host ports are machine-wide: worktrees running this suite at once take turns.
    ports_lock = open(os.path.join(tempfile.gettempdir(), "cocoon-launch-ports.lock"), "a")
    fcntl.flock(ports_lock, fcntl.LOCK_EX)
    tmp = tempfile.mkdtemp(prefix="cn-launch-oracle.")
    try:
        os.umask(0o022)
        root, tar = prepare_root(tmp)
        os.makedirs(tmp + "/spec-alt")
        for n in ("base.json", "full.json"):
            with open(tmp + "/spec-alt/" + n, "w") as f:
                f.write('{"alt": "%s"}\n' % n)
            os.chmod(tmp + "/spec-alt/" + n, 0o600)
        os.makedirs(tmp + "/disks")
        for i, (name, case, opts, kw) in enumerate(MATRIX):
            one(root, tar, tmp, name, case, opts, port_base=21000 + 100 * i, **kw)
        errors(root, tmp)
    finally:
        if not os.environ.get("CN_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept " + tmp)
    if failures:
        print("%d failures" % len(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
