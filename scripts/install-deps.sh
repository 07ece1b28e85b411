#!/bin/sh
# Installs what cellvm needs on Debian 12 (or a current Ubuntu LTS) and says
# what it installs: the build, the test guests (Debian's kernel under QEMU
# with a busybox initramfs) and every test. The one list of packages: the
# README's commands and .ci/run both start here.
#   usage: scripts/install-deps.sh [--list]   (--list: print the packages, install nothing)
set -eu

packages="
build-essential autoconf automake pkg-config
libseccomp-dev libcap-ng-dev libfdt-dev libjson-c-dev liburing-dev libcriterion-dev
qemu-system-x86 busybox-static cpio kmod curl
acpica-tools
clang
"
# What each line is for, in order: the build; the libraries (configure names
# each missing one's package); the guests (curl: the e2e scenario fc's
# client of cellvm-fc's API); iasl, which checks the generated
# ACPI tables; the libFuzzer harnesses (tests/fuzz/run-fuzz.sh).

if [ "${1:-}" = "--list" ]; then
	echo $packages
	exit 0
fi
if [ $# -ne 0 ]; then
	echo "usage: $0 [--list]" >&2
	exit 2
fi
if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
	echo "install-deps: this host has no dpkg/apt: install the equivalents of: $(echo $packages)" >&2
	exit 1
fi

missing=
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing="$missing $p"
done
# The guest tests look the current kernel package up in apt's lists
# (tests/guest/fetch-kernel.sh): a machine that never ran apt-get update has
# none, and lists older than a day may name a kernel the mirror has dropped.
fresh=$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)
if [ -z "$missing" ] && [ -n "$fresh" ] && apt-cache depends linux-image-amd64 >/dev/null 2>&1; then
	echo "install-deps: all $(echo $packages | wc -w) packages are installed"
	exit 0
fi

sudo=
if [ "$(id -u)" -ne 0 ]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "install-deps: as root, run: apt-get update && apt-get install$missing" >&2
		exit 1
	fi
	sudo=sudo
fi
echo "install-deps: apt-get update"
$sudo apt-get update -qq
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
fi
