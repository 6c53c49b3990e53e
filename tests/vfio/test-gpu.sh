#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon gpu list|verify|setup|restore (and the setup-gpu-vfio alias) against fake sysfs trees with
# the real layout, a fake kernel (fake-kernel.c) that moves driver links in reaction to writes to
# the bind/unbind/drivers_probe FIFOs, a gpu-admin-tools stand-in and a udevadm stand-in.
set -euo pipefail
: "${COCOON:?}" "${CN_SOURCE_DIR:?}" "${CN_FAKE_KERNEL:?}"
export LC_ALL=C

fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d /tmp/cn-vfio-test.XXXXXX)
KPID=""
HOLDERS=()
cleanup() {
	[ -n "$KPID" ] && kill "$KPID" 2>/dev/null && wait "$KPID" 2>/dev/null || true
	for p in "${HOLDERS[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT

ALIAS="$(dirname "$COCOON")/setup-gpu-vfio"
TOOLS="$CN_SOURCE_DIR/tests/vfio/fake-gpu-admin-tools"
UDEVADM="$CN_SOURCE_DIR/tests/vfio/fake-udevadm"
S=$T/sys D=$T/dev GAT=$T/gat RULES=$T/rules
export FAKE_GAT_DIR=$GAT FAKE_GAT_SYSFS=$S FAKE_UDEV_LOG=$T/udev.log FAKE_UDEV_RULES_DIR=$RULES
export FAKE_DEV=$D VFIO_DEVICE_GROUP=users
unset GPU_ADMIN_TOOLS_DIR
F=(--sysfs "$S" --dev "$D" --gpu-admin-tools "$TOOLS" --udev-rules-dir "$RULES" --udevadm "$UDEVADM")

# mkfunc BDF VENDOR DEVICE CLASS GROUP|none DRIVER|none [NUMA]
mkfunc() {
	local bdf=$1 ven=$2 dev=$3 cls=$4 grp=$5 drv=$6 numa=${7:-0}
	local rel="devices/pci${bdf%%:*}:00/$bdf"
	mkdir -p "$S/$rel" "$S/bus/pci/devices"
	echo "$ven" >"$S/$rel/vendor"; echo "$dev" >"$S/$rel/device"; echo "$cls" >"$S/$rel/class"
	echo "$numa" >"$S/$rel/numa_node"; echo "(null)" >"$S/$rel/driver_override"
	ln -s "../../../$rel" "$S/bus/pci/devices/$bdf"
	if [ "$grp" != none ]; then
		mkdir -p "$S/kernel/iommu_groups/$grp/devices"
		ln -s "../../../kernel/iommu_groups/$grp" "$S/$rel/iommu_group"
		ln -s "../../../../$rel" "$S/kernel/iommu_groups/$grp/devices/$bdf"
	fi
	if [ "$drv" != none ]; then
		mkdir -p "$S/bus/pci/drivers/$drv"
		ln -s "../../../bus/pci/drivers/$drv" "$S/$rel/driver"
		ln -s "../../../../$rel" "$S/bus/pci/drivers/$drv/$bdf"
	fi
}

# A host: an H100 PCIe on nvidia with a bridge in its group, a consumer card with its HDMI audio
# function, an NVSwitch, an H200 NVL on domain 0001 already on vfio-pci, and an H100 SXM that
# shares its group with a NIC. drivers: nvidia (unless NO_NVIDIA), vfio-pci, snd_hda_intel, ...
build_tree() {
	stop_kernel
	rm -rf "$S" "$D" "$GAT" "$RULES" "$T/udev.log"
	mkdir -p "$S/bus/pci/drivers/vfio-pci" "$S/bus/pci/drivers/snd_hda_intel" \
		"$S/bus/pci/drivers/e1000e" "$D" "$GAT" "$RULES"
	local nv=nvidia
	[ -n "${NO_NVIDIA:-}" ] && nv=none
	[ -z "${NO_NVIDIA:-}" ] && mkdir -p "$S/bus/pci/drivers/nvidia"
	mkfunc 0000:00:01.0 0x8086 0x1234 0x060400 12 pcieport
	mkfunc 0000:01:00.0 0x10de 0x2331 0x030200 12 $nv 0
	mkfunc 0000:02:00.0 0x10de 0x2684 0x030000 13 $nv 0
	mkfunc 0000:02:00.1 0x10de 0x22ba 0x040300 13 snd_hda_intel 0
	mkfunc 0000:03:00.0 0x8086 0x10d3 0x020000 14 e1000e 0
	mkfunc 0000:04:00.0 0x10de 0x2330 0x030200 14 $nv 0
	mkfunc 0000:05:00.0 0x10de 0x22a3 0x068000 20 none 0
	mkfunc 0001:81:00.0 0x10de 0x233b 0x030200 40 none 1
	: >"$D/iommu"; chmod 0600 "$D/iommu"; : >"$D/nvidia0"; : >"$D/nvidiactl"
	: >"$GAT/calls.log"
}

start_kernel() {
	stop_kernel
	"$CN_FAKE_KERNEL" --sysfs "$S" --dev "$D" --lifetime 600 "$@" &
	KPID=$!
	for _ in $(seq 200); do [ -e "$S/.fake-kernel-ready" ] && return 0; sleep 0.05; done
	fail "fake kernel did not start"
}
stop_kernel() {
	if [ -n "$KPID" ]; then kill "$KPID" 2>/dev/null || true; wait "$KPID" 2>/dev/null || true; fi
	KPID=""
}

# Everything the tool could change: file contents, links, modes, groups (FIFOs by metadata only).
tree_hash() {
	(cd "$T" && find sys dev rules gat -printf '%p %y %l %m %g\n' | sort
	 cd "$T" && find sys dev rules gat -type f ! -name calls.log ! -name .fake-kernel-ready -print0 |
		sort -z | xargs -0 md5sum) | md5sum
}

# hold FILE: a background 'sleep' with FILE open on fd 3; waits until /proc shows it. HPID = its pid.
hold() {
	sleep 60 3<"$1" &
	HPID=$!
	HOLDERS+=("$HPID")
	for _ in $(seq 100); do
		[ "$(readlink "/proc/$HPID/fd/3" 2>/dev/null)" = "$1" ] &&
			[ "$(cat "/proc/$HPID/comm" 2>/dev/null)" = sleep ] && return 0
		sleep 0.05
	done
	fail "holder of $1 did not start"
}
release() { kill "$HPID" 2>/dev/null || true; wait "$HPID" 2>/dev/null || true; }

run() { set +e; OUT=$("$@" 2>&1); RC=$?; set -e; }
expect() { # RC PATTERN CMD...
	local want=$1 pat=$2; shift 2
	run "$@"
	[ "$RC" = "$want" ] || fail "'$*' exited $RC, expected $want; output: $OUT"
	[ -z "$pat" ] || grep -qE -- "$pat" <<<"$OUT" || fail "'$*': no /$pat/ in: $OUT"
}
driver_of() { basename "$(readlink "$S/bus/pci/devices/$1/driver" 2>/dev/null)" 2>/dev/null || true; }

# ---- list ---------------------------------------------------------------------------------
build_tree
echo on >"$GAT/0001:81:00.0.cc"
expect 0 'NVIDIA GPUs found' "$COCOON" gpu list "${F[@]}"
grep -q '0000:01:00.0  H100 PCIe \[10de:2331\]' <<<"$OUT" || fail "list: H100 line: $OUT"
grep -q '0000:05:00.0  NVSwitch (LS10) \[10de:22a3\]' <<<"$OUT" || fail "list: NVSwitch: $OUT"
grep -q '0001:81:00.0  H200 NVL' <<<"$OUT" || fail "list: non-zero domain: $OUT"
grep -q '^  0000:02:00.1' <<<"$OUT" && fail "list: audio function listed as a GPU"
grep -q 'IOMMU group 13: 0000:02:00.1 (audio, snd_hda_intel)' <<<"$OUT" || fail "list: audio member: $OUT"
grep -q 'IOMMU group 12: 0000:00:01.0 (bridge, pcieport)' <<<"$OUT" || fail "list: bridge member"
grep -q 'NUMA node: 1, CC mode: on, PPCIe mode: off' <<<"$OUT" || fail "list: H200 modes: $OUT"
expect 0 '' "$COCOON" gpu list --json "${F[@]}"
python3 - "$OUT" <<'EOF' || fail "list --json"
import json, sys
l = json.loads(sys.argv[1])
by = {d["bdf"]: d for d in l}
assert sorted(by) == ["0000:01:00.0", "0000:02:00.0", "0000:04:00.0", "0000:05:00.0", "0001:81:00.0"], sorted(by)
assert by["0000:05:00.0"]["kind"] == "nvswitch"
h = by["0001:81:00.0"]
assert h["name"] == "H200 NVL" and h["numa_node"] == 1 and h["iommu_group"] == 40 and h["cc_mode"] == "on"
assert h["driver"] is None and h["group_members"] == []
g = by["0000:02:00.0"]
assert g["driver"] == "nvidia" and g["group_members"][0]["bdf"] == "0000:02:00.1"
assert g["group_members"][0]["kind"] == "audio" and g["ppcie_mode"] == "n/a"
assert by["0000:01:00.0"]["ppcie_mode"] == "off" and by["0000:01:00.0"]["cc_mode"] == "off"
EOF
grep -q -- '--gpu-bdf=0001:81:00.0 --query-cc-mode' "$GAT/calls.log" || fail "full BDF not passed"
expect 0 'NVIDIA GPUs found' "$ALIAS" "${F[@]}"
# No tool: unknown, not a failure.
expect 0 'CC mode: unknown \(gpu-admin-tools not found\)' "$COCOON" gpu list --sysfs "$S" --dev "$D"

# A pinned gpu-admin-tools runs only with the pinned digest.
pin=$(sha256sum "$TOOLS/nvidia_gpu_tools.py" | cut -d' ' -f1)
expect 0 'CC mode: off' "$COCOON" gpu list "${F[@]}" --gpu-admin-tools-sha256 "$pin"
bad=$(printf '%064d' 0)
GPU_ADMIN_TOOLS_SHA256=$bad expect 3 "has SHA-256 $pin, not the pinned $bad" "$COCOON" gpu verify 01:00.0 "${F[@]}"
grep -q 'CC mode of 0000:01:00.0 is unknown (gpu-admin-tools does not match its pin)' <<<"$OUT" || fail "pin: $OUT"
expect 3 'CC mode of 0000:01:00.0 is unknown \(gpu-admin-tools does not match its pin\)' \
	"$COCOON" gpu verify 01:00.0 "${F[@]}" --gpu-admin-tools-sha256 "$bad"
expect 2 'is not 64 hex digits' "$COCOON" gpu verify 01:00.0 "${F[@]}" --gpu-admin-tools-sha256 abc

# ---- addresses ----------------------------------------------------------------------------
for a in 01:00.0 0000:01:00.0 0000:01:00.00 0000:01:00.0; do
	expect 3 'not ready: 0000:01:00.0 is bound to nvidia' "$COCOON" gpu verify "$a" "${F[@]}"
done
expect 2 'not a PCI address' "$COCOON" gpu verify 1:00.0 "${F[@]}"
expect 2 'not a PCI address' "$COCOON" gpu verify '0000:01:00.0 ' "${F[@]}"
expect 1 'GPU not found: no PCI device 0002:01:00.0' "$COCOON" gpu verify 0002:01:00.0 "${F[@]}"
expect 1 'is not a GPU' "$COCOON" gpu verify 0000:02:00.1 "${F[@]}"
expect 1 'is not a GPU' "$COCOON" gpu verify 0000:05:00.0 "${F[@]}"
expect 1 'not an NVIDIA device' "$COCOON" gpu verify 0000:03:00.0 "${F[@]}"

# ---- verify: one line per unmet condition, exit 1 --------------------------------------------
expect 3 '' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
[ "$(grep -c '^not ready:' <<<"$OUT")" = 2 ] || fail "verify: expected 2 problems: $OUT"
grep -q 'CC mode of 0000:01:00.0 is off (expected on); fix: cocoon gpu setup 0000:01:00.0' <<<"$OUT" ||
	fail "verify: CC line: $OUT"
expect 3 'no IOMMU group|not bound to any driver' "$COCOON" gpu verify 0001:81:00.0 "${F[@]}"
expect 3 '"ready": false' "$COCOON" gpu verify --json 0000:01:00.0 "${F[@]}"
# The alias verifies with one address and exits 1 when not ready (the reference exits 0).
expect 3 'not ready' "$ALIAS" 0000:01:00.0 "${F[@]}"

# ---- usage --------------------------------------------------------------------------------
expect 2 'PCI address required after --setup' "$ALIAS" --setup "${F[@]}"
expect 2 'PCI address required after --restore' "$ALIAS" --restore "${F[@]}"
expect 2 'gpu setup takes exactly 1 argument \(BDF\), not 0' "$COCOON" gpu setup "${F[@]}"
expect 2 'unknown option' "$COCOON" gpu setup --setup 01:00.0 "${F[@]}"
for v in list verify setup restore; do expect 0 "Usage: cocoon gpu $v" "$COCOON" gpu $v --help; done
# A malformed address is a usage error (2) for every verb and the alias, before any sysfs access
# (issue 10 item 13); the tree is untouched.
before=$(tree_hash)
for bdf in '0000:41:00.0/../..' '../../0000:01:00.0' '0000:01:00.0/' 'g0:00.0' '01:00.8' ''; do
	for v in verify setup restore; do
		expect 2 'is not a PCI address' "$COCOON" gpu $v "$bdf" "${F[@]}"
	done
	expect 2 'is not a PCI address' "$ALIAS" "$bdf" "${F[@]}"
	expect 2 'is not a PCI address' "$ALIAS" --setup "$bdf" "${F[@]}"
	expect 2 'is not a PCI address' "$ALIAS" --restore "$bdf" "${F[@]}"
done
[ "$(tree_hash)" = "$before" ] || fail "a malformed address changed the tree"
expect 2 'gpu list takes exactly 0 arguments' "$COCOON" gpu list 01:00.0 "${F[@]}"
expect 2 'gpu verify takes exactly 1 argument \(BDF\), not 2' "$COCOON" gpu verify 01:00.0 02:00.0 "${F[@]}"
# --json echoes the canonical address, whatever form was given (issue 14 item 4).
expect 3 '"bdf": "0000:01:00.0"' "$COCOON" gpu verify --json 01:00.0 "${F[@]}"
expect 3 '"bdf": "0000:01:00.0"' "$COCOON" gpu verify --json 0000:01:00.00 "${F[@]}"
expect 1 '"bdf": "0000:09:00.0"' "$COCOON" gpu verify --json 09:00.0 "${F[@]}"
# No GPU at all: one line saying what was looked for, exit 3 (list) (issue 14 item 4).
mkdir -p "$T/nogpu/bus/pci/devices"
for cmd in "$COCOON gpu list" "$ALIAS"; do
	expect 3 "no NVIDIA GPU or NVSwitch found: looked at every PCI function in $T/nogpu/bus/pci/devices for vendor 10de" \
		$cmd --sysfs "$T/nogpu" --dev "$D" --gpu-admin-tools "$TOOLS"
done
expect 0 'setup-gpu-vfio \[OPTIONS\] --setup BDF' "$ALIAS" --help

# Root is required against the real /sys (checked before anything is read).
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	NOBODY=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	expect 1 'root required to set up a GPU' "${NOBODY[@]}" "$COCOON" gpu setup 01:00.0
	expect 1 'root required to restore a GPU' "${NOBODY[@]}" "$COCOON" gpu restore 01:00.0
	expect 1 'root required' "${NOBODY[@]}" "$COCOON" gpu setup 01:00.0 --sysfs /sys/.
fi

# The fake tree mounted over /sys in a private mount namespace: the real-/sys code paths, as
# nobody (modes "unknown (needs root)", verify not ready, setup refused) and as root.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null &&
	unshare -m --propagation private true 2>/dev/null; then
	chmod 755 "$T"
	ns() { unshare -m --propagation private sh -c 'mount --bind "$0" /sys && exec "$@"' "$S" "$@"; }
	expect 0 '' ns "${NOBODY[@]}" "$COCOON" gpu list --json --dev "$D" --gpu-admin-tools "$TOOLS"
	python3 - "$OUT" <<'PY' || fail "list as nobody: $OUT"
import json, sys
l = json.loads(sys.argv[1])
assert len(l) == 5 and all(d["cc_mode"] == "unknown (needs root)" for d in l), l
assert [d["ppcie_mode"] for d in l] == ["unknown (needs root)", "n/a", "unknown (needs root)",
                                        "unknown (needs root)", "unknown (needs root)"], l
PY
	expect 3 'CC mode of 0001:81:00.0 is unknown \(needs root\); fix: sudo cocoon gpu verify 0001:81:00.0' \
		ns "${NOBODY[@]}" "$COCOON" gpu verify 0001:81:00.0 --dev "$D" --gpu-admin-tools "$TOOLS"
	expect 1 'root required to set up a GPU' ns "${NOBODY[@]}" "$COCOON" gpu setup 0001:81:00.0
	expect 0 'NUMA node: 1, CC mode: on, PPCIe mode: off' ns "$COCOON" gpu list --dev "$D" --gpu-admin-tools "$TOOLS"
	chmod 700 "$T"
fi

# ---- setup: dry run changes nothing ---------------------------------------------------------
start_kernel
before=$(tree_hash); : >"$GAT/calls.log"
expect 0 '' "$COCOON" gpu setup --dry-run 0000:01:00.0 "${F[@]}"
for p in "would write .*99-vfio-passthrough.rules" \
	"would write 'vfio-pci' to $S/bus/pci/devices/0000:01:00.0/driver_override" \
	"would write '0000:01:00.0' to $S/bus/pci/drivers/nvidia/unbind" \
	"would write '0000:01:00.0' to $S/bus/pci/drivers_probe" \
	"would run: .*--gpu-bdf=0000:01:00.0 --set-ppcie-mode=off --reset-after-ppcie-mode-switch" \
	"would run: .*--gpu-bdf=0000:01:00.0 --set-cc-mode=on --reset-after-cc-mode-switch" \
	"would run: $UDEVADM trigger --action=change --subsystem-match=vfio --subsystem-match=vfio-dev"; do
	grep -qE -- "$p" <<<"$OUT" || fail "dry run: no /$p/ in: $OUT"
done
[ "$(tree_hash)" = "$before" ] || fail "dry run changed the tree"
[ ! -s "$GAT/calls.log" ] || fail "dry run ran gpu-admin-tools: $(cat "$GAT/calls.log")"
expect 0 "would write '0000:01:00.0' to $S/bus/pci/drivers/nvidia/unbind" "$COCOON" gpu restore --dry-run 0000:01:00.0 "${F[@]}"
[ "$(tree_hash)" = "$before" ] || fail "restore dry run changed the tree"

# ---- setup: refuses while in use --------------------------------------------------------------
hold "$D/nvidia0"
expect 1 "in use: $D/nvidia0 is open by pid $HPID \(sleep\)" "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
release
[ "$(tree_hash)" = "$before" ] || fail "refused setup changed the tree"

# ---- one operation per GPU at a time ---------------------------------------------------------
if command -v flock >/dev/null; then
	(exec 9<"$S/bus/pci/devices/0000:01:00.0" && flock 9 && exec sleep 60) & LPID=$!
	HOLDERS+=("$LPID")
	for _ in $(seq 100); do
		flock -n "$S/bus/pci/devices/0000:01:00.0" true || break
		sleep 0.05
	done
	expect 1 'another setup or restore of 0000:01:00.0 is running' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
	kill "$LPID"; wait "$LPID" 2>/dev/null || true
fi

# ---- setup: nvidia-bound CC-off -> ready ------------------------------------------------------
echo on >"$GAT/0000:01:00.0.ppcie"
expect 0 'ready for TDX passthrough' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
[ "$(driver_of 0000:01:00.0)" = vfio-pci ] || fail "setup: not on vfio-pci"
[ "$(cat "$S/bus/pci/devices/0000:01:00.0/driver_override")" = vfio-pci ] || fail "setup: override"
[ "$(driver_of 0000:00:01.0)" = pcieport ] || fail "setup touched the bridge"
grep -q on "$GAT/0000:01:00.0.cc" || fail "setup: CC not on"
grep -q VIOLATION "$GAT/calls.log" && fail "setup switched modes under nvidia"
grep -v -- '--gpu-bdf=0000:01:00.0 ' "$GAT/calls.log" && fail "setup: a call without the full BDF"
# PPCIe off strictly before CC on (spec §2.5).
sets=$(grep -o -- '--set-[a-z]*-mode=[a-z]*' "$GAT/calls.log" | tr '\n' ' ')
[ "$sets" = "--set-ppcie-mode=off --set-cc-mode=on " ] || fail "setup: mode switches: $sets"
# query CC, query PPCIe, PPCIe off, CC on, re-query both, and the final verify's two queries.
[ "$(wc -l <"$GAT/calls.log")" = 8 ] || fail "setup: gpu-admin-tools runs: $(cat "$GAT/calls.log")"
grep -q 'GROUP="users", MODE="0660"' "$RULES/99-vfio-passthrough.rules" || fail "udev rule"
grep -qx 'control --reload-rules' "$T/udev.log" || fail "udev reload"
grep -qx 'trigger' "$T/udev.log" && fail "unfiltered udevadm trigger"
grep -q 'trigger --action=change --subsystem-match=misc --sysname-match=iommu' "$T/udev.log" || fail "iommu trigger"
[ "$(stat -c '%G %a' "$D/vfio/12")" = "users 660" ] || fail "group node: $(stat -c '%G %a' "$D/vfio/12")"
[ "$(stat -c '%G %a' "$D/iommu")" = "users 660" ] || fail "/dev/iommu perms"
expect 0 'is ready for TDX passthrough' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
expect 0 '"ready": true' "$COCOON" gpu verify --json 0000:01:00.0 "${F[@]}"
expect 0 'ready' "$ALIAS" 01:00.0 "${F[@]}"

# ---- setup again: changes nothing ---------------------------------------------------------------
before=$(tree_hash); : >"$GAT/calls.log"; : >"$T/udev.log"
expect 0 'already set up; nothing changed' "$ALIAS" --setup 0000:01:00.0 "${F[@]}"
[ "$(tree_hash)" = "$before" ] || fail "second setup changed the tree"
grep -q -- '--set-' "$GAT/calls.log" && fail "second setup switched modes"
[ ! -s "$T/udev.log" ] || fail "second setup ran udevadm: $(cat "$T/udev.log")"

# --rebind cycles vfio-pci once and ends ready again.
expect 0 'detaching 0000:01:00.0 from vfio-pci \(--rebind\)' "$COCOON" gpu setup --rebind 0000:01:00.0 "${F[@]}"
grep -q "write '0000:01:00.0' to $S/bus/pci/drivers_probe" <<<"$OUT" || fail "rebind: no probe: $OUT"
expect 0 'ready' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"

# ---- verify: each not-ready reason ------------------------------------------------------------
chgrp root "$D/vfio/12"
expect 3 "device node $D/vfio/12 has group root \(expected users\)" "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
chgrp users "$D/vfio/12"; chmod 0666 "$D/iommu"
expect 3 "device node $D/iommu has mode 0666" "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
chmod 0660 "$D/iommu"; mv "$D/vfio/12" "$T/g12"
expect 3 "device node $D/vfio/12 is missing" "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
mv "$T/g12" "$D/vfio/12"
echo devtools >"$GAT/0000:01:00.0.cc"
expect 3 'CC mode of 0000:01:00.0 is devtools \(expected on\)' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
echo on >"$GAT/0000:01:00.0.ppcie"
expect 3 'PPCIe mode of 0000:01:00.0 is on \(expected off\)' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
echo off >"$GAT/0000:01:00.0.ppcie"
echo invalid-devtools-only-fix-by-setting-cc-mode >"$GAT/0000:01:00.0.cc"
expect 3 'CC mode of 0000:01:00.0 is invalid-devtools-only-fix-by-setting-cc-mode' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
# An interrupted switch is repaired by setting the mode again.
expect 0 'switching it on' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
expect 0 'ready' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
echo garbage >"$GAT/fault"
expect 3 'CC mode of 0000:01:00.0 is unknown \(unrecognised output\)' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
echo exit1 >"$GAT/fault"
expect 3 'CC mode of 0000:01:00.0 is unknown \(query failed\)' "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
rm "$GAT/fault"
hold "$D/vfio/12"
expect 3 "0000:01:00.0 is in use: $D/vfio/12 is open by pid $HPID \(sleep\)" "$COCOON" gpu verify 0000:01:00.0 "${F[@]}"
# ---- restore refuses while a VMM holds the group ---------------------------------------------
expect 1 "in use: $D/vfio/12 is open by pid $HPID" "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
release
[ "$(driver_of 0000:01:00.0)" = vfio-pci ] || fail "refused restore unbound the GPU"

# ---- restore ------------------------------------------------------------------------------------
: >"$GAT/calls.log"
expect 0 'back on nvidia with CC mode off' "$ALIAS" --restore 0000:01:00.0 "${F[@]}"
[ "$(driver_of 0000:01:00.0)" = nvidia ] || fail "restore: not on nvidia"
grep -q off "$GAT/0000:01:00.0.cc" || fail "restore: CC not off"
grep -q VIOLATION "$GAT/calls.log" && fail "restore switched modes under nvidia"
[ "$(cat "$S/bus/pci/devices/0000:01:00.0/driver_override")" = "" ] || fail "restore: override left"
[ ! -e "$D/vfio/12" ] || fail "restore: group node left"
expect 0 'nothing changed' "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
hold "$D/nvidia0"
expect 0 'nothing changed' "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
echo on >"$GAT/0000:01:00.0.cc"
expect 1 "in use: $D/nvidia0 is open by pid $HPID \(sleep\)" "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
release
# The reference's hole: nvidia bound but CC still on -> unbind, CC off, rebind.
echo on >"$GAT/0000:01:00.0.cc"
expect 0 'back on nvidia' "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
grep -q off "$GAT/0000:01:00.0.cc" || fail "restore from nvidia+CC on"
grep -q VIOLATION "$GAT/calls.log" && fail "restore switched modes under nvidia"

# ---- the whole IOMMU group: GPU + audio function ----------------------------------------------
expect 0 'ready' "$COCOON" gpu setup 0000:02:00.0 "${F[@]}"
[ "$(driver_of 0000:02:00.1)" = vfio-pci ] || fail "audio function not taken"
expect 0 'ready' "$COCOON" gpu verify 0000:02:00.0 "${F[@]}"
expect 0 'back on nvidia' "$COCOON" gpu restore 0000:02:00.0 "${F[@]}"
[ "$(driver_of 0000:02:00.1)" = snd_hda_intel ] || fail "audio function not given back"
# A foreign endpoint in the group needs explicit permission.
expect 1 'also holds 0000:03:00.0 \(other, class 0x020000, driver e1000e\)' "$COCOON" gpu setup 0000:04:00.0 "${F[@]}"
[ "$(driver_of 0000:04:00.0)" = nvidia ] || fail "refused setup touched the GPU"
expect 0 'ready' "$COCOON" gpu setup 0000:04:00.0 --allow-group-member 03:00.0 "${F[@]}"
[ "$(driver_of 0000:03:00.0)" = vfio-pci ] || fail "allowed member not taken"

# ---- gpu-admin-tools faults (0000:01:00.0 is on nvidia with CC off) -----------------------------
echo sticky >"$GAT/fault"
expect 1 'CC mode of 0000:01:00.0 did not take: it reads off after the reset' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
echo sticky-loud >"$GAT/fault"
expect 1 'set-cc-mode=on for 0000:01:00.0 failed \(exit 1\): GpuError: .*failed to switch' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
echo exit1 >"$GAT/fault"
expect 1 'cannot read the CC mode of 0000:01:00.0' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
echo noppcie >"$GAT/fault"   # Hopper firmware without the PPCIe knob: skipped, not fatal
expect 0 'ready' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
rm "$GAT/fault"
expect 0 'back on nvidia' "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
echo devtools >"$GAT/0000:01:00.0.cc"
expect 0 'CC mode of 0000:01:00.0 is devtools: switching it on' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
grep -q on "$GAT/0000:01:00.0.cc" || fail "devtools -> on"
(unset VFIO_DEVICE_GROUP; expect 1 'none of kvm, vfio, libvirt' "$COCOON" gpu setup 0000:02:00.0 "${F[@]}") ||
	getent group kvm >/dev/null || fail "no group fallback"

# ---- misbehaving kernel ----------------------------------------------------------------------------
build_tree
start_kernel --hang-unbind nvidia
t0=$(date +%s)
hold "$D/nvidiactl"
expect 1 "unbinding 0000:01:00.0 from nvidia did not finish within 1 s \(the kernel keeps trying\); pid $HPID \(sleep\) holds $D/nvidiactl" "$COCOON" gpu setup --timeout 1 0000:01:00.0 "${F[@]}"
release
[ $(( $(date +%s) - t0 )) -lt 10 ] || fail "hung unbind waited too long"
start_kernel --refuse-bind vfio-pci
expect 1 '0000:01:00.0 did not bind to vfio-pci within 1 s \(now: no driver\)' "$COCOON" gpu setup --timeout 1 0000:01:00.0 "${F[@]}"
start_kernel --no-cdev
expect 1 'no VFIO device cdev for 0000:01:00.0' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"

# ---- restore without the nvidia module ----------------------------------------------------------
NO_NVIDIA=1 build_tree
start_kernel
expect 0 'ready' "$COCOON" gpu setup 0000:01:00.0 "${F[@]}"
expect 1 'nvidia module is not loaded: 0000:01:00.0 is left without a driver' "$COCOON" gpu restore 0000:01:00.0 "${F[@]}"
grep -q off "$GAT/0000:01:00.0.cc" || fail "restore without nvidia: CC not off"

# ---- no udev running: setup sets the node group and mode itself --------------------------------
build_tree
start_kernel
expect 0 'udev did not set .*/vfio/12: setting group' "$COCOON" gpu setup 0000:01:00.0 "${F[@]/$UDEVADM//bin/true}"
[ "$(stat -c '%G %a' "$D/vfio/12")" = "users 660" ] || fail "fallback node perms"
expect 1 '"error": "GPU not found' "$COCOON" gpu verify --json 0000:09:00.0 "${F[@]}"

# ---- no IOMMU ------------------------------------------------------------------------------------
build_tree
rm "$S/devices/pci0000:00/0000:02:00.0/iommu_group"
expect 3 'has no IOMMU group \(the IOMMU is off\); fix: enable the IOMMU' "$COCOON" gpu verify 0000:02:00.0 "${F[@]}"
expect 1 'the IOMMU is off' "$COCOON" gpu setup 0000:02:00.0 "${F[@]}"
stop_kernel
echo ok
