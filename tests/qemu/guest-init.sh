#!/bin/busybox sh
# /init of the QEMU interoperability guest: loads the virtio modules, then
# exercises /dev/vda (cellvm-blk), /dev/hwrng (cellvm-rng) and vsock
# (cellvm-vsock, with /bin/vsock-peer) and prints RESULT lines on the serial
# console for the host to check.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /etc/modules); do
	insmod /lib/modules/$m.ko || echo "RESULT insmod-failed $m"
done
for i in $(seq 100); do
	[ -b /dev/vda ] && [ -c /dev/hwrng ] && break
	sleep 0.1
done
echo  # the firmware left the cursor mid-line
# The host put a pattern at 1 MiB: report its checksum.
echo "RESULT host-pattern $(dd if=/dev/vda bs=4096 skip=256 count=16 2>/dev/null | md5sum | cut -d' ' -f1)"
# Write our own pattern at 64 KiB for the host to find.
i=0
while [ $i -lt 512 ]; do echo "cellvm-guest-line-$i"; i=$((i + 1)); done >/tmp/pattern
dd if=/tmp/pattern of=/dev/vda bs=4096 seek=16 conv=fsync 2>/dev/null &&
	echo "RESULT wrote $(wc -c </tmp/pattern) $(md5sum </tmp/pattern | cut -d' ' -f1)"
echo "RESULT readback $(dd if=/dev/vda bs=1 skip=65536 count=$(wc -c </tmp/pattern) 2>/dev/null | md5sum | cut -d' ' -f1)"
echo "RESULT rng-name $(cat /sys/class/misc/hw_random/rng_current 2>/dev/null)"
echo "RESULT rng $(dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n')"
# vsock: the host connects to our listener on port 5000 once it is there;
# meanwhile our own connection to the host (CID 2) port 5001.
/bin/vsock-peer listen 5000 1 </dev/null >/tmp/listener 2>&1 &
listener=$!
for i in $(seq 100); do
	grep -q listening /tmp/listener && break
	sleep 0.1
done
echo "RESULT vsock-listening"
echo "RESULT vsock-connect $(/bin/vsock-peer connect 2 5001 1048576 2>&1 | tr '\n' ' ')"
for i in $(seq 600); do
	kill -0 $listener 2>/dev/null || break
	sleep 0.1
done
echo "RESULT vsock-listener $(tr '\n' ' ' </tmp/listener)"
echo "RESULT done"
poweroff -f
