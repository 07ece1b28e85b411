#!/bin/sh
# Builds a gzip'd cpio initramfs: static busybox as /bin/busybox, the given
# init script as /init, the named kernel modules (and what they depend on)
# under /lib/modules with their load order in /etc/modules, and extra files.
#   usage: mkinitramfs.sh OUT INIT KERNEL_DIR [-m MODULE]... [-f SRC:DEST]...
# KERNEL_DIR is what fetch-kernel.sh printed.
set -eu
out=$1 init=$2 kdir=$3
shift 3
# busybox-static's binary: the initramfs has no libraries for a dynamic one.
busybox=/bin/busybox
moddir="$kdir/root/lib/modules/$(ls "$kdir/root/lib/modules")"
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# The archive's "." becomes the root directory of a host that stays on its
# initramfs: mktemp's 0700 would shut out every user but root.
chmod 755 "$root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc" \
	"$root/lib/modules"
cp "$busybox" "$root/bin/busybox"
cp "$init" "$root/init"
chmod 755 "$root/init"
: >"$root/etc/modules"

# Adds module $1 after its dependencies, once.
add_module() {
	local f dep
	grep -qx "$1" "$root/etc/modules" && return 0
	f=$(find "$moddir" -name "$1.ko" | head -1)
	[ -n "$f" ] || { echo "mkinitramfs: no module $1" >&2; exit 1; }
	for dep in $(modinfo -F depends "$f" | tr ',' ' '); do
		add_module "$dep"
	done
	cp "$f" "$root/lib/modules/"
	echo "$1" >>"$root/etc/modules"
}

while [ $# -gt 0 ]; do
	case $1 in
	-m) add_module "$2"; shift 2 ;;
	-f) src=${2%%:*} dest=${2#*:}
	    mkdir -p "$root$(dirname "$dest")"
	    cp -L "$src" "$root$dest"
	    shift 2 ;;
	*) echo "mkinitramfs: unknown argument $1" >&2; exit 1 ;;
	esac
done
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) >"$out"
