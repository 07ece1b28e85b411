#!/bin/sh
# Scenarios `fc` and `fc-file` (sourced by scenarios.sh, run by level 1).
# fc: cellvm-fc driven only by curl on its API socket, with the calls Kata's
# runtime-rs Firecracker driver makes (boot-source, machine-config, a drive,
# vsock, InstanceStart); the guest checks its disk and powers off, and
# cellvm-fc exits; a bad machine-config gets 400 with a fault message, and
# GET / reports the state before and after InstanceStart; a host program
# reaches the guest's vsock listener through the hybrid vsock PUT /vsock
# configured (1 MiB there and back, vsock-peer). fc-file: the same
# VM from --config-file alone. fc-swap: PATCH /drives with a new
# path_on_host while the guest runs; the guest reads the new image's marker
# and size (l2-init.sh's blkswap). About 65 s each under TCG; fc is in the
# default plan, fc-file and fc-swap only when asked for.
F=/cellvm/bin/cellvm-fc
CURL=/cellvm/bin/curl
FCP="--policy-dir /cellvm/policy --sandbox ${E2E_SANDBOX:-on}"

# fc_api METHOD PATH [BODY]: "STATUS BODY" of one call on $fc_sock.
fc_api() {
	if [ $# -ge 3 ]; then
		$CURL -s --max-time 60 --unix-socket "$fc_sock" -X "$1" -H 'Content-Type: application/json' \
			-d "$3" -w '\n%{http_code}' "http://localhost$2"
	else
		$CURL -s --max-time 60 --unix-socket "$fc_sock" -X "$1" -w '\n%{http_code}' "http://localhost$2"
	fi | awk '{ l[NR] = $0 } END { b = ""; for (i = 1; i < NR; i++) b = b l[i]; print l[NR], b }'
}

# fc_disk IMG: a 16 MiB image with 64 KiB of the host's bytes at 1 MiB;
# sets $hostsum.
fc_disk() {
	rm -f "$1"
	truncate -s 16M "$1"
	head -c 65536 /dev/urandom >$T/fc-hostpat
	dd if=$T/fc-hostpat of="$1" bs=4096 seek=256 conv=notrunc 2>/dev/null
	hostsum=$(md5 <$T/fc-hostpat)
}

# fc_wait PID SECS: its exit status (the timeout kills it: 137).
fc_wait() {
	( sleep "$2"; kill -s KILL "$1" 2>/dev/null ) &
	killer=$!
	wait "$1"
	st=$?
	kill "$killer" 2>/dev/null
	return $st
}

fc_blk_checks() {
	check "$1-blk-hostpattern" "$(l2 hostpattern)" "$hostsum" "the guest reads the host's bytes"
	wrote=$(l2 wrote)
	check "$1-blk-readback" "$(l2 readback)" "${wrote#* }" "the guest reads back what it wrote"
}

scenario_fc() {
	names="fc-state-before fc-bad-machine-config fc-start fc-state-after fc-vsock fc-blk-hostpattern \
		fc-blk-readback fc-exit"
	[ -x $F ] && [ -x $CURL ] && [ -x $VP ] || { fail_all "$F, $CURL or $VP missing" $names; return; }
	failed=0
	out=$T/fc.out
	err=$T/fc.err
	fc_sock=$T/fc.sock
	img=$T/fc-disk.img
	rm -f $fc_sock $T/fc.vsock
	fc_disk $img
	t0=$(now)
	setsid $F --api-sock $fc_sock --id e2e $FCP </dev/null >$out 2>$err &
	pid=$!
	i=0
	until [ -S $fc_sock ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done

	r=$(fc_api GET /)
	case $r in
	'200 '*'"state":"Not started"'*) result fc-state-before ok "GET /: $r" ;;
	*) result fc-state-before fail "GET /: '$r'"; failed=1 ;;
	esac
	r=$(fc_api PUT /machine-config '{"mem_size_mib": 256, "vcpu_count": 0}')
	case $r in
	'400 {"fault_message":'*) result fc-bad-machine-config ok "$r" ;;
	*) result fc-bad-machine-config fail "want 400 with a fault message, got '$r'"; failed=1 ;;
	esac

	# Kata's order (runtime-rs fc_api.rs: prepare_vmm_resources, prepare_hvsock, start_vm).
	calls=
	calls="$calls $(fc_api PUT /boot-source "{\"kernel_image_path\": \"$K\", \"initrd_path\": \"$I\", \
\"boot_args\": \"console=ttyS0 quiet cellvm.test=vsockserve,blk cellvm.end=poweroff\"}" | cut -c1-3)"
	calls="$calls $(fc_api PUT /machine-config '{"mem_size_mib": 256, "vcpu_count": 1}' | cut -c1-3)"
	calls="$calls $(fc_api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$img\", \
\"is_root_device\": false, \"is_read_only\": false}" | cut -c1-3)"
	calls="$calls $(fc_api PUT /vsock "{\"guest_cid\": 3, \"uds_path\": \"$T/fc.vsock\", \"vsock_id\": \"root\"}" |
		cut -c1-3)"
	start=$(fc_api PUT /actions '{"action_type": "InstanceStart"}')
	check fc-start "$calls ${start%% *}" " 204 204 204 204 204" "boot-source machine-config drive vsock InstanceStart: $start"
	r=$(fc_api GET /)
	case $r in
	'200 '*'"state":"Running"'*) result fc-state-after ok "GET /: $r" ;;
	*) result fc-state-after fail "GET /: '$r'"; failed=1 ;;
	esac
	# The guest's listener, reached through the socket PUT /vsock named.
	i=0
	until seen vsock-listening || [ $i -ge "$timeout" ] || ! kill -0 $pid 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	t=$($VP hybrid-connect $T/fc.vsock 5000 1048576 2>&1 | tr '\n' ' ')
	case $t in
	"ok 1048576 bytes echoed"*) result fc-vsock ok "host client: $t" ;;
	*) result fc-vsock fail "host client: '$t'$(l2 vsock-missing)"; failed=1 ;;
	esac
	fc_wait $pid "$timeout"
	status=$?
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	fc_blk_checks fc
	check fc-exit "$status $([ -e $fc_sock ] && echo socket-left)" "0 " \
		"the guest powered off and cellvm-fc exited after ${elapsed}s, its socket removed"
	dump
}

# The same VM from --config-file alone (Firecracker's schema).
scenario_fc_file() {
	names="fc-file-blk-hostpattern fc-file-blk-readback fc-file-exit"
	[ -x $F ] || { fail_all "$F missing" $names; return; }
	img=$T/fc-disk.img
	out=$T/fc-file.out
	err=$T/fc-file.err
	fc_disk $img
	cat >$T/fc.json <<EOT
{
  "boot-source": { "kernel_image_path": "$K", "initrd_path": "$I",
                   "boot_args": "console=ttyS0 quiet cellvm.test=blk cellvm.end=poweroff" },
  "machine-config": { "vcpu_count": 1, "mem_size_mib": 256 },
  "drives": [ { "drive_id": "rootfs", "path_on_host": "$img", "is_root_device": false,
                "is_read_only": false } ],
  "vsock": { "guest_cid": 3, "uds_path": "$T/fc.vsock" }
}
EOT
	failed=0
	t0=$(now)
	setsid $F --config-file $T/fc.json --no-api $FCP </dev/null >$out 2>$err &
	fc_wait $! "$timeout"
	status=$?
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	fc_blk_checks fc-file
	check fc-file-exit "$status" 0 "--config-file: the guest powered off, exit after ${elapsed}s"
	dump
}

# A disk's image swapped under the running guest (PATCH /drives/{id} with a
# new path_on_host): image a (16 MiB, "cellvm-image-a" in its first sector)
# at boot, image b (32 MiB, "cellvm-image-b") once the guest has read a.
scenario_fc_swap() {
	names="fc-swap-start fc-swap-patch fc-swap-guest fc-swap-exit"
	[ -x $F ] && [ -x $CURL ] || { fail_all "$F or $CURL missing" $names; return; }
	failed=0
	out=$T/fc-swap.out
	err=$T/fc-swap.err
	fc_sock=$T/fc-swap.sock
	a=$T/fc-swap-a.img
	b=$T/fc-swap-b.img
	rm -f $fc_sock $a $b
	truncate -s 16M $a
	truncate -s 32M $b
	printf cellvm-image-a | dd of=$a conv=notrunc 2>/dev/null
	printf cellvm-image-b | dd of=$b conv=notrunc 2>/dev/null
	t0=$(now)
	setsid $F --api-sock $fc_sock --id e2e-swap $FCP </dev/null >$out 2>$err &
	pid=$!
	i=0
	until [ -S $fc_sock ] || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
	calls=
	calls="$calls $(fc_api PUT /boot-source "{\"kernel_image_path\": \"$K\", \"initrd_path\": \"$I\", \
\"boot_args\": \"console=ttyS0 quiet cellvm.test=blkswap cellvm.end=poweroff\"}" | cut -c1-3)"
	calls="$calls $(fc_api PUT /machine-config '{"mem_size_mib": 256, "vcpu_count": 1}' | cut -c1-3)"
	calls="$calls $(fc_api PUT /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$a\", \
\"is_root_device\": false, \"is_read_only\": false}" | cut -c1-3)"
	calls="$calls $(fc_api PUT /actions '{"action_type": "InstanceStart"}' | cut -c1-3)"
	check fc-swap-start "$calls" " 204 204 204 204" "boot-source machine-config drive InstanceStart"
	i=0
	until [ -n "$(l2 'blkswap before')" ] || [ $i -ge "$timeout" ] || ! kill -0 $pid 2>/dev/null; do
		sleep 1
		i=$((i + 1))
	done
	r=$(fc_api PATCH /drives/rootfs "{\"drive_id\": \"rootfs\", \"path_on_host\": \"$b\"}")
	check fc-swap-patch "${r%% *}" 204 "PATCH /drives/rootfs to image b: '$r'"
	fc_wait $pid "$timeout"
	status=$?
	elapsed=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }')
	check fc-swap-guest "$(l2 'blkswap before') / $(l2 'blkswap after')" \
		"cellvm-image-a 32768 / cellvm-image-b 65536" \
		"the guest reads image b's marker and its new size once the PATCH is answered"
	check fc-swap-exit "$status" 0 "the guest powered off, cellvm-fc exited after ${elapsed}s"
	dump
}
