#!/bin/sh
# The systemd unit (deploy/cellvmd@.service.in, docs/deploy.md): systemd
# reads it without a complaint, and cellvmd runs the command line it gives,
# with an operator's CELLVMD_OPTS, and answers on the socket it names.
# Prints TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }

if ! command -v systemd-analyze >/dev/null; then
	echo "1..0 # SKIP systemd-analyze not installed"
	exit 0
fi
work=$(mktemp -d /tmp/cellvm-unit.XXXXXX)
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
pid=
unit=$work/cellvmd@.service
sed -e "s|@bindir@|$top_builddir/controller|g" -e "s|@docdir@|$top_srcdir/docs|g" \
	"$top_srcdir/deploy/cellvmd@.service.in" >"$unit"

# A VM's cgroup (docs/deploy.md, "A cgroup per VM"): the unit's cgroup is
# delegated, and cgroupfs is not made read-only under it.
if grep -qx 'Delegate=yes' "$unit" && ! grep -qx 'ProtectControlGroups=yes' "$unit"; then
	ok "the unit delegates its cgroup and leaves it writable (--cgroup self)"
else
	not_ok "want Delegate=yes and no ProtectControlGroups=yes in the unit"
fi

out=$(systemd-analyze verify "$unit" 2>&1)
if [ $? -eq 0 ] && [ -z "$out" ]; then
	ok "systemd-analyze verify: no complaint"
else
	not_ok "systemd-analyze verify: $(echo "$out" | tr '\n' ' ')"
fi

# ExecStart= as systemd would run it for instance vm0, its continuation
# lines joined, with the directories systemd would make.
cmd=$(sed -n '/^ExecStart=/,/[^\\]$/p' "$unit" | sed 's/\\$//' | tr '\n\t' '  ' |
	sed 's/^ExecStart=//')
RUNTIME_DIRECTORY=$work/run
STATE_DIRECTORY=$work/state
CELLVMD_OPTS="--max-memory 512M --max-cpus 2 --min-sandbox on"
mkdir -p "$RUNTIME_DIRECTORY" "$STATE_DIRECTORY"
cmd=$(echo "$cmd" | sed -e "s|\${RUNTIME_DIRECTORY}|$RUNTIME_DIRECTORY|g" \
	-e "s|\${STATE_DIRECTORY}|$STATE_DIRECTORY|g" -e "s|\$CELLVMD_OPTS|$CELLVMD_OPTS|g" \
	-e "s|%i|vm0|g")
# shellcheck disable=SC2086 # the command line's words
$cmd 2>"$work/log" &
pid=$!
i=0
until [ -S "$RUNTIME_DIRECTORY/vm.sock" ] || [ $i -ge 50 ] || ! kill -0 $pid 2>/dev/null; do
	sleep 0.1
	i=$((i + 1))
done
status=$("$top_builddir/client/cellvmctl" --socket "$RUNTIME_DIRECTORY/vm.sock" status 2>&1)
case $status in
*"state:"*"NOT_CREATED"*) ok "cellvmd runs ExecStart= and answers Status" ;;
*) not_ok "cellvmd runs ExecStart= ($cmd): $status; $(tail -n 3 "$work/log" | tr '\n' ' ')" ;;
esac
case $status in
*"--max-memory 512M"*"--max-cpus 2"*) ok "the operator's CELLVMD_OPTS reach it (Status shows them)" ;;
*) not_ok "the operator's CELLVMD_OPTS reach it: $status" ;;
esac
kill -TERM $pid
wait $pid
st=$?
pid=
if [ $st -eq 0 ]; then ok "SIGTERM ends it with status 0"; else not_ok "SIGTERM: exit $st"; fi
echo "1..$n"
exit $failed
