#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0
# A tiny stand-in for systemd in the test guest (sourced by the scenario; busybox sh), so the VM
# test runs the guest units exactly as contrib/guest ships them: their ExecStart/ExecStop lines,
# Environment=/EnvironmentFile= and the Requires=/BindsTo= ordering. The unit files and drop-ins
# are copied unchanged into $UNIT_DIR (NAME and NAME.d/*.conf).
#   unit_start NAME  starts the units NAME requires first (units not in $UNIT_DIR must be named
#                    in $UNIT_EXTERNAL: provided by the test), then NAME; a failed requirement
#                    means NAME never runs (systemd: "Dependency failed"). 0 = active.
#   unit_stop NAME   runs ExecStop.
# State per unit in $UNIT_STATE: NAME.rc (ExecStart's exit status) or NAME.skipped
# (a Condition*= was false) or NAME.depfail. Every directive it does not emulate is refused, so
# a unit that grows one fails the test instead of being half-run.
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
UNIT_STATE=${UNIT_STATE:-/run/units}
UNIT_EXTERNAL=${UNIT_EXTERNAL:-}
UNIT_KNOWN=" Description Documentation ConditionKernelCommandLine Wants After Before Conflicts "
UNIT_KNOWN="$UNIT_KNOWN Requires BindsTo DefaultDependencies Type RemainAfterExit Environment "
UNIT_KNOWN="$UNIT_KNOWN EnvironmentFile ExecStart ExecStop TimeoutStartSec Restart StandardOutput "
UNIT_KNOWN="$UNIT_KNOWN StandardError PIDFile WantedBy "

unit_say() { echo "CNVM unit $*"; }

# The unit file and its drop-ins, in the order systemd reads them.
unit_files() {
	[ ! -e "$UNIT_DIR/$1" ] || echo "$UNIT_DIR/$1"
	ls "$UNIT_DIR/$1.d/"*.conf 2>/dev/null | sort
}

# unit_get NAME KEY: every value of KEY, one per line, in file order.
unit_get() {
	local f
	for f in $(unit_files "$1"); do sed -n "s/^$2=//p" "$f"; done
}

# Refuses keys it does not emulate and command prefixes (-, @, +, !, :).
unit_check() {
	local f k
	for f in $(unit_files "$1"); do
		for k in $(sed -n 's/^\([A-Za-z]*\)=.*/\1/p' "$f"); do
			case "$UNIT_KNOWN" in *" $k "*) ;; *) unit_say "$1: $k= is not emulated by tests/vm/units.sh"; return 1 ;; esac
		done
	done
	if unit_get "$1" ExecStart | grep -q '^[-@+!:]'; then unit_say "$1: ExecStart prefix not emulated"; return 1; fi
}

# unit_exec NAME KEY: runs the one KEY line (an empty one resets the list, as in systemd) with
# the unit's environment. Environment= first, then EnvironmentFile= (which wins);
# $VAR and ${VAR} are expanded by the shell (systemd splits $VAR into words and keeps ${VAR} one
# word: the same for the values these units use).
unit_exec() (
	cmd=$(unit_get "$1" "$2" | awk '{ if ($0 == "") n = 0; else { n++; c = $0 } } END { if (n != 1) exit 1; print c }') ||
		{ unit_say "$1: not exactly one $2 line"; exit 1; }
	set -a
	while IFS= read -r e; do [ -n "$e" ] && eval "$e"; done <<EOF
$(unit_get "$1" Environment)
EOF
	for f in $(unit_get "$1" EnvironmentFile); do
		case "$f" in
		-*) f=${f#-}; [ -e "$f" ] || continue ;;
		esac
		[ -r "$f" ] || { unit_say "$1: cannot read EnvironmentFile $f"; exit 1; }
		. "$f"
	done
	set +a
	unit_say "$1: $2=$cmd"
	eval "set -- $cmd"
	exec "$@"
)

unit_start() {
	local u=$1 d c rc=0 pidfile pid
	mkdir -p "$UNIT_STATE"
	[ -e "$UNIT_STATE/$u.rc" ] && return "$(cat "$UNIT_STATE/$u.rc")"
	[ -e "$UNIT_STATE/$u.skipped" ] && return 0
	[ -e "$UNIT_STATE/$u.depfail" ] && return 1
	[ -f "$UNIT_DIR/$u" ] || { unit_say "$u: not installed"; return 1; }
	unit_check "$u" || return 1
	for d in $(unit_get "$u" Requires) $(unit_get "$u" BindsTo); do
		case " $UNIT_EXTERNAL " in *" $d "*) continue ;; esac
		if ! unit_start "$d"; then
			unit_say "$u: dependency $d failed, not started"
			: >"$UNIT_STATE/$u.depfail"
			return 1
		fi
	done
	for c in $(unit_get "$u" ConditionKernelCommandLine); do
		if ! tr ' ' '\n' </proc/cmdline | grep -qx -e "$c" -e "$c=.*"; then
			unit_say "$u: ConditionKernelCommandLine=$c is false, skipped"
			: >"$UNIT_STATE/$u.skipped"
			return 0
		fi
	done
	unit_exec "$u" ExecStart || rc=$?
	pidfile=$(unit_get "$u" PIDFile | tail -n1)
	pid=$(cat "$pidfile" 2>/dev/null || true)
	if [ $rc = 0 ] && [ -n "$pidfile" ] && ! { [ -n "$pid" ] && [ "$pid" -gt 0 ] 2>/dev/null && kill -0 "$pid"; }; then
		unit_say "$u: PIDFile $pidfile names no live process"
		rc=1
	fi
	echo $rc >"$UNIT_STATE/$u.rc"
	unit_say "$u: exit $rc"
	return $rc
}

unit_stop() {
	unit_exec "$1" ExecStop
}
