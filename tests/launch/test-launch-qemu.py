#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""
Smoke test with Debian's real QEMU (spec host-tools §4.5): `cocoon launch` runs its whole path
(pre-flight, instance lock, persistent disk, spec copy, execve) into tests/launch/tcg-qemu, which
starts qemu-system-x86_64 paused (-S, TCG) with only the TDX, vfio, vsock and KVM parts replaced.
Over QMP: the disks, serials, read-only flags, bootindex and PCI device order are as generated.
Then two instances side by side (distinct CIDs and ports), and clashes refused before QEMU
starts. Skips (77) without qemu-system-x86_64 or OVMF.
"""
import fcntl
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

COCOON = os.environ["COCOON"]
SRC = os.environ["CN_SOURCE_DIR"]
WRAPPER = os.path.join(SRC, "tests/launch/tcg-qemu")
OVMF = "/usr/share/ovmf/OVMF.fd"
COMMIT = "0123456789abcdef0123456789abcdef01234567"

procs = []


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class QMP:
    def __init__(self, path, proc=None, log=None, timeout=90.0):
        # Generous: QEMU under TCG on a loaded 2-core CI machine can take a while to come up.
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.s.settimeout(10)
                self.s.connect(path)
                break
            except OSError:
                self.s.close()
                if proc is not None and proc.poll() is not None:
                    out = open(log, errors="replace").read() if log else ""
                    fail("launcher exited %d before QMP socket %s came up:\n%s" % (proc.returncode, path, out))
                if time.monotonic() > deadline:
                    fail("QMP socket %s did not come up" % path)
                time.sleep(0.05)
        self.f = self.s.makefile("rwb")
        self.read()  # greeting
        self.cmd("qmp_capabilities")

    def read(self):
        while True:
            line = self.f.readline()
            if not line:
                fail("QMP connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        resp = self.read()
        if "error" in resp:
            fail("QMP %s: %s" % (name, resp["error"]))
        return resp["return"]

    def close(self):
        self.f.close()
        self.s.close()


def bzimage(path):
    """A 64 KiB file with a bzImage header QEMU's loader accepts (spec §4.4)."""
    b = bytearray(65536)
    b[0x1F1] = 1                                  # setup_sects
    b[0x1FE:0x200] = b"\x55\xaa"                  # boot flag
    b[0x202:0x206] = b"HdrS"
    b[0x206:0x208] = struct.pack("<H", 0x020F)    # protocol 2.15
    b[0x211] = 0x01                               # LOADED_HIGH
    b[0x22C:0x230] = struct.pack("<I", 0x7FFFFFFF)  # initrd_addr_max
    with open(path, "wb") as f:
        f.write(b)


def launch(tmp, conf, *opts, env=None):
    args = [COCOON, "launch", "--qemu", WRAPPER, "--run-dir", tmp + "/run", "--dev-dir", tmp + "/dev",
            "--sysfs-dir", tmp + "/sys", "--models-dir", tmp + "/models"] + list(opts) + [conf]
    log = open(tmp + "/launch-%d.log" % len(procs), "wb")
    p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                         cwd=tmp, start_new_session=True)
    procs.append(p)
    return p, log.name


def launch_fails(tmp, conf, want_rc, want_msg, *opts):
    r = subprocess.run([COCOON, "launch", "--qemu", WRAPPER, "--run-dir", tmp + "/run", "--dev-dir",
                        tmp + "/dev", "--sysfs-dir", tmp + "/sys", "--models-dir", tmp + "/models", "--skip-build"] + list(opts) + [conf],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, cwd=tmp, timeout=60)
    check(r.returncode == want_rc, "expected exit %d, got %d: %s" % (want_rc, r.returncode, r.stderr))
    check(want_msg in r.stderr, "expected %r in: %s" % (want_msg, r.stderr))
    return r


def pci_slots(q):
    buses = q.cmd("query-pci")
    bus0 = [b for b in buses if b["bus"] == 0][0]
    return {d["slot"]: d for d in bus0["devices"] if d["function"] == 0}


def check_instance(tmp, name, qmp, pid, tar):
    inst = tmp + "/run/" + name
    check(qmp.cmd("query-status")["status"] == "prelaunch", "not paused in prelaunch")
    check(qmp.cmd("query-name").get("name") == name, "-name is not " + name)
    with open(inst + "/qemu.pid") as f:
        check(int(f.read().strip()) == pid, "pidfile does not hold QEMU's pid (the launcher's, after execve)")

    # Disks: ids, files, read-only flags, format.
    blocks = {b["device"]: b for b in qmp.cmd("query-block") if b["device"].startswith("drive")}
    want = {
        "drive1": (tmp + "/img/image.img", True),
        "drive2": (tmp + "/disks/persistent-worker-%s.img" % name.rsplit("-", 1)[1], False),
        "drivecache": (tar, True),
        "drivecacheverity": (tar + ".verity", True),
    }
    check(sorted(blocks) == sorted(want), "drives: %s" % sorted(blocks))
    for dev, (path, ro) in want.items():
        ins = blocks[dev]["inserted"]
        check(ins["file"] == path, "%s file %s != %s" % (dev, ins["file"], path))
        check(ins["ro"] == ro, "%s ro %s != %s" % (dev, ins["ro"], ro))
        check(ins["drv"] == "raw", "%s format %s" % (dev, ins["drv"]))

    # Serials, drives and bootindex of each virtio-blk, and the PCI slot each one got.
    slots_by_drive = {}
    serials = {}
    for child in qmp.cmd("qom-list", path="/machine/peripheral-anon"):
        if child["type"] != "child<virtio-blk-pci>":
            continue
        p = "/machine/peripheral-anon/" + child["name"]
        drive = qmp.cmd("qom-get", path=p, property="drive")
        serials[drive] = (qmp.cmd("qom-get", path=p, property="serial"),
                          qmp.cmd("qom-get", path=p, property="bootindex"))
        slots_by_drive[drive] = qmp.cmd("qom-get", path=p, property="addr") >> 3
    check(serials == {"drive1": ("root", 1), "drive2": ("persistent", 2), "drivecache": ("model-tar", -1),
                      "drivecacheverity": ("model-tar-verity", -1)}, "serials/bootindex: %s" % serials)

    # PCI slot map (measured via ACPI and boot order): the legacy NIC is created at machine init
    # (slot 1), then the -device list in argv order. (vhost-vsock-pci, first in the real line, is
    # dropped here: on a TDX host it takes slot 2 and shifts the rest by one.)
    slots = pci_slots(qmp)
    ids = {s: (d["id"]["vendor"], d["id"]["device"]) for s, d in slots.items()}
    check(ids.get(1) == (0x1AF4, 0x1000), "slot 1 is not virtio-net: %s" % (ids,))
    check(ids.get(2) == (0x1B36, 0x000C) and slots[2].get("qdev_id") == "pci.0", "slot 2 is not root port pci.0")
    check(slots_by_drive == {"drive1": 3, "drive2": 4, "drivecache": 5, "drivecacheverity": 6},
          "disk slots: %s" % slots_by_drive)
    check(ids.get(7) == (0x1AF4, 0x1003), "slot 7 is not virtio-serial: %s" % (ids,))
    check(ids.get(8) == (0x1AF4, 0x1009), "slot 8 is not virtio-9p: %s" % (ids,))
    check(sorted(s for s in ids if s not in (0, 0x1F)) == [1, 2, 3, 4, 5, 6, 7, 8], "extra PCI devices: %s" % ids)

    # The spec share: a fresh copy with the model's runtime variables upserted.
    with open(inst + "/spec/runtime/runtime.vars") as f:
        rv = f.read()
    with open(tar + ".hash") as f:
        root = f.read().strip()
    for line in ("KEEP=1", "MODEL_NAME=tiny/model", "MODEL_COMMIT=" + COMMIT, "MODEL_VERITY_HASH=" + root,
                 "OWNER_ADDRESS=EQ_owner"):
        check(line + "\n" in rv, "runtime.vars lacks %r: %r" % (line, rv))
    check("MODEL_COMMIT=stale" not in rv, "old MODEL_COMMIT kept")
    with open(tmp + "/spec/runtime/runtime.vars") as f:
        check(f.read() == "KEEP=1\nMODEL_COMMIT=stale\n", "the source spec folder was modified")


def main():
    if not shutil.which("qemu-system-x86_64"):
        print("SKIP: qemu-system-x86_64 not installed")
        return 77
    if not os.path.exists(OVMF):
        print("SKIP: %s not installed" % OVMF)
        return 77
    # Host ports are machine-wide: worktrees running this suite at once take turns.
    ports_lock = open(os.path.join(tempfile.gettempdir(), "cocoon-launch-ports.lock"), "a")
    fcntl.flock(ports_lock, fcntl.LOCK_EX)
    tmp = tempfile.mkdtemp(prefix="cn-launch-qemu.")
    try:
        return run(tmp)
    finally:
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
                p.wait()
        if not os.environ.get("CN_TEST_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


def run(tmp):
    for d in ("img", "spec/runtime", "spec/spec-worker", "models", "run", "dev", "disks"):
        os.makedirs(os.path.join(tmp, d))
    os.symlink(OVMF, tmp + "/img/OVMF.fd")
    bzimage(tmp + "/img/image.vmlinuz")
    with open(tmp + "/img/image.initrd", "wb") as f:
        f.write(b"\0" * 4096)
    with open(tmp + "/img/image.img", "wb") as f:
        f.truncate(1 << 20)
    with open(tmp + "/img/image.cmdline", "w") as f:
        f.write("console=hvc0 roothash=00 swiotlb=1048576\n")
    with open(tmp + "/spec/runtime/runtime.vars", "w") as f:
        f.write("KEEP=1\nMODEL_COMMIT=stale\n")
    with open(tmp + "/spec/spec-worker/init", "w") as f:
        f.write("#!/bin/sh\n")
    # The model image, built by `cocoon model build` into the image cache.
    os.makedirs(tmp + "/modelsrc/sub")
    with open(tmp + "/modelsrc/config.json", "w") as f:
        f.write('{"model": "tiny"}\n')
    with open(tmp + "/modelsrc/sub/weights.bin", "wb") as f:
        f.write(os.urandom(10000))
    r = subprocess.run([COCOON, "model", "build", "--quiet", "--from-dir", tmp + "/modelsrc", "--images-dir",
                        tmp + "/models", "tiny/model@" + COMMIT], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, "model build: " + r.stderr)
    tar = r.stdout.split()[1]
    check(tar == tmp + "/models/tiny_model@%s.tar" % COMMIT, "model tar " + tar)
    open(tmp + "/dev/vhost-vsock", "w").close()  # stand-in: no kernel to ask (no char device)
    open(tmp + "/dev/kvm", "w").close()
    os.makedirs(tmp + "/sys/module/kvm_intel/parameters")
    with open(tmp + "/sys/module/kvm_intel/parameters/tdx", "w") as f:
        f.write("Y\n")
    conf = tmp + "/worker.conf"
    for name in ("ton-base.json", "ton-full.json"):
        with open(tmp + "/" + name, "w") as f:
            f.write('{"%s": 1}\n' % name)
    ton = "ton_config_base = %s/ton-base.json\nton_config = %s/ton-full.json\n" % (tmp, tmp)
    with open(tmp + "/other.conf", "w") as f:
        f.write("[node]\ntype = worker\nowner_address = EQ_owner\nmodel = tiny/other@" + COMMIT + "\n"
                "image-dir = img\nspec = spec\n" + ton)
    with open(conf, "w") as f:
        f.write("[node]\ntype = worker\nowner_address = EQ_owner\nmodel = tiny/model@" + COMMIT + "\n"
                "image-dir = img\nspec = spec\n" + ton)
    # Persistent disks: per instance under disks/ (the default would be $COCOON_ROOT).
    env = dict(os.environ, COCOON_ROOT=tmp + "/disks")
    os.environ["COCOON_ROOT"] = env["COCOON_ROOT"]
    os.environ["CN_TCG_QEMU_LOG"] = tmp + "/qemu-argv.log"
    env["CN_TCG_QEMU_LOG"] = os.environ["CN_TCG_QEMU_LOG"]

    # Without the image in the cache, --skip-build refuses (and starts nothing).
    launch_fails(tmp, conf.replace("worker.conf", "other.conf"), 1, "is not in the cache", "--instance", "7")

    # Instance 0 and 1 side by side: the model from the image cache (model.h, --skip-build), and
    # the same image given by path.
    p0, log0 = launch(tmp, conf, "--instance", "0", "--skip-build", env=env)
    q0 = QMP(tmp + "/run/cocoon-worker-0/qmp.sock", p0, log0)
    p1, log1 = launch(tmp, conf, "--instance", "1", "--model-image", tar, env=env)
    q1 = QMP(tmp + "/run/cocoon-worker-1/qmp.sock", p1, log1)
    check_instance(tmp, "cocoon-worker-0", q0, p0.pid, tar)
    check_instance(tmp, "cocoon-worker-1", q1, p1.pid, tar)

    # The 100 GiB persistent disks were created sparse.
    for i in (0, 1):
        st = os.stat(tmp + "/disks/persistent-worker-%d.img" % i)
        check(st.st_size == 100 << 30 and st.st_blocks * 512 < (1 << 20), "persistent disk not 100 GiB sparse")

    # Distinct CIDs and host ports, and the forwards really listen.
    with open(tmp + "/run/cocoon-worker-0/claims.json") as f:
        c0 = json.load(f)
    with open(tmp + "/run/cocoon-worker-1/claims.json") as f:
        c1 = json.load(f)
    check((c0["cid"], c0["ports"]) == (6, [12005, 12000]), "instance 0 claims %s" % c0)
    check((c1["cid"], c1["ports"]) == (16, [12015, 12010]), "instance 1 claims %s" % c1)
    with open(os.environ["CN_TCG_QEMU_LOG"]) as f:
        started = f.read().splitlines()
    check(len(started) == 2, "QEMU started %d times" % len(started))
    check("hostfwd=tcp::12005-:22,hostfwd=tcp::12000-:12000" in started[0], "instance 0 forwards")
    check("hostfwd=tcp::12015-:22,hostfwd=tcp::12010-:12000" in started[1], "instance 1 forwards")
    for port in (12005, 12000, 12015, 12010):
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass

    # Clashes are refused before QEMU starts (exit 5), naming what is shared.
    launch_fails(tmp, conf, 5, "instance cocoon-worker-0 is already running", "--instance", "0")
    launch_fails(tmp, conf, 5, "host port 12005 is already used by running instance cocoon-worker-0",
                 "--instance", "2", "--ssh-port", "11985")
    launch_fails(tmp, conf, 5, "vsock CID 16 is already used by running instance cocoon-worker-1",
                 "--type", "proxy", "--instance", "1", "--vsock-cid", "6")
    launch_fails(tmp, conf, 5, "persistent disk '%s/disks/persistent-worker-0.img' is already used" % tmp,
                 "--instance", "3", "--persistent", tmp + "/disks/persistent-worker-0.img")
    # A port held by something else (not a cocoon instance): found by binding.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("0.0.0.0", 12045))
    blocker.listen(1)
    launch_fails(tmp, conf, 5, "host port 12045 (ssh_port + 10 x instance 4) is not free", "--instance", "4")
    blocker.close()
    # QEMU without TDX: refused up front unless --no-tdx.
    os.environ["CN_TCG_QEMU_NO_TDX"] = "1"
    launch_fails(tmp, conf, 4, "has no tdx-guest object", "--instance", "5")
    del os.environ["CN_TCG_QEMU_NO_TDX"]
    # KVM with TDX switched off: refused, naming the kernel parameter; no /dev/kvm: refused.
    with open(tmp + "/sys/module/kvm_intel/parameters/tdx", "w") as f:
        f.write("N\n")
    launch_fails(tmp, conf, 4, "boot the host with kvm_intel.tdx=1", "--instance", "5")
    with open(tmp + "/sys/module/kvm_intel/parameters/tdx", "w") as f:
        f.write("Y\n")
    os.rename(tmp + "/dev/kvm", tmp + "/dev/kvm.off")
    launch_fails(tmp, conf, 4, "/dev/kvm' is missing", "--instance", "5")
    os.rename(tmp + "/dev/kvm.off", tmp + "/dev/kvm")
    with open(os.environ["CN_TCG_QEMU_LOG"]) as f:
        check(len(f.read().splitlines()) == 2, "a refused launch started QEMU")
    for i in (2, 3, 4, 5):
        check(not os.path.exists(tmp + "/run/cocoon-worker-%d/qmp.sock" % i), "refused instance %d has a QMP socket" % i)

    # Stop both; the instance lock goes with QEMU, so instance 0 can start again.
    for q, p in ((q0, p0), (q1, p1)):
        q.cmd("quit")
        q.close()
        p.wait(timeout=30)
    p0b, log0b = launch(tmp, conf, "--instance", "0", "--skip-build", env=env)
    q0b = QMP(tmp + "/run/cocoon-worker-0/qmp.sock", p0b, log0b)
    check(q0b.cmd("query-status")["status"] == "prelaunch", "restarted instance not paused")
    q0b.cmd("quit")
    q0b.close()
    p0b.wait(timeout=30)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
