#!/bin/busybox sh
# /init of the level-2 guest that cellvm boots in the end-to-end tests: loads
# the virtio modules, does what the kernel command line asks
# (cellvm.test=all|none|TEST[,TEST]... with TEST blk, rng, net, console,
# mem, blkwrite, blkloop, blkswap, devloop, netsink, netbench, vsock,
# vsockserve, balloon or initcalls; cellvm.end=poweroff|reboot|wait; cellvm.ip=ADDR/LEN
# for netbench and netsink) and prints "L2 <key> <value>" lines on the
# serial console for the scenario in level 1.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo  # the kernel may have left the cursor mid-line
echo "L2 init"
echo "L2 uptime $(cut -d' ' -f1 /proc/uptime)"

test=none
end=poweroff
for arg in $(cat /proc/cmdline); do
	case $arg in
	cellvm.test=*) test=${arg#*=} ;;
	cellvm.end=*) end=${arg#*=} ;;
	cellvm.ip=*) netaddr=${arg#*=} ;;
	esac
done

for m in $(cat /etc/modules); do
	insmod "/lib/modules/$m.ko" || echo "L2 insmod-failed $m"
done
echo "L2 cpus $(nproc)"

md5() { md5sum | cut -d' ' -f1; }

# Runs the command given until it succeeds, for up to 10 s.
wait_for() {
	i=0
	until "$@"; do
		i=$((i + 1))
		[ $i -le 100 ] || return 1
		sleep 0.1
	done
}

# Each virtio device as name:device-id:driver.
virtio_devices() {
	list=
	for d in /sys/bus/virtio/devices/*; do
		[ -e "$d" ] || continue
		drv=$(readlink "$d/driver")
		list="$list ${d##*/}:$(cat "$d/device"):${drv##*/}"
	done
	echo "${list:- none}"
}

# /dev/hwrng exists without a backend; a read works once virtio-rng is current.
rng_ready() { grep -q virtio /sys/class/misc/hw_random/rng_current 2>/dev/null; }

test_blk() {
	if ! wait_for [ -b /dev/vda ]; then
		echo "L2 blk-missing /dev/vda"
		return
	fi
	# The host put 64 KiB of random bytes at 1 MiB.
	echo "L2 hostpattern $(dd if=/dev/vda bs=4096 skip=256 count=16 2>/dev/null | md5)"
	i=0
	while [ $i -lt 512 ]; do
		echo "cellvm-l2-line-$i"
		i=$((i + 1))
	done >/tmp/pattern
	len=$(wc -c </tmp/pattern)
	if dd if=/tmp/pattern of=/dev/vda bs=4096 seek=16 conv=fsync 2>/dev/null; then
		echo "L2 wrote $len $(md5 </tmp/pattern)"
	else
		echo "L2 write-failed"
	fi
	# Read back from the device, not from the page cache.
	echo 3 >/proc/sys/vm/drop_caches
	echo "L2 readback $(dd if=/dev/vda bs=4096 skip=16 count=$(((len + 4095) / 4096)) \
		2>/dev/null | head -c "$len" | md5)"
	# Unbind and bind the driver: the device is reset (status 0) and set up
	# again from scratch, and must still serve the same data.
	drv=/sys/bus/virtio/drivers/virtio_blk
	dev=$(ls "$drv" | grep '^virtio' | head -1)
	if [ -n "$dev" ] && echo "$dev" >"$drv/unbind" && echo "$dev" >"$drv/bind" &&
		wait_for [ -b /dev/vda ]; then
		echo "L2 reinit-readback $(dd if=/dev/vda bs=4096 skip=16 \
			count=$(((len + 4095) / 4096)) 2>/dev/null | head -c "$len" | md5)"
	else
		echo "L2 reinit-failed $dev"
	fi
}

test_rng() {
	if ! wait_for rng_ready; then
		echo "L2 rng-missing $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
		return
	fi
	echo "L2 rng $(timeout 10 head -c 32 /dev/hwrng | od -An -tx1 | tr -d ' \n')"
}

# virtio-net: the interface and the MAC the host gave it; a frame out from
# each CPU (with two queue pairs, each CPU sends on its own, XPS); the rx
# queues the driver uses.
test_net() {
	if ! wait_for [ -e /sys/class/net/eth0 ]; then
		echo "L2 net-missing"
		return
	fi
	ip link set eth0 up
	ip addr add 10.0.2.15/24 dev eth0
	# An ARP request goes out through the device; nothing needs to answer.
	for cpu in $(seq 0 $(($(nproc) - 1))); do
		pin=
		command -v taskset >/dev/null && pin="taskset -c $cpu"
		$pin arping -c 1 -w 1 -I eth0 10.0.2.2 >/dev/null 2>&1
	done
	echo "L2 net $(cat /sys/class/net/eth0/address) tx $(cat /sys/class/net/eth0/statistics/tx_packets)" \
		"queues $(ls -d /sys/class/net/eth0/queues/rx-* | wc -l)"
}

# bench-net's guest side: eth0 at cellvm.ip, and netbench (bench/netbench.c)
# serving transfers on port 5001 in the background.
test_netbench() {
	if ! wait_for [ -e /sys/class/net/eth0 ] || [ ! -x /bin/netbench ] || [ -z "${netaddr:-}" ]; then
		echo "L2 netbench-missing eth0, /bin/netbench or cellvm.ip"
		return
	fi
	ip link set eth0 up
	ip addr add "$netaddr" dev eth0
	/bin/netbench serve 5001 </dev/null &
	# The features the driver accepted, as the kernel shows them: bit 0 first.
	echo "L2 netbench ready $(cat /sys/class/net/eth0/address) features=$(cat /sys/class/net/eth0/device/features)"
}

# virtio-console: a line on hvc0, which the host reads with GetConsole.
test_console() {
	if ! wait_for [ -c /dev/hvc0 ]; then
		echo "L2 console-missing"
		return
	fi
	echo "L2 hvc0 hello from the virtio console" >/dev/hvc0
	echo "L2 console written"
}

# fill_ram KEY MIB: touches most of the guest's free RAM (a tmpfs filled
# with zeros up to MemAvailable less MIB), then frees it again; "L2 KEY
# start" and "L2 KEY filled" lines before and after.
fill_ram() {
	avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
	mkdir -p /mnt/fill
	mount -t tmpfs -o size=$((avail - $2))m fill /mnt/fill
	echo "L2 $1 start ${avail}M available"
	read -r t0 _ </proc/uptime
	head -c $(((avail - $2) << 20)) /dev/zero >/mnt/fill/zeros
	read -r t1 _ </proc/uptime
	echo "L2 $1 secs $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')"
	echo "L2 $1 filled $(du -m /mnt/fill/zeros | cut -f1)M"
	rm /mnt/fill/zeros
	umount /mnt/fill
}

# A VM whose cgroup allows less than its RAM is stopped before "L2 mem filled".
test_mem() { fill_ram mem 16; }

# virtio-vsock (scenario vsock): vsock-peer listens on port 5000 in the
# background, echoing what the host sends; then the guest's own connection
# to the host's listener (CID 2, port 5001) echoes 1 MiB.
test_vsock() {
	drv=/sys/bus/virtio/drivers/vmw_vsock_virtio_transport
	if ! ls "$drv" 2>/dev/null | grep -q '^virtio' || [ ! -x /bin/vsock-peer ]; then
		echo "L2 vsock-missing a bound $drv or /bin/vsock-peer"
		return
	fi
	/bin/vsock-peer listen 5000 </dev/null >/tmp/vsock-listener 2>&1 &
	wait_for grep -q listening /tmp/vsock-listener
	echo "L2 vsock-listener $(tr '\n' ' ' </tmp/vsock-listener)"
	echo "L2 vsock-connect $(/bin/vsock-peer connect 2 5001 1048576 2>&1 | tr '\n' ' ')"
}

# One host connection served on vsock port 5000 (scenario fc: the hybrid
# vsock cellvm-fc's PUT /vsock made), then on: "L2 vsock-listening" when
# ready, "L2 vsock-served ..." after (the host has 60 s to connect).
test_vsockserve() {
	if [ ! -x /bin/vsock-peer ]; then
		echo "L2 vsock-missing /bin/vsock-peer"
		return
	fi
	/bin/vsock-peer listen 5000 1 </dev/null >/tmp/vsock-listener 2>&1 &
	vp=$!
	wait_for grep -q listening /tmp/vsock-listener
	echo "L2 vsock-listening"
	i=0
	while kill -0 $vp 2>/dev/null && [ $i -lt 600 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill $vp 2>/dev/null
	echo "L2 vsock-served $(tr '\n' ' ' </tmp/vsock-listener)"
}

memtotal() { awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo; }

# wait_mem OP MIB: until MemTotal OP MIB (in MiB), for up to 120 s.
wait_mem() {
	i=0
	until [ "$(memtotal)" "$1" "$2" ]; do
		i=$((i + 1))
		[ $i -le 240 ] || return 1
		sleep 0.5
	done
}

# virtio-balloon (scenario balloon): every free page touched, so what the
# balloon takes was backed on the host; then the host inflates the balloon
# (without deflate_on_oom the driver takes its pages out of MemTotal) and
# deflates it, and the guest touches as much again.
test_balloon() {
	if ! ls /sys/bus/virtio/drivers/virtio_balloon 2>/dev/null | grep -q '^virtio'; then
		echo "L2 balloon-missing a bound virtio_balloon"
		return
	fi
	total=$(memtotal)
	# Without swap, a tmpfs 16 MiB short of MemAvailable left this guest
	# stalled in reclaim for minutes, then out of memory.
	fill_ram balloon-1 48
	if wait_mem -le $((total - 128)); then
		echo "L2 balloon inflated MemTotal $(memtotal)M of ${total}M"
	else
		echo "L2 balloon not-inflated MemTotal $(memtotal)M of ${total}M"
		return
	fi
	if wait_mem -ge $((total - 4)); then
		echo "L2 balloon deflated MemTotal $(memtotal)M"
		fill_ram balloon-2 48
	else
		echo "L2 balloon not-deflated MemTotal $(memtotal)M"
	fi
}

# 32 MiB of fresh data written to the disk and flushed, timed by the guest's
# clock: "L2 blkwrite BYTES SECONDS" (a rate-limited disk takes longer).
test_blkwrite() {
	if ! wait_for [ -b /dev/vda ]; then
		echo "L2 blk-missing /dev/vda"
		return
	fi
	head -c $((32 << 20)) /dev/urandom >/tmp/blkwrite
	read -r t0 _ </proc/uptime
	if dd if=/tmp/blkwrite of=/dev/vda bs=1M conv=fsync 2>/dev/null; then
		read -r t1 _ </proc/uptime
		echo "L2 blkwrite $((32 << 20)) $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')"
	else
		echo "L2 blkwrite-failed"
	fi
	rm /tmp/blkwrite
}

# For the restart scenario: for 30 s, 1 MiB chunks of fresh data written to
# the disk in turn (16 MiB, then around again), the caches dropped, each
# read back from the device and compared. "L2 blkloop start" first, then
# "L2 blkloop done CHUNKS ioerrors N mismatches M kernel-errors K" and the
# md5 of the whole disk as read back last ("L2 blkloop disk MD5").
test_blkloop() {
	if ! wait_for [ -b /dev/vda ]; then
		echo "L2 blk-missing /dev/vda"
		return
	fi
	echo "L2 blkloop start"
	read -r t0 _ </proc/uptime
	i=0 ioerr=0 bad=0
	while awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { exit !(b - a < 30) }'; do
		at=$((i % 16))
		head -c $((1 << 20)) /dev/urandom >/tmp/chunk
		if ! dd if=/tmp/chunk of=/dev/vda bs=1M seek=$at count=1 conv=fsync 2>/dev/null; then
			ioerr=$((ioerr + 1))
			echo "L2 blkloop io-error write $i"
		fi
		echo 3 >/proc/sys/vm/drop_caches
		got=$(dd if=/dev/vda bs=1M skip=$at count=1 2>/dev/null | md5) ||
			ioerr=$((ioerr + 1))
		if [ "$got" != "$(md5 </tmp/chunk)" ]; then
			bad=$((bad + 1))
			echo "L2 blkloop mismatch $i"
		fi
		i=$((i + 1))
	done
	rm /tmp/chunk
	echo 3 >/proc/sys/vm/drop_caches
	echo "L2 blkloop disk $(dd if=/dev/vda bs=1M count=16 2>/dev/null | md5)"
	kerr=$(dmesg | grep -c -i -E 'I/O error|blk_update_request|critical')
	echo "L2 blkloop done $i ioerrors $ioerr mismatches $bad kernel-errors $kerr"
}

# The disk's first sector as the device has it (not the page cache's), up
# to its first NUL, as [a-z0-9-] only.
first_sector() {
	echo 3 >/proc/sys/vm/drop_caches
	{ dd if=/dev/vda bs=512 count=1 iflag=direct 2>/dev/null ||
		dd if=/dev/vda bs=512 count=1 2>/dev/null; } | head -c 32 | tr -dc 'a-z0-9-'
}

# For the fc-swap scenario: "L2 blkswap before MARKER SECTORS" (the marker
# the host put in the first sector, the disk's size), then the first sector
# read again every 0.5 s, for up to 60 s, until the host has swapped the
# image under the running guest: "L2 blkswap after MARKER SECTORS" (the
# size as the config-change interrupt made the driver read it again), or
# "L2 blkswap unchanged".
test_blkswap() {
	if ! wait_for [ -b /dev/vda ]; then
		echo "L2 blk-missing /dev/vda"
		return
	fi
	first=$(first_sector)
	echo "L2 blkswap before $first $(cat /sys/block/vda/size)"
	i=0
	while [ $i -lt 120 ]; do
		now=$(first_sector)
		if [ "$now" != "$first" ]; then
			# The capacity is updated by a work item the interrupt queued.
			sleep 1
			echo "L2 blkswap after $now $(cat /sys/block/vda/size)"
			return
		fi
		sleep 0.5
		i=$((i + 1))
	done
	echo "L2 blkswap unchanged"
}

# For the restart scenario: for 20 s, 32 bytes from virtio-rng and a line
# to virtio-console (hvc0) every 0.2 s, each given 10 s. "L2 devloop start",
# then "L2 devloop done ROUNDS rngfail N confail M".
test_devloop() {
	if ! wait_for rng_ready || ! wait_for [ -c /dev/hvc0 ]; then
		echo "L2 devloop-missing rng or hvc0"
		return
	fi
	echo "L2 devloop start"
	read -r t0 _ </proc/uptime
	i=0 rngfail=0 confail=0
	while awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN { exit !(b - a < 20) }'; do
		n=$(timeout 10 head -c 32 /dev/hwrng | wc -c)
		[ "$n" -eq 32 ] || { rngfail=$((rngfail + 1)); echo "L2 devloop rng-short $i $n"; }
		timeout 10 sh -c "echo devloop-line-$i >/dev/hvc0" ||
			{ confail=$((confail + 1)); echo "L2 devloop console-failed $i"; }
		i=$((i + 1))
		sleep 0.2
	done
	echo "L2 devloop done $i rngfail $rngfail confail $confail"
}

# For the net restart scenario: eth0 at cellvm.ip, and one TCP connection
# on port 5001 counted: "L2 netsink ready", then "L2 netsink got BYTES"
# once the sender closes it.
test_netsink() {
	if ! wait_for [ -e /sys/class/net/eth0 ] || [ -z "${netaddr:-}" ]; then
		echo "L2 netsink-missing eth0 or cellvm.ip"
		return
	fi
	ip link set eth0 up
	ip addr add "$netaddr" dev eth0
	# nc's stdin must not end (at its end nc closes its side, and the
	# sender's nc quits at that): a FIFO this shell holds open.
	mkfifo /tmp/netsink
	(exec 3<>/tmp/netsink; echo "L2 netsink got $(nc -l -p 5001 </tmp/netsink | wc -c)") &
	echo "L2 netsink ready"
}

# Where the guest kernel's time went (bench-boot-trace; the command line has
# initcall_debug): the slowest initcalls, "L2 initcall USECS NAME", and the
# longest silences in the kernel's log, "L2 gap SECONDS AT LINE -> NEXT LINE".
test_initcalls() {
	dmesg | sed -n 's/^\[ *\([0-9.]*\)\] initcall \([^ +]*\).* returned .* after \([0-9]*\) usecs.*/\3 \2/p' |
		sort -rn | head -n 15 | sed 's/^/L2 initcall /'
	dmesg | awk '{ t = substr($0, 2, index($0, "]") - 2) + 0; l = substr($0, index($0, "]") + 2)
		if (NR > 1) printf "%.3f %.3f %s -> %s\n", t - p, t, pl, l; p = t; pl = l }' |
		sort -rn | head -n 15 | sed 's/^/L2 gap /'
}

# The modules probe synchronously, so what is bound is bound by now.
echo "L2 virtio$(virtio_devices)"
[ "$test" = all ] && test=blk,rng
for t in $(echo "$test" | tr , ' '); do
	case $t in
	blk | rng | net | console | mem | blkwrite | blkloop | blkswap | devloop | netsink | netbench | \
		vsock | vsockserve | balloon | initcalls) "test_$t" ;;
	none) ;;
	*) echo "L2 unknown-test $t" ;;
	esac
done
echo "L2 end $end"
sync
case $end in
reboot) reboot -f ;;
# Runs until the host stops the VM.
wait) echo "L2 waiting"; while :; do sleep 60; done ;;
*) poweroff -f ;;
esac
# Only reached if the kernel could not do it.
echo "L2 end-failed $end"
