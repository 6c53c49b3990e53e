#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Stand-in for NVIDIA gpu-admin-tools v2025.10.20 (tests only; written for this project).

Prints what the real tool prints for the options cocoon uses (spec host-tools 2.3): two lines and a
Topo: tree on stdout, status lines "DATE,TIME LEVEL    GPU <bdf> <name> <id> BAR0 <addr> CC mode is
<mode>" on stderr, exit 0 on success and 1 on errors. Keeps the modes in $FAKE_GAT_DIR/<bdf>.cc and
.ppcie (default off), appends every call to $FAKE_GAT_DIR/calls.log, and reads a fault from
$FAKE_GAT_DIR/fault:
  exit1         every call fails (exit 1, traceback)
  sticky        a set exits 0 but the mode does not change (re-query must catch it)
  sticky-loud   a set fails after the reset like the real tool (GpuError, exit 1)
  noppcie       PPCIe query/set: "does not support PPCIe on current FW", exit 1
  garbage       a query exits 0 without a status line
With $FAKE_GAT_SYSFS set, a mode switch while the device is bound to nvidia is recorded as a
VIOLATION in calls.log and fails (the real tool would reset the GPU under the live driver).
"""
import os
import sys
import time

VERSION = "v2025.10.20"


def log(level, msg):
    t = time.strftime("%Y-%m-%d,%H:%M:%S") + ".000"
    sys.stderr.write("%s %-8s %s\n" % (t, level, msg))


def state(path, default="off"):
    try:
        with open(path) as f:
            return f.read().strip() or default
    except FileNotFoundError:
        return default


def main():
    d = os.environ.get("FAKE_GAT_DIR", "/nonexistent")
    sysfs = os.environ.get("FAKE_GAT_SYSFS")
    fault = state(os.path.join(d, "fault"), "")
    args = sys.argv[1:]
    with open(os.path.join(d, "calls.log"), "a") as f:
        f.write(" ".join(args) + "\n")
    print("NVIDIA GPU Tools version " + VERSION)
    print("Command line arguments: %s" % (sys.argv,))
    if fault == "exit1":
        sys.stderr.write("Traceback (most recent call last):\n  File \"nvidia_gpu_tools.py\"\nOSError: [Errno 1] Operation not permitted\n")
        return 1
    bdf = None
    for a in args:
        if a.startswith("--gpu-bdf="):
            bdf = a.split("=", 1)[1]
    devid = "0x2331"
    kind = "GPU"
    if sysfs and bdf:
        try:
            with open(os.path.join(sysfs, "bus/pci/devices", bdf, "device")) as f:
                devid = f.read().strip()
            with open(os.path.join(sysfs, "bus/pci/devices", bdf, "class")) as f:
                if f.read().strip().startswith("0x0680"):
                    kind = "NvSwitch"
        except OSError:
            log("ERROR", "Matching for %s found nothing" % bdf)
            return 1
    if not bdf or len(bdf) != 12:
        log("ERROR", "Matching for %s found nothing" % bdf)
        return 1
    print("Topo:\n  PCI 0000:00:01.0 0x8086:0x1234\n   %s %s %s" % (kind, bdf, devid))
    dev = "%s %s H100 %s BAR0 0x7e042000000" % (kind, bdf, devid)
    cc_file = os.path.join(d, bdf + ".cc")
    pp_file = os.path.join(d, bdf + ".ppcie")

    def driver():
        if not sysfs:
            return ""
        try:
            return os.path.basename(os.readlink(os.path.join(sysfs, "bus/pci/devices", bdf, "driver")))
        except OSError:
            return ""

    for a in args:
        if a == "--query-cc-mode":
            if fault == "garbage":
                log("INFO", "%s is fine" % dev)
                return 0
            mode = state(cc_file)
            log("INFO", "%s CC mode is %s" % (dev, mode))
            if mode != "off":
                log("WARNING", "%s has CC mode %s, some functionality may not work" % (dev, mode))
            return 0
        if a == "--query-ppcie-mode":
            if fault == "noppcie":
                log("ERROR", "%s does not support PPCIe on current FW" % dev)
                return 1
            log("INFO", "%s PPCIe mode is %s" % (dev, state(pp_file)))
            return 0
        for knob, path in (("cc", cc_file), ("ppcie", pp_file)):
            if a.startswith("--set-%s-mode=" % knob):
                want = a.split("=", 1)[1]
                if knob == "ppcie" and fault == "noppcie":
                    log("ERROR", "%s does not support PPCIe on current FW" % dev)
                    return 1
                if driver() == "nvidia":
                    with open(os.path.join(d, "calls.log"), "a") as f:
                        f.write("VIOLATION: mode switch under the nvidia driver\n")
                    log("ERROR", "%s is bound to nvidia" % dev)
                    return 3
                name = "CC" if knob == "cc" else "PPCIe"
                log("INFO", "%s %s mode set to %s. It will be active after GPU reset." % (dev, name, want))
                if ("--reset-after-%s-mode-switch" % knob) in args:
                    log("INFO", "%s was reset to apply the new %s mode." % (dev, name))
                    if fault == "sticky-loud":
                        sys.stderr.write("Traceback (most recent call last):\nGpuError: %s failed to switch to %s mode %s, current mode is %s\n" % (dev, name, want, state(path)))
                        return 1
                    if fault != "sticky":
                        with open(path, "w") as f:
                            f.write(want + "\n")
                        if knob == "cc" and want == "on":
                            with open(pp_file, "w") as f:
                                f.write("off\n")
                return 0
    log("ERROR", "nothing to do")
    return 1


if __name__ == "__main__":
    sys.exit(main())
