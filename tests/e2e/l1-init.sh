#!/bin/busybox sh
# /init of level 1, the Linux that QEMU emulates for the end-to-end tests:
# loads KVM (nested SVM), then runs /cellvm/scenarios.sh, which boots level-2
# guests with cellvm and prints the RESULT lines the host turns into TAP.
# Prints "E2E ..." lines for the host besides; powers off at the end.
# Kernel command line: cellvm_e2e.timeout=SECONDS (per VM run),
# cellvm_e2e.only=NAME[,NAME] (scenarios to run; default all),
# cellvm_e2e.sandbox=on|log|off (how cellvm confines itself; default on),
# cellvm_e2e_root=initramfs (stay on the initramfs; the kernel hands an
# argument without a dot to init as an environment variable).
/bin/busybox --install -s /bin
export PATH=/cellvm/bin:/bin

# The initramfs is rootfs, which pivot_root(2) refuses: unless asked to stay
# there, as diskless hosts do, move everything to a tmpfs first, as a host
# that booted from a disk has switched to its real root.
if [ "${cellvm_e2e_root:-}" != initramfs ] && [ "${E2E_STAGE:-}" != tmpfs ]; then
	mkdir /newroot
	mount -t tmpfs -o mode=755 root /newroot
	for f in /*; do
		[ "$f" = /newroot ] || cp -a "$f" /newroot/
	done
	export E2E_STAGE=tmpfs
	exec switch_root /newroot /init
fi

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
# A unified cgroup v2 host with the controllers a VM's cgroup uses
# (scenario cgroup: cellvmd --cgroup).
mount -t cgroup2 cgroup2 /sys/fs/cgroup &&
	echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control ||
	echo "E2E cgroup2-failed $(cat /sys/fs/cgroup/cgroup.controllers 2>&1)"
echo  # the kernel may have left the cursor mid-line
for m in $(cat /etc/modules); do
	insmod "/lib/modules/$m.ko" || echo "E2E insmod-failed $m"
done
# Kernel messages on the console could split a RESULT line; dmesg keeps them.
dmesg -n 1
for arg in $(cat /proc/cmdline); do
	case $arg in
	cellvm_e2e.timeout=*) export E2E_VM_TIMEOUT="${arg#*=}" ;;
	cellvm_e2e.only=*) export E2E_ONLY="${arg#*=}" ;;
	cellvm_e2e.sandbox=*) export E2E_SANDBOX="${arg#*=}" ;;
	cellvm_e2e.skip=*) export E2E_SKIP="${arg#*=}" ;;
	esac
done
# Sanitizer options and the like, from the host's environment.
[ -f /etc/e2e-env ] && . /etc/e2e-env

i=0
until [ -c /dev/kvm ] || [ $i -ge 100 ]; do
	sleep 0.1
	i=$((i + 1))
done
# A heartbeat on the second serial port: the host kills a level 1 that
# stops beating (wedged) instead of waiting for its timeout.
while echo "alive $(cut -d' ' -f1 /proc/uptime)"; do sleep 10; done >/dev/ttyS1 &
if [ -c /dev/kvm ]; then
	echo "E2E kvm-ready $(cut -d' ' -f1 /proc/uptime)"
	echo "E2E root $(awk '$2 == "/" { print $3 }' /proc/mounts | tail -1)"
	dmesg | grep -i -e kvm -e svm | sed 's/^/E2E dmesg /'
	sh /cellvm/scenarios.sh
else
	echo "RESULT kvm fail /dev/kvm did not appear: $(dmesg | grep -i -e kvm -e svm |
		tail -3 | tr '\n' ' ')"
fi
echo "E2E done $(cut -d' ' -f1 /proc/uptime)"
sync
poweroff -f
