#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# cocoon launch / cocoon-launch from the command line: usage and configuration errors with their
# exit codes, --print-only without side effects (the file tree hashed before and after),
# --json, shell quoting that round-trips, missing image files.
set -euo pipefail
: "${COCOON:?}"
fail() { echo "FAIL: $*" >&2; exit 1; }
T=$(mktemp -d)   # the tree the launcher sees
O=$(mktemp -d)   # test outputs, outside the hashed tree
trap 'rm -rf "$T" "$O"' EXIT
alias_bin="$(dirname "$COCOON")/cocoon-launch"

# expect RC MESSAGE CMD...: exit status and a substring of stderr
expect() {
	local want=$1 msg=$2; shift 2
	set +e
	"$@" >"$O/out" 2>"$O/err"
	local rc=$?
	set -e
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want: $(cat "$O/err")"
	grep -qF -- "$msg" "$O/err" || fail "'$*': expected '$msg' in: $(cat "$O/err")"
}

mkdir -p "$T/root/images/prod" "$T/root/spec/spec-worker/runtime" "$T/root/spec/spec-proxy" "$T/root/images/test" \
	"$T/root/spec/fake-ton"
echo '{"base": 1}' > "$T/root/spec/mainnet-base-ton-config.json"
echo '{"full": 1}' > "$T/root/spec/mainnet-full-ton-config.json"
echo '{"fake": 1}' > "$T/root/spec/fake-ton/fake-ton-config.json"
echo 'FAKE=1' > "$T/root/spec/fake-ton/runtime.vars"
printf '#!/bin/sh\ncocoon-render-ton-config\nsystemctl start x\n' > "$T/root/spec/spec-proxy/init"
chmod 755 "$T/root/spec/spec-proxy/init"
for f in image.img image.vmlinuz image.initrd OVMF.fd; do
	echo "$f" > "$T/root/images/prod/$f"
	echo "$f" > "$T/root/images/test/$f"
done
printf 'console=hvc0 roothash=abcd swiotlb=1048576\n' > "$T/root/images/prod/image.cmdline"
printf 'console=hvc0 roothash=ef01\n' > "$T/root/images/test/image.cmdline"
echo "X=1" > "$T/root/spec/spec-worker/runtime/runtime.vars"
cat > "$T/worker.conf" <<'EOF'
[node]
type = worker
owner_address = EQ_owner
model = Qwen/Qwen3-0.6B@0123456789abcdef0123456789abcdef01234567
EOF
export COCOON_ROOT="$T/root"
cd "$T"
run=(--run-dir "$T/run")

# --help on both names.
"$COCOON" launch --help | grep -q 'Usage: cocoon launch \[OPTIONS\] CONFIG' || fail "--help"
"$alias_bin" --help | grep -q 'Usage: cocoon-launch' || fail "cocoon-launch --help"

# Usage and configuration errors: exit 2, one clear line.
expect 2 "no config file given" "$COCOON" launch
expect 2 "'--instance' after the config file: options go before CONFIG" "$COCOON" launch worker.conf --instance 1
expect 2 "'-S' after the config file" "$COCOON" launch worker.conf -S
expect 2 "unknown or incomplete option '--bogus'" "$COCOON" launch --bogus worker.conf
expect 2 "cannot read 'missing.conf': No such file or directory" "$COCOON" launch missing.conf
expect 2 "node type 'client' runs locally without a VM and is out of scope" "$COCOON" launch --type client worker.conf
expect 2 "--local-all runs every node locally without VMs" "$COCOON" launch --local-all worker.conf
expect 2 "instance '-1': expected a decimal number" "$COCOON" launch --instance -1 worker.conf
expect 2 "instance 'x'" "$COCOON" launch --instance x worker.conf
expect 2 "from 0 to 999" "$COCOON" launch --instance 1000 worker.conf
expect 2 "--set 'gpus': expected KEY=VALUE" "$COCOON" launch --set gpus worker.conf
expect 2 "--print-only and --prepare-only exclude each other" "$COCOON" launch --print-only --prepare-only worker.conf
expect 2 "host port 12000 is used twice: ssh_port and http_port" "$COCOON" launch --print-only --ssh-port 12000 worker.conf
expect 2 "tar_format 'gnu-1.36': expected gnu-1.35 or gnu-1.34" "$COCOON" launch --print-only --tar-format gnu-1.36 worker.conf
expect 2 "--json goes with --print-only" "$COCOON" launch --json worker.conf
expect 2 "unknown option '--inst' (abbreviations are not accepted" "$COCOON" launch --inst 1 worker.conf
expect 2 "unknown option '--gp=0000:41:00.0'" "$COCOON" launch --gp=0000:41:00.0 worker.conf
printf '[node]\ntype = worker\nowner_address = x\nmodle = a\n' > bad.conf
expect 2 "bad.conf:4: unknown key 'modle' in [node]" "$COCOON" launch bad.conf
printf '[node]\ntype = proxy\n' > noowner.conf
expect 2 "no owner address" "$COCOON" launch noowner.conf

# --print-only: no side effects. Hash the whole tree (names, sizes, modes, times, contents).
snapshot() {
	(cd "$T" && find . -printf '%p %s %m %T@ %y\n' | LC_ALL=C sort
	 find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum) | sha256sum
}
# A cached model image (built by cocoon model build): --print-only finds it read-only.
commit=0123456789abcdef0123456789abcdef01234567
mkdir -p "$T/modelsrc"
echo '{"tiny": true}' > "$T/modelsrc/config.json"
"$COCOON" model build --quiet --from-dir "$T/modelsrc" --images-dir "$T/root/images/models" "tiny/model@$commit" > "$O/model.line"
tar=$(cut -d' ' -f2 "$O/model.line")
before=$(snapshot)
"$COCOON" launch --print-only --json "${run[@]}" --models-dir "$T/root/images/models" --model "tiny/model@$commit" \
	worker.conf > "$O/p4.json" 2> "$O/p4.err"
"$COCOON" launch --print-only "${run[@]}" --instance 1 --gpu 0000:41:00.0 --models-dir "$T/root/images/models" \
	worker.conf > "$O/p1.txt" 2> "$O/p1.err"
"$COCOON" launch --print-only --json "${run[@]}" --type proxy --instance 3 worker.conf -- -S > "$O/p2.json" 2>/dev/null
"$alias_bin" --print-only "${run[@]}" --test --fake-ton worker.conf > "$O/p3.txt" 2>/dev/null
after=$(snapshot)
[ "$before" = "$after" ] || fail "--print-only changed the file tree"
[ ! -e "$T/run" ] || fail "--print-only created the run folder"
[ ! -e "$T/root/persistent-worker-1.img" ] || fail "--print-only created the persistent disk"
P="$O"
grep -q "model Qwen/Qwen3-0.6B@0123456789abcdef0123456789abcdef01234567 is not in the cache" "$P/p1.err" ||
	fail "print-only without a cached model: no warning"

# The printed line is shell-quoted: a shell reads back exactly the --json argv.
eval "set -- $(cat "$P/p1.txt")"
[ "$1" = qemu-system-x86_64 ] || fail "argv[0] '$1'"
args=("$@")
printf '%s\n' "${args[@]}" > "$O/p1.args"
grep -qx -- '-append' "$O/p1.args" || fail "no -append"
grep -qx -- 'console=hvc0 roothash=abcd swiotlb=1048576 cocoon_gpu' "$O/p1.args" || fail "kernel cmdline: $(cat "$P/p1.txt")"
grep -qx -- 'vhost-vsock-pci,guest-cid=16' "$O/p1.args" || fail "instance 1 CID"
grep -qx -- 'vfio-pci,host=0000:41:00.0,bus=pci.0,iommufd=iommufd0' "$O/p1.args" || fail "vfio device"
grep -qx -- "unix:$T/run/cocoon-worker-1/qmp.sock,server=on,wait=off" "$O/p1.args" || fail "QMP socket"
"$COCOON" launch --print-only --json "${run[@]}" --instance 1 --gpu 0000:41:00.0 --models-dir "$T/root/images/models" \
	worker.conf 2>/dev/null |
	python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)["argv"]))' > "$O/p1.json.args"
cmp -s "$O/p1.args" "$O/p1.json.args" || fail "--json and the shell-quoted line differ"

[ ! -s "$O/p4.err" ] || fail "cached model: unexpected warning: $(cat "$O/p4.err")"
python3 - "$O/p4.json" "$tar" <<'EOF' || fail "cached model disks"
import json, sys
j, tar = json.load(open(sys.argv[1])), sys.argv[2]
a = j["argv"]
assert len(j["spec_tree"]) == 64 and j["spec_source"].endswith("/spec/spec-worker"), j
assert "readonly=on,file=%s,id=drivecache,if=none,index=3,werror=report" % tar in a, a
assert "readonly=on,file=%s.verity,id=drivecacheverity,if=none,index=4,werror=report" % tar in a, a
EOF
python3 - "$P/p2.json" <<'EOF' || fail "proxy --json"
import json, sys
a = json.load(open(sys.argv[1]))["argv"]
assert a[-1] == "-S", a[-1]
assert "vhost-vsock-pci,guest-cid=37" in a
assert "user,id=user.0,hostfwd=tcp::11035-:22,hostfwd=tcp::11030-:11000,hostfwd=tcp::11031-:11001,hostfwd=tcp::11032-:11002" in a
assert not any("drivecache" in x for x in a), "proxy has model disks"
assert a[a.index("-append") + 1].endswith(" modprobe.blacklist=nvidia")
EOF
grep -q -- "-append 'console=hvc0 roothash=ef01 cocoon_debug cocoon_fake_ton modprobe.blacklist=nvidia'" "$P/p3.txt" ||
	fail "test + fake-ton: $(cat "$P/p3.txt")"
grep -q -- "$T/root/images/test/OVMF.fd" "$P/p3.txt" || fail "--test picks images/test"

# Secrets never reach the output, the debug log or the command line.
"$COCOON" launch -d --print-only "${run[@]}" --hf-token hf_SECRET1 --node-wallet-key SECRET2 worker.conf > "$O/sec" 2>&1
grep -q 'hf_token = (redacted)' "$O/sec" || fail "debug settings not printed"
! grep -q SECRET "$O/sec" || fail "a secret was printed: $(grep SECRET "$O/sec")"

# --image-dir on the command line is honoured (the reference ignores it).
mkdir -p "$T/other"
cp "$T/root/images/prod/"* "$T/other/"
"$COCOON" launch --print-only "${run[@]}" --image-dir other worker.conf 2>/dev/null | grep -q -- "-bios $T/other/OVMF.fd" ||
	fail "--image-dir ignored"

# Missing image files: exit 4, naming the file and the fix (also under --print-only).
rm "$T/other/image.initrd"
expect 4 "image file '$T/other/image.initrd' is missing" "$COCOON" launch --print-only "${run[@]}" --image-dir other worker.conf
: > "$T/other/image.initrd"
: > "$T/other/image.cmdline"
expect 4 "image.cmdline' is empty" "$COCOON" launch --print-only "${run[@]}" --image-dir other worker.conf

# A QEMU that is not there: exit 4 before anything is created.
expect 4 "'no-such-qemu' not found in PATH" "$COCOON" launch "${run[@]}" --qemu no-such-qemu --type proxy worker.conf
[ ! -e "$T/run" ] || fail "a failed pre-flight created the run folder"

# The GPU gate (cn_vfio_check_ready, as `cocoon gpu verify`): a GPU still on the nvidia driver is
# refused with exit 3 and the fix, before anything is created. Fake sysfs with the real layout.
S="$T/fsys"
rel="devices/pci0000:40/0000:41:00.0"
mkdir -p "$S/$rel" "$S/bus/pci/devices" "$S/bus/pci/drivers/nvidia" "$S/kernel/iommu_groups/7/devices" "$T/fdev"
echo 0x10de > "$S/$rel/vendor"; echo 0x2335 > "$S/$rel/device"; echo 0x030200 > "$S/$rel/class"
echo 0 > "$S/$rel/numa_node"; echo "(null)" > "$S/$rel/driver_override"
ln -s "../../../$rel" "$S/bus/pci/devices/0000:41:00.0"
ln -s "../../../kernel/iommu_groups/7" "$S/$rel/iommu_group"
ln -s "../../../../$rel" "$S/kernel/iommu_groups/7/devices/0000:41:00.0"
ln -s "../../../bus/pci/drivers/nvidia" "$S/$rel/driver"
ln -s "../../../../$rel" "$S/bus/pci/drivers/nvidia/0000:41:00.0"
expect 3 "GPU 0000:41:00.0 is not ready for passthrough" env -u GPU_ADMIN_TOOLS_DIR "$COCOON" launch "${run[@]}" \
	--sysfs-dir "$S" --dev-dir "$T/fdev" --skip-build --models-dir "$T/root/images/models" \
	--model "tiny/model@$commit" --gpu 0000:41:00.0 --instance 4 worker.conf
grep -q "fix:" "$O/err" || fail "GPU not ready: no fix given: $(cat "$O/err")"
[ ! -e "$T/run/cocoon-worker-4" ] && [ ! -e "$T/root/persistent-worker-4.img" ] || fail "GPU not ready: files created"
expect 1 "cannot check GPU 0000:42:00.0" "$COCOON" launch "${run[@]}" --sysfs-dir "$S" --dev-dir "$T/fdev" \
	--skip-build --models-dir "$T/root/images/models" --model "tiny/model@$commit" --gpu 0000:42:00.0 worker.conf

# --prepare-only: the spec share with runtime.vars, under the instance lock; no QEMU needed, no disk.
"$COCOON" launch --prepare-only "${run[@]}" --qemu no-such-qemu --skip-build --models-dir "$T/root/images/models" \
	--model "tiny/model@$commit" --instance 2 worker.conf > "$O/prep.out" 2>/dev/null || fail "--prepare-only"
[ "$(cat "$O/prep.out")" = "$T/run/cocoon-worker-2/spec" ] || fail "--prepare-only printed $(cat "$O/prep.out")"
vars="$T/run/cocoon-worker-2/spec/runtime/runtime.vars"
grep -qx "X=1" "$vars" && grep -qx "MODEL_NAME=tiny/model" "$vars" && grep -qx "MODEL_COMMIT=$commit" "$vars" &&
	grep -qx "MODEL_VERITY_HASH=$(cut -d: -f2 "$O/model.line" | cut -d' ' -f1)" "$vars" && grep -qx "OWNER_ADDRESS=EQ_owner" "$vars" ||
	fail "runtime.vars: $(cat "$vars")"
[ "$(stat -c %a "$vars")" = 600 ] || fail "runtime.vars is not 0600"
[ "$(cat "$T/root/spec/spec-worker/runtime/runtime.vars")" = "X=1" ] || fail "the source spec folder was modified"
[ ! -e "$T/root/persistent-worker-2.img" ] || fail "--prepare-only created the persistent disk"
"$COCOON" launch --just-build --skip-build --models-dir "$T/root/images/models" --model "tiny/model@$commit" \
	worker.conf 2>/dev/null | cmp -s - "$O/model.line" || fail "--just-build line differs from build-model's"
# --prepare-only --json: spec_dir and spec_tree; the same tree --print-only --json predicts.
"$COCOON" launch --prepare-only --json "${run[@]}" --type proxy --instance 5 --fake-ton worker.conf > "$O/prep.json" 2>/dev/null ||
	fail "--prepare-only --json"
"$COCOON" launch --print-only --json "${run[@]}" --type proxy --instance 5 --fake-ton worker.conf > "$O/pred.json" 2>/dev/null
python3 - "$O/prep.json" "$O/pred.json" "$T/run/cocoon-proxy-5/spec" <<'EOF' || fail "spec_tree: $(cat "$O/prep.json" "$O/pred.json")"
import json, sys
prep, pred = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert prep["spec_dir"] == sys.argv[3], prep
assert len(prep["spec_tree"]) == 64 and prep["spec_tree"] == pred["spec_tree"], (prep, pred)
EOF
share="$T/run/cocoon-proxy-5/spec"
[ "$(cat "$share/init")" = "$(printf '#!/bin/sh\ncocoon-render-config fake-ton-config.json\nsystemctl start x')" ] ||
	fail "fake-TON init: $(cat "$share/init")"
cmp -s "$share/fake-ton-config.json" "$T/root/spec/fake-ton/fake-ton-config.json" || fail "fake-ton-config.json"
[ ! -e "$share/global.config.json" ] || fail "fake TON: a TON config was copied"
grep -qx "FAKE=1" "$share/runtime/runtime.vars" && grep -qx "EXTERNAL_IP=10.0.2.2" "$share/runtime/runtime.vars" &&
	grep -qx "EXTERNAL_WORKER_PORT=11051" "$share/runtime/runtime.vars" || fail "fake-TON runtime.vars: $(cat "$share/runtime/runtime.vars")"

# Outside fake TON a missing TON config stops the launch, named (also --print-only).
expect 1 "ton_config not found: $T/nope.json" "$COCOON" launch --print-only "${run[@]}" --type proxy --ton-config "$T/nope.json" worker.conf
expect 1 "ton_config_base not found: $T/nope.json" "$COCOON" launch --prepare-only "${run[@]}" --type proxy \
	--ton-config-base "$T/nope.json" worker.conf
"$COCOON" launch --prepare-only "${run[@]}" --type proxy --instance 6 --set K=V worker.conf > /dev/null 2>&1 || fail "proxy --prepare-only"
cmp -s "$T/run/cocoon-proxy-6/spec/global.config.json" "$T/root/spec/mainnet-base-ton-config.json" &&
	cmp -s "$T/run/cocoon-proxy-6/spec/runtime/global.config.json" "$T/root/spec/mainnet-full-ton-config.json" ||
	fail "TON configs not copied"
head -1 "$T/run/cocoon-proxy-6/spec/runtime/runtime.vars" | grep -qx "K=V" || fail "--set is not the first runtime variable"

# A client: only its spec share.
"$COCOON" launch --prepare-only "${run[@]}" --type client --spec "$T/root/spec/spec-proxy" worker.conf > /dev/null 2>&1 ||
	fail "client --prepare-only"
grep -qx "IS_DEBUG=0" "$T/run/cocoon-client-0/spec/runtime/runtime.vars" &&
	grep -qx "CLIENT_HTTP_PORT=10000" "$T/run/cocoon-client-0/spec/runtime/runtime.vars" || fail "client runtime.vars"

# A gnu-1.34 image in the cache: refused as gnu-1.35, used with --tar-format / tar_format.
c34=89abcdef0123456789abcdef0123456789abcdef
"$COCOON" model build --quiet --tar-format gnu-1.34 --from-dir "$T/modelsrc" --images-dir "$T/root/images/models" "tiny/model@$c34" > "$O/m34.line"
set +e
"$COCOON" launch --just-build --skip-build --models-dir "$T/root/images/models" --model "tiny/model@$c34" worker.conf > /dev/null 2> "$O/err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "a gnu-1.34 image used as gnu-1.35: exit $rc"
"$COCOON" launch --just-build --skip-build --tar-format gnu-1.34 --models-dir "$T/root/images/models" \
	--model "tiny/model@$c34" worker.conf 2>/dev/null | cmp -s - "$O/m34.line" || fail "--tar-format gnu-1.34: line differs from build-model's"
printf 'tar_format = gnu-1.34\n' | cat worker.conf - > w34.conf
"$COCOON" launch --just-build --skip-build --models-dir "$T/root/images/models" \
	--model "tiny/model@$c34" w34.conf 2>/dev/null | cmp -s - "$O/m34.line" || fail "tar_format = gnu-1.34"
echo ok
