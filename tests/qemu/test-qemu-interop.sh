#!/bin/sh
# Interoperability: QEMU (Debian's qemu-system-x86, TCG) is the vhost-user
# frontend of cellvm-blk, cellvm-rng and cellvm-vsock (vhost-user-vsock-pci)
# and boots Debian's stock kernel; the guest writes a pattern to /dev/vda,
# reads /dev/hwrng and echoes 1 MiB over vsock each way with vsock-peer
# (tests/e2e/vsock_peer.c); the host checks the image afterwards. Prints TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=1; echo "not ok $n - $1"; }
check() { if [ "$1" = "$2" ]; then ok "$3"; else not_ok "$3 (got '$1', want '$2')"; fi; }

for tool in qemu-system-x86_64 cpio modinfo; do
	if ! command -v $tool >/dev/null; then
		echo "1..0 # SKIP $tool not installed (apt-get install qemu-system-x86 cpio kmod)"
		exit 0
	fi
done
[ -x /bin/busybox ] || { echo "1..0 # SKIP busybox-static not installed"; exit 0; }

vp=$top_builddir/tests/e2e/vsock-peer
[ -x "$vp" ] || { echo "1..0 # SKIP tests/e2e/vsock-peer not built (make check builds it)"; exit 0; }

echo "1..9"
work=$(mktemp -d /tmp/cellvm-qemu.XXXXXX)
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

kdir=$("$top_srcdir/tests/guest/fetch-kernel.sh") || { not_ok "fetch Debian's kernel"; exit 1; }
"$top_srcdir/tests/guest/mkinitramfs.sh" "$work/initrd.gz" "$top_srcdir/tests/qemu/guest-init.sh" \
	"$kdir" -m virtio_pci -m virtio_blk -m virtio-rng -m vmw_vsock_virtio_transport \
	-f "$vp:/bin/vsock-peer" || { not_ok "build initramfs"; exit 1; }

img=$work/disk.img
truncate -s 16M "$img"
head -c 65536 /dev/urandom >"$work/hostpat"
dd if="$work/hostpat" of="$img" bs=4096 seek=256 conv=notrunc 2>/dev/null
cp "$img" "$work/before.img"

"$top_builddir/device-procs/cellvm-blk" --socket-path "$work/blk.sock" --disk "$img" \
	2>"$work/blk.log" &
blk_pid=$!
"$top_builddir/device-procs/cellvm-rng" --socket-path "$work/rng.sock" 2>"$work/rng.log" &
rng_pid=$!
# Hybrid vsock: host clients at v.sock, the guest's port 5001 at v.sock_5001,
# in a directory of its own (confined, it is the device's whole root).
mkdir "$work/vsock"
"$top_builddir/device-procs/cellvm-vsock" --socket-path "$work/vsock.sock" --guest-cid 3 \
	--uds-path "$work/vsock/v.sock" 2>"$work/vsock.log" &
vsock_pid=$!
"$vp" listen-unix "$work/vsock/v.sock_5001" 1 >"$work/vsock-host.out" 2>&1 &
listen_pid=$!
pids="$blk_pid $rng_pid $vsock_pid $listen_pid"
for i in $(seq 50); do
	[ -S "$work/blk.sock" ] && [ -S "$work/rng.sock" ] && [ -S "$work/vsock.sock" ] &&
		[ -S "$work/vsock/v.sock_5001" ] && break
	sleep 0.1
done

timeout 300 qemu-system-x86_64 -M pc,memory-backend=mem -accel tcg -cpu max -m 256M \
	-object memory-backend-memfd,id=mem,size=256M,share=on \
	-chardev socket,id=blk0,path="$work/blk.sock" -device vhost-user-blk-pci,chardev=blk0 \
	-chardev socket,id=rng0,path="$work/rng.sock" -device vhost-user-rng-pci,chardev=rng0 \
	-chardev socket,id=vsock0,path="$work/vsock.sock" \
	-device vhost-user-vsock-pci,chardev=vsock0 \
	-kernel "$kdir/vmlinuz" -initrd "$work/initrd.gz" -append "console=ttyS0 quiet" \
	-nographic -no-reboot -nodefaults -serial stdio </dev/null >"$work/serial.log" 2>&1 &
qemu_pid=$!
pids="$pids $qemu_pid"
# The host's side of the guest's listener on port 5000, once it listens.
for i in $(seq 1500); do
	grep -q "RESULT vsock-listening" "$work/serial.log" && break
	kill -0 $qemu_pid 2>/dev/null || break
	sleep 0.2
done
hybrid=$("$vp" hybrid-connect "$work/vsock/v.sock" 5000 1048576 2>&1 | tr '\n' ' ')
wait $qemu_pid
qemu_status=$?
result() { sed -n "s/.*RESULT $1 //p" "$work/serial.log" | tr -d '\r' | head -1; }

if grep -q "RESULT done" "$work/serial.log"; then
	ok "guest booted under QEMU and ran its checks"
else
	not_ok "guest booted under QEMU and ran its checks (qemu exit $qemu_status)"
	sed 's/^/# /' "$work/serial.log" | tail -40
fi
check "$(result host-pattern)" "$(md5sum <"$work/hostpat" | cut -d' ' -f1)" \
	"guest reads the host's bytes through cellvm-blk"
wrote=$(result wrote)
len=${wrote%% *}
sum=${wrote#* }
check "$(dd if="$img" bs=1 skip=65536 count="${len:-0}" 2>/dev/null | md5sum | cut -d' ' -f1)" \
	"$sum" "host finds the guest's bytes in the image"
check "$(result readback)" "$sum" "guest reads back what it wrote"
# Nothing outside the guest's write changed.
cmp -s "$work/before.img" "$img" -i 0:0 -n 65536 &&
	cmp -s "$work/before.img" "$img" -i $((65536 + ${len:-0})):$((65536 + ${len:-0})) &&
	ok "image unchanged outside the written range" ||
	not_ok "image unchanged outside the written range"
rng=$(result rng)
if [ ${#rng} -eq 64 ] && [ "$rng" != "$(printf '0%.0s' $(seq 64))" ]; then
	ok "guest reads random bytes from /dev/hwrng through cellvm-rng"
else
	not_ok "guest reads random bytes from /dev/hwrng through cellvm-rng (got '$rng')"
fi
guest=$(result vsock-connect)
host=$(tr '\n' ' ' <"$work/vsock-host.out")
case "$guest|$host" in
"ok 1048576 bytes echoed"*"|"*"echoed 1048576 bytes"*)
	ok "guest's 1 MiB to CID 2 port 5001 comes back through cellvm-vsock: $guest" ;;
*) not_ok "guest's 1 MiB to CID 2 port 5001 comes back through cellvm-vsock (guest: '$guest', host listener: '$host')" ;;
esac
case $hybrid in
"ok 1048576 bytes echoed"*)
	ok "host's 1 MiB to the guest's port 5000 comes back through cellvm-vsock: $hybrid" ;;
*) not_ok "host's 1 MiB to the guest's port 5000 comes back through cellvm-vsock (host: '$hybrid', guest: '$(result vsock-listener)')"
	sed 's/^/# /' "$work/vsock.log" | tail -20 ;;
esac
kill $listen_pid 2>/dev/null
kill -TERM $blk_pid $rng_pid $vsock_pid
st=0
wait $blk_pid || st=1
wait $rng_pid || st=1
wait $vsock_pid || st=1
pids=""
if [ $st -eq 0 ]; then ok "backends exit cleanly on SIGTERM"; else
	not_ok "backends exit cleanly on SIGTERM"
	sed 's/^/# /' "$work/blk.log" "$work/rng.log" "$work/vsock.log" | tail -20
fi
exit $failed
