# The e2e scenarios vsock and balloon, sourced by scenarios.sh (they use its
# $C, $VP, $T, $timeout, config, start_cellvmd, stop_cellvmd, result, check,
# fail_all, seen, l2 and leftovers): cellvm-vsock and cellvm-balloon with a
# real guest, each VM made by cellvmd from a config. The guest's side is
# l2-init.sh's test_vsock and test_balloon; both ends of every vsock
# exchange are vsock-peer (tests/e2e/vsock_peer.c).

# Seconds since $vb_t0, for the last RESULT of a scenario (what it costs).
vb_took() { awk -v a="$vb_t0" -v b="$(now)" 'BEGIN { printf "%.0f", b - a }'; }

# vb_start NAME EXTRA-JSON L2-TEST: Create through the running cellvmd with
# a guest that runs L2-TEST and then waits, and Run in the background; its
# serial console in $T/NAME.out. Sets $out, $rpid; 1 if Create failed
# ($T/NAME.create says why).
vb_start() {
	out=$T/$1.out
	config "cellvm.test=$3 cellvm.end=wait" "$2"
	$C --socket $sock create --config $T/config.json 2>$T/$1.create || return 1
	$C --socket $sock serial </dev/null >"$out" 2>/dev/null &
	timeout "$timeout" $C --socket $sock run 2>$T/$1.run &
	rpid=$!
}

# vb_await WORD...: until the guest prints an "L2 WORD" line, the VM ends
# or the timeout passes.
vb_await() {
	i=0
	until [ $i -ge "$timeout" ] || ! kill -0 $rpid 2>/dev/null; do
		for w in "$@"; do
			tr -d '\r' <"$out" | grep -q "L2 $w" && return 0
		done
		sleep 1
		i=$((i + 1))
	done
	return 1
}

# vb_end NAME: stops the VM and cellvmd; on a failure, the ends of the logs.
vb_end() {
	$C --socket $sock stop >/dev/null 2>&1
	wait $rpid
	stop_cellvmd
	[ "$failed" = 0 ] && return
	tail -n 25 "$out" | tr -d '\r' | sed "s|^|LOG $1.out: |"
	cat $T/$1.create $T/$1.run 2>/dev/null | sed "s|^|LOG $1: |"
	tail -n 25 "$dlog" | sed "s|^|LOG ${dlog##*/}: |"
}

# Firecracker's hybrid vsock (docs/config.md) with a guest: the guest's
# connection to CID 2 port 5001 reaches a host listener at <uds_path>_5001,
# a host client CONNECTs to the guest's listener on port 5000, and 1 MiB
# goes there and back intact each way; a CONNECT to a port nobody listens
# on is hung up on.
scenario_vsock() {
	names="vsock-guest-to-host vsock-host-to-guest vsock-no-listener"
	[ -x $D ] && [ -x $C ] && [ -x $VP ] || { fail_all "cellvmd, cellvmctl or vsock-peer missing" $names; return; }
	failed=0
	vb_t0=$(now)
	# A directory of the VM's own beneath --allow-socket-dir, where cellvmd
	# (nobody) binds uds_path.
	vdir=$T/vsock
	rm -rf $vdir
	mkdir -p $vdir
	chown 65534:65534 $vdir
	start_cellvmd vsock --allow-socket-dir $vdir
	$VP listen-unix $vdir/v.sock_5001 1 >$T/vsock-host.out 2>&1 &
	lpid=$!
	if ! vb_start vsock ", \"vsock\": {\"guest_cid\": 3, \"uds_path\": \"$vdir/v.sock\"}" vsock; then
		fail_all "Create: $(cat $T/vsock.create)" $names
		kill $lpid 2>/dev/null
		stop_cellvmd
		return
	fi
	vb_await waiting "vsock-missing"
	got=$(l2 vsock-connect)
	# The guest's connection is over: the listener ends, at once or never.
	i=0
	while kill -0 $lpid 2>/dev/null && [ $i -lt 20 ]; do
		sleep 0.2
		i=$((i + 1))
	done
	kill $lpid 2>/dev/null
	wait $lpid
	host=$(tr '\n' ' ' <$T/vsock-host.out)
	case "$got|$host" in
	"ok 1048576 bytes echoed"*"|"*"echoed 1048576 bytes"*)
		result vsock-guest-to-host ok "guest: $got; host listener: $host" ;;
	*) result vsock-guest-to-host fail "guest: '$got'$(l2 vsock-missing); host listener: '$host'"; failed=1 ;;
	esac
	t=$($VP hybrid-connect $vdir/v.sock 5000 1048576 2>&1 | tr '\n' ' ')
	case $t in
	"ok 1048576 bytes echoed"*) result vsock-host-to-guest ok "$t; guest's listener: $(l2 vsock-listener)" ;;
	*) result vsock-host-to-guest fail "host client: '$t'; guest's listener: '$(l2 vsock-listener)'"; failed=1 ;;
	esac
	t=$($VP hybrid-connect $vdir/v.sock 5999 16 2>&1 | tr '\n' ' ')
	case $t in
	*"instead of OK"* | *"handshake's answer"*) result vsock-no-listener ok "CONNECT 5999: $t; scenario so far $(vb_took)s" ;;
	*) result vsock-no-listener fail "CONNECT 5999: want a hang-up without OK, got '$t'"; failed=1 ;;
	esac
	vb_end vsock
}

# The guest memory file's allocated KiB (the memfd the vcpu-worker maps):
# what the guest's RAM holds of the host's memory.
vb_ram_kib() {
	for st in /proc/[0-9]*/status; do
		p=${st%/status}
		[ "$(awk '/^Name:/ { print $2 }' "$st" 2>/dev/null)" = cellvm-vcpu ] || continue
		for fd in "$p"/fd/*; do
			case $(readlink "$fd" 2>/dev/null) in
			*memfd:cellvm-ram*) echo $(($(stat -L -c '%b * %B' "$fd") / 1024)); return ;;
			esac
		done
	done
	echo 0
}

# vb_balloon KEY: the value of KEY in `cellvmctl balloon stats`.
vb_balloon() {
	$C --socket $sock balloon stats 2>/dev/null | sed -n "s/^$1: //p"
}

# A 256 MiB guest touches all its free RAM and frees it; inflating the
# balloon by 150 MiB gives at least 64 MiB of it back to the host (the
# guest-memory memfd shrinks), the guest reports statistics, and after
# deflating the guest fills as much as before. No deflate_on_oom: the
# driver then takes its pages out of the guest's MemTotal, which is how the
# guest sees the inflation; no free_page_reporting: it would give the
# freed pages back before the balloon takes them.
scenario_balloon() {
	names="balloon-inflate balloon-stats balloon-deflate"
	[ -x $D ] && [ -x $C ] || { fail_all "cellvmd or cellvmctl missing" $names; return; }
	failed=0
	vb_t0=$(now)
	start_cellvmd balloon
	if ! vb_start balloon ', "balloon": {"amount_mib": 0, "deflate_on_oom": false, "stats_polling_interval_s": 1, "free_page_reporting": false}' balloon; then
		fail_all "Create: $(cat $T/balloon.create)" $names
		stop_cellvmd
		return
	fi
	vb_await "balloon-1 filled" "balloon-missing"
	kib0=$(vb_ram_kib)
	t0=$(now)
	$C --socket $sock balloon set 150 >$T/balloon.set 2>&1
	i=0
	until [ "$(vb_balloon actual_mib)" = 150 ] || [ $i -ge 120 ]; do
		sleep 0.5
		i=$((i + 1))
	done
	took=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	kib1=$(vb_ram_kib)
	actual=$(vb_balloon actual_mib)
	drop=$(((kib0 - kib1) / 1024))
	detail="guest touched $(l2 'balloon-1 filled') of $(l2 'balloon-1 start') in $(l2 'balloon-1 secs')s; guest RAM on the host ${kib0} KiB before, ${kib1} KiB after: ${drop} MiB given back; actual ${actual:-?} MiB after ${took}s"
	if [ "$actual" = 150 ] && [ $drop -ge 64 ]; then
		result balloon-inflate ok "$detail"
	else
		result balloon-inflate fail "$detail (want actual 150 and >= 64 MiB back) $(cat $T/balloon.set)"
		failed=1
	fi
	# Statistics, polled every second: the guest's own figures, in MiB.
	total=$(vb_balloon total_memory)
	free=$(vb_balloon free_memory)
	avail=$(vb_balloon available_memory)
	if [ -n "$total" ] && [ -n "$free" ] && [ "$total" -gt 0 ]; then
		result balloon-stats ok "total_memory $((total >> 20)) MiB, free_memory $((free >> 20)) MiB, available_memory $((${avail:-0} >> 20)) MiB; guest: $(l2 'balloon inflated')"
	else
		result balloon-stats fail "$($C --socket $sock balloon stats 2>&1 | tr '\n' ' ')"
		failed=1
	fi
	$C --socket $sock balloon set 0 >>$T/balloon.set 2>&1
	vb_await "balloon-2 filled" "balloon not-"
	kib2=$(vb_ram_kib)
	again=$(l2 'balloon-2 filled')
	detail="guest: $(l2 'balloon deflated'), touched ${again:-nothing} again in $(l2 'balloon-2 secs')s; actual $(vb_balloon actual_mib) MiB; guest RAM on the host ${kib2} KiB; scenario so far $(vb_took)s"
	# Far more than the inflated balloon left the guest (about 30 MiB).
	if [ "${again%M}" -ge 120 ] 2>/dev/null && [ "$(vb_balloon actual_mib)" = 0 ]; then
		result balloon-deflate ok "$detail"
	else
		result balloon-deflate fail "$detail (want >= 120M touched, actual 0) $(l2 'balloon not-inflated')$(l2 'balloon not-deflated')"
		failed=1
	fi
	vb_end balloon
}
