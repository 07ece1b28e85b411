# Sourced by run-fuzz.sh and coverage.sh (set s to the source tree first):
# how a harness is built from its file alone.
#
# fuzz_sources NAME   the project sources harness NAME links: its header
#                     comment's "Links:" lines, as paths under $s; fails if
#                     there is no tests/fuzz/NAME.c
# FUZZ_INCLUDES       the -I options every harness compiles with
# FUZZ_LIBS           the libraries every harness links
fuzz_sources() {
	[ -f "$s/tests/fuzz/$1.c" ] || return 1
	sed -n '1,/\*\//p' "$s/tests/fuzz/$1.c" |
		sed -n '/^ \* Links:/,/\*\//p' | sed 's|^ \* Links:||; s|^ \*||; s|\*/||' |
		tr -s ' \n' ' ' | sed "s|\([^ ][^ ]*\)|$s/\1|g"
}

FUZZ_INCLUDES="-I$s/common -I$s/device-procs -I$s/vcpu-worker -I$s/controller -I$s/spawner -I$s/fc"
FUZZ_LIBS="-lfdt -ljson-c -lseccomp -lcap-ng -luring -lpthread"

# fuzz_boundary NAME  the trust boundary harness NAME fuzzes: its header's
#                     "Boundary:" line if it has one, else what the first
#                     file it links takes input from
fuzz_boundary() {
	b=$(sed -n '1,/\*\//s|^ \* Boundary: *||p' "$s/tests/fuzz/$1.c" | head -1)
	if [ -n "$b" ]; then
		echo "$b"
		return
	fi
	first=$(fuzz_sources "$1" | awk '{ print $1 }')
	fuzz_file_boundary "${first#"$s"/}"
}

# fuzz_file_boundary FILE  who writes the bytes FILE (a path under the source
#                          tree) parses; "trusted: ..." for input from the
#                          operator or the project itself, "-" for helpers
fuzz_file_boundary() {
	case $1 in
	common/log.c | common/fds.c | common/event_loop.c | common/iov.c | common/cli.c | \
		common/unix_sock.c | common/sandbox_mode.c | controller/json_words.c | \
		controller/json_strict.c | common/seccomp_consts.c | tests/*) echo "-" ;;
	common/seccomp_*.c) echo "trusted: policy files -> every process" ;;
	common/tap.c) echo "trusted: the operator's tap name -> cellvm-net" ;;
	controller/config.c) echo "client (tenant) -> cellvmd: Create's config" ;;
	controller/http_request.c) echo "local scraper -> cellvmd: --metrics-listen" ;;
	fc/*) echo "API client (its owner) -> cellvm-fc" ;;
	common/machine.c) echo "cellvmd -> cellvm-vcpu: the machine description" ;;
	vcpu-worker/boot_linux.c) echo "kernel image -> cellvm-vcpu" ;;
	vcpu-worker/*) echo "guest -> cellvm-vcpu" ;;
	device-procs/blk_req.c | device-procs/net_hdr.c | device-procs/balloon_parse.c)
		echo "guest -> device process" ;;
	common/virtq.c | common/guest_mem.c) echo "guest rings -> device process" ;;
	common/vsock_hybrid.c) echo "host client -> cellvm-vsock -> cellvmd: the hybrid lines" ;;
	device-procs/*) echo "frontend (cellvm-vcpu) -> device process" ;;
	common/vhost_user.c | common/msg.c) echo "vhost-user socket, either side" ;;
	common/worker_ctl.c) echo "cellvm-vcpu <-> cellvmd control socket" ;;
	common/dev_ctl.c) echo "device process <-> cellvmd control socket" ;;
	controller/*) echo "client -> cellvmd" ;;
	spawner/*) echo "cellvmd -> cellvm-spawner" ;;
	*) echo "?" ;;
	esac
}
