#!/bin/sh
# Fetches Debian's stock kernel (the package linux-image-amd64 depends on)
# into a cache directory, once, and prints the directory that holds
# vmlinuz and lib/modules/VERSION.
#   usage: fetch-kernel.sh [CACHE_DIR]   (default: $CELLVM_CACHE or /var/tmp/cellvm-cache)
set -eu
cache=${1:-${CELLVM_CACHE:-/var/tmp/cellvm-cache}}
mkdir -p "$cache"
pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
	sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -1)
if [ -z "$pkg" ]; then
	echo "fetch-kernel: cannot resolve linux-image-amd64 (run apt-get update)" >&2
	exit 1
fi
dir="$cache/$pkg"
if [ ! -f "$dir/.done" ]; then
	tmp=$(mktemp -d "$cache/dl.XXXXXX")
	# Download the one package by its exact name: a glob would fetch every version.
	(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) || {
		echo "fetch-kernel: apt-get download $pkg failed" >&2
		rm -rf "$tmp"
		exit 1
	}
	rm -rf "$dir"
	mkdir -p "$dir"
	dpkg -x "$tmp"/*.deb "$dir/root"
	rm -rf "$tmp"
	cp "$dir"/root/boot/vmlinuz-* "$dir/vmlinuz"
	ln -s "$(ls "$dir/root/lib/modules")" "$dir/version" 2>/dev/null || true
	touch "$dir/.done"
fi
echo "$dir"
