#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# tests/vm/units.sh (the systemd stand-in of the VM test) on the host, under busybox sh as in
# the guest, so that a pass in the VM means what it says:
#  - requirements start first and in order; a failed one stops its dependents (depfail);
#  - a false ConditionKernelCommandLine= skips, counted as success;
#  - Environment= then EnvironmentFile= (which wins; "-" makes it optional); ${VAR} expands;
#  - a PIDFile= without a live process fails a start; ExecStop= runs;
#  - a directive it does not emulate, or two ExecStart= lines, fail the unit;
#  - the units of contrib/guest use only what it emulates.
set -euo pipefail
: "${CN_SOURCE_DIR:?}"
BB=$(command -v busybox || true)
[ -n "$BB" ] || { echo "SKIP: no busybox (install busybox-static)"; exit 77; }
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
U=$W/units
mkdir -p "$U/b.service.d"
unit() { printf '[Unit]\nDescription=%s\n%s\n[Service]\nType=oneshot\n%s\n' "$1" "$2" "$3" >"$U/$1"; }
unit a.service "" "ExecStart=/bin/sh -c 'echo a >>$W/order'"
unit b.service "Requires=a.service ext.mount" "Environment=X=env Y=unused
EnvironmentFile=$W/b.env
EnvironmentFile=-$W/missing.env
ExecStart=/bin/sh -c 'echo b \${X} >>$W/order'
ExecStop=/bin/sh -c 'echo stop-b >>$W/order'"
printf 'X="from file"\n' >"$W/b.env"
printf '[Unit]\nBindsTo=c.service\n' >"$U/b.service.d/x.conf"
unit c.service "" "ExecStart=/bin/sh -c 'echo c >>$W/order'"
unit bad.service "" "ExecStart=/bin/false"
unit dep.service "Requires=bad.service" "ExecStart=/bin/sh -c 'echo dep >>$W/order'"
unit top.service "Requires=dep.service" "ExecStart=/bin/sh -c 'echo top >>$W/order'"
unit cond.service "ConditionKernelCommandLine=no_such_flag_cn" "ExecStart=/bin/sh -c 'echo cond >>$W/order'"
unit after-cond.service "Requires=cond.service" "ExecStart=/bin/sh -c 'echo after-cond >>$W/order'"
unit unknown.service "" "ExecStartPre=/bin/true
ExecStart=/bin/true"
unit two.service "" "ExecStart=/bin/true
ExecStart=/bin/true"
unit pid.service "PIDFile=$W/none.pid" "ExecStart=/bin/true"
run() { # UNIT... -> "name:rc" per unit
	UNIT_DIR=$U UNIT_STATE=$W/state UNIT_EXTERNAL=ext.mount "$BB" sh -c \
		'. "$0"; for u; do unit_start $u >/dev/null; echo "$u:$?"; done' "$CN_SOURCE_DIR/tests/vm/units.sh" "$@"
}
got=$(run b.service top.service after-cond.service unknown.service two.service pid.service | tr '\n' ' ')
[ "$got" = "b.service:0 top.service:1 after-cond.service:0 unknown.service:1 two.service:1 pid.service:1 " ] ||
	fail "exit statuses: $got"
[ "$(tr '\n' ' ' <"$W/order")" = "a c b from file after-cond " ] || fail "order: $(cat "$W/order")"
[ -e "$W/state/dep.service.depfail" ] && [ -e "$W/state/top.service.depfail" ] &&
	[ ! -e "$W/state/dep.service.rc" ] || fail "dependents of a failed unit: $(ls "$W/state")"
[ -e "$W/state/cond.service.skipped" ] || fail "condition not skipped: $(ls "$W/state")"
UNIT_DIR=$U UNIT_STATE=$W/state "$BB" sh -c '. "$0"; unit_stop b.service >/dev/null' "$CN_SOURCE_DIR/tests/vm/units.sh"
tail -n1 "$W/order" | grep -qx stop-b || fail "ExecStop did not run"
# What ships uses only what the stand-in emulates.
UNIT_DIR=$CN_SOURCE_DIR/contrib/guest "$BB" sh -c \
	'. "$0"; for u in $(cd "$UNIT_DIR" && ls -d *.service *.target *.d | sed "s/\\.d\$//" | sort -u); do unit_check $u || exit 1; done' \
	"$CN_SOURCE_DIR/tests/vm/units.sh" || fail "contrib/guest uses a directive units.sh does not emulate"
echo ok
