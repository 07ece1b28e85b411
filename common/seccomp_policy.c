/* Seccomp policies: the parser and the compiler (the language is described
 * in policy/README.md).
 *
 * The parser takes a file line by line and checks each rule completely
 * (syscall resolved, every constant known, each argument at most once per
 * && chain) before it joins the model. The model has one entry per syscall,
 * sorted by number: "fails with errno E", "allowed", or "allowed when one of
 * these chains holds". Rules for one syscall from several lines or files
 * merge there, into what libseccomp 2.5 handles right: one action per
 * syscall (it lets an unconditional rule silently swallow another), no chain
 * another one covers (it leaks what it prunes), and !=, <, <=, >, >= only in
 * a syscall's single chain (it merges those wrongly). */
#include "seccomp_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/futex.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

_Static_assert(SP_BPF_MAX == BPF_MAXINSNS, "the kernel's limit");

#define ARGS_MAX 6          /* a syscall's arguments: arg0 .. arg5 */
#define SYSCALL_NAME_MAX 40 /* longer than any syscall's name, with the NUL */
#define ERRNO_MAX 4095      /* the kernel's MAX_ERRNO */

/* ------------------------------------------------------- named constants */

struct sp_const {
	const char *name;
	uint64_t value;
	bool is_errno; /* may follow `return` */
};

#define K(x) { #x, (uint64_t)(x), false }
#define E(x) { #x, (uint64_t)(x), true }

/* What the processes of a VMM pass as flags, commands and ioctl numbers.
 * The values come from the system's headers, so they cannot drift. */
static const struct sp_const constants[] = {
	/* mmap, mprotect, madvise, mremap, memfd_create */
	K(PROT_NONE), K(PROT_READ), K(PROT_WRITE), K(PROT_EXEC), K(PROT_GROWSDOWN),
	K(PROT_GROWSUP),
	K(MAP_SHARED), K(MAP_PRIVATE), K(MAP_SHARED_VALIDATE), K(MAP_FIXED),
	K(MAP_FIXED_NOREPLACE), K(MAP_ANONYMOUS), K(MAP_NORESERVE), K(MAP_POPULATE),
	K(MAP_STACK), K(MAP_GROWSDOWN), K(MAP_HUGETLB), K(MAP_LOCKED), K(MAP_NONBLOCK),
	K(MADV_NORMAL), K(MADV_RANDOM), K(MADV_SEQUENTIAL), K(MADV_WILLNEED), K(MADV_DONTNEED),
	K(MADV_FREE), K(MADV_REMOVE), K(MADV_DONTFORK), K(MADV_DOFORK), K(MADV_MERGEABLE),
	K(MADV_UNMERGEABLE), K(MADV_HUGEPAGE), K(MADV_NOHUGEPAGE), K(MADV_DONTDUMP),
	K(MADV_DODUMP), K(MADV_WIPEONFORK), K(MADV_KEEPONFORK), K(MADV_COLD), K(MADV_PAGEOUT),
	K(MADV_POPULATE_READ), K(MADV_POPULATE_WRITE),
	K(MREMAP_MAYMOVE), K(MREMAP_FIXED), K(MREMAP_DONTUNMAP),
	K(MFD_CLOEXEC), K(MFD_ALLOW_SEALING), K(MFD_HUGETLB),
	/* socket, socketpair, send/recv flags, socket options, shutdown */
	K(AF_UNSPEC), K(AF_UNIX), K(AF_LOCAL), K(AF_INET), K(AF_INET6), K(AF_NETLINK),
	K(AF_PACKET), K(AF_VSOCK),
	K(SOCK_STREAM), K(SOCK_DGRAM), K(SOCK_RAW), K(SOCK_SEQPACKET), K(SOCK_CLOEXEC),
	K(SOCK_NONBLOCK),
	K(MSG_OOB), K(MSG_PEEK), K(MSG_DONTROUTE), K(MSG_CTRUNC), K(MSG_TRUNC), K(MSG_DONTWAIT),
	K(MSG_EOR), K(MSG_WAITALL), K(MSG_NOSIGNAL), K(MSG_MORE), K(MSG_ERRQUEUE),
	K(MSG_CMSG_CLOEXEC),
	K(SOL_SOCKET), K(SO_TYPE), K(SO_ERROR), K(SO_PEERCRED), K(SO_PASSCRED), K(SO_SNDBUF),
	K(SO_RCVBUF), K(SO_SNDBUFFORCE), K(SO_RCVBUFFORCE), K(SO_REUSEADDR), K(SO_KEEPALIVE),
	K(SO_DOMAIN), K(SO_PROTOCOL), K(SO_ACCEPTCONN), K(SO_RCVTIMEO), K(SO_SNDTIMEO),
	K(SHUT_RD), K(SHUT_WR), K(SHUT_RDWR),
	/* fcntl, open, *at, fallocate */
	K(F_DUPFD), K(F_DUPFD_CLOEXEC), K(F_GETFD), K(F_SETFD), K(F_GETFL), K(F_SETFL),
	K(F_GETLK), K(F_SETLK), K(F_SETLKW), K(F_OFD_GETLK), K(F_OFD_SETLK), K(F_OFD_SETLKW),
	K(F_ADD_SEALS), K(F_GET_SEALS), K(F_GETPIPE_SZ), K(F_SETPIPE_SZ),
	K(F_SEAL_SEAL), K(F_SEAL_SHRINK), K(F_SEAL_GROW), K(F_SEAL_WRITE), K(F_SEAL_FUTURE_WRITE),
	K(FD_CLOEXEC),
	K(O_RDONLY), K(O_WRONLY), K(O_RDWR), K(O_ACCMODE), K(O_CREAT), K(O_EXCL), K(O_NOCTTY),
	K(O_TRUNC), K(O_APPEND), K(O_NONBLOCK), K(O_DSYNC), K(O_SYNC), K(O_DIRECT),
	K(O_LARGEFILE), K(O_DIRECTORY), K(O_NOFOLLOW), K(O_NOATIME), K(O_CLOEXEC), K(O_PATH),
	K(O_TMPFILE),
	K(AT_EMPTY_PATH), K(AT_SYMLINK_NOFOLLOW), K(AT_REMOVEDIR), K(AT_NO_AUTOMOUNT),
	K(FALLOC_FL_KEEP_SIZE), K(FALLOC_FL_PUNCH_HOLE), K(FALLOC_FL_ZERO_RANGE),
	K(FALLOC_FL_COLLAPSE_RANGE), K(FALLOC_FL_INSERT_RANGE), K(FALLOC_FL_UNSHARE_RANGE),
	/* futex: commands, and the private forms glibc uses */
	K(FUTEX_WAIT), K(FUTEX_WAKE), K(FUTEX_FD), K(FUTEX_REQUEUE), K(FUTEX_CMP_REQUEUE),
	K(FUTEX_WAKE_OP), K(FUTEX_LOCK_PI), K(FUTEX_UNLOCK_PI), K(FUTEX_TRYLOCK_PI),
	K(FUTEX_WAIT_BITSET), K(FUTEX_WAKE_BITSET), K(FUTEX_WAIT_REQUEUE_PI),
	K(FUTEX_CMP_REQUEUE_PI), K(FUTEX_LOCK_PI2), K(FUTEX_PRIVATE_FLAG),
	K(FUTEX_CLOCK_REALTIME), K(FUTEX_CMD_MASK),
	K(FUTEX_WAIT_PRIVATE), K(FUTEX_WAKE_PRIVATE), K(FUTEX_REQUEUE_PRIVATE),
	K(FUTEX_CMP_REQUEUE_PRIVATE), K(FUTEX_WAKE_OP_PRIVATE), K(FUTEX_LOCK_PI_PRIVATE),
	K(FUTEX_LOCK_PI2_PRIVATE), K(FUTEX_UNLOCK_PI_PRIVATE), K(FUTEX_TRYLOCK_PI_PRIVATE),
	K(FUTEX_WAIT_BITSET_PRIVATE), K(FUTEX_WAKE_BITSET_PRIVATE),
	K(FUTEX_WAIT_REQUEUE_PI_PRIVATE), K(FUTEX_CMP_REQUEUE_PI_PRIVATE),
	/* clone, unshare */
	K(CLONE_VM), K(CLONE_FS), K(CLONE_FILES), K(CLONE_SIGHAND), K(CLONE_PIDFD),
	K(CLONE_PTRACE), K(CLONE_VFORK), K(CLONE_PARENT), K(CLONE_THREAD), K(CLONE_NEWNS),
	K(CLONE_SYSVSEM), K(CLONE_SETTLS), K(CLONE_PARENT_SETTID), K(CLONE_CHILD_CLEARTID),
	K(CLONE_DETACHED), K(CLONE_UNTRACED), K(CLONE_CHILD_SETTID), K(CLONE_NEWCGROUP),
	K(CLONE_NEWUTS), K(CLONE_NEWIPC), K(CLONE_NEWUSER), K(CLONE_NEWPID), K(CLONE_NEWNET),
	K(CLONE_IO), K(CLONE_NEWTIME),
	/* prctl options */
	K(PR_SET_PDEATHSIG), K(PR_GET_PDEATHSIG), K(PR_GET_DUMPABLE), K(PR_SET_DUMPABLE),
	K(PR_GET_KEEPCAPS), K(PR_SET_KEEPCAPS), K(PR_SET_NAME), K(PR_GET_NAME),
	K(PR_SET_NO_NEW_PRIVS), K(PR_GET_NO_NEW_PRIVS), K(PR_SET_SECCOMP), K(PR_GET_SECCOMP),
	K(PR_CAPBSET_READ), K(PR_CAPBSET_DROP), K(PR_SET_SECUREBITS), K(PR_GET_SECUREBITS),
	K(PR_CAP_AMBIENT), K(PR_CAP_AMBIENT_IS_SET), K(PR_CAP_AMBIENT_RAISE),
	K(PR_CAP_AMBIENT_LOWER), K(PR_CAP_AMBIENT_CLEAR_ALL), K(PR_SET_TIMERSLACK),
	K(PR_SET_CHILD_SUBREAPER), K(PR_SET_THP_DISABLE), K(PR_SET_VMA),
	K(PR_SET_VMA_ANON_NAME),
	/* eventfd, timerfd, signalfd, epoll, clocks, signals, getrandom, wait */
	K(EFD_CLOEXEC), K(EFD_NONBLOCK), K(EFD_SEMAPHORE),
	K(TFD_CLOEXEC), K(TFD_NONBLOCK), K(TFD_TIMER_ABSTIME),
	K(SFD_CLOEXEC), K(SFD_NONBLOCK),
	K(EPOLL_CLOEXEC), K(EPOLL_CTL_ADD), K(EPOLL_CTL_DEL), K(EPOLL_CTL_MOD),
	K(CLOCK_REALTIME), K(CLOCK_MONOTONIC), K(CLOCK_BOOTTIME), K(CLOCK_MONOTONIC_RAW),
	K(CLOCK_REALTIME_COARSE), K(CLOCK_MONOTONIC_COARSE), K(CLOCK_PROCESS_CPUTIME_ID),
	K(CLOCK_THREAD_CPUTIME_ID),
	K(SIG_BLOCK), K(SIG_UNBLOCK), K(SIG_SETMASK),
	K(SIGHUP), K(SIGINT), K(SIGQUIT), K(SIGABRT), K(SIGKILL), K(SIGSEGV), K(SIGPIPE),
	K(SIGALRM), K(SIGTERM), K(SIGUSR1), K(SIGUSR2), K(SIGCHLD), K(SIGSYS), K(SIGBUS),
	K(SIGWINCH),
	K(GRND_NONBLOCK), K(GRND_RANDOM), K(GRND_INSECURE),
	K(WNOHANG), K(WEXITED), K(WSTOPPED), K(WCONTINUED), K(WNOWAIT), K(P_ALL), K(P_PID),
	K(RLIMIT_NOFILE), K(RLIMIT_NPROC), K(RLIMIT_CORE), K(RLIMIT_FSIZE), K(RLIMIT_AS),
	K(RLIMIT_STACK), K(RLIMIT_MEMLOCK),
	/* ioctls on sockets, ttys and block devices */
	K(FIONREAD), K(FIONBIO), K(FIOCLEX), K(FIONCLEX),
	K(TCGETS), K(TCSETS), K(TCSETSW), K(TCSETSF), K(TIOCGWINSZ), K(TIOCSWINSZ),
	K(SIOCGIFFLAGS), K(SIOCSIFFLAGS), K(SIOCGIFMTU), K(SIOCSIFMTU), K(SIOCGIFHWADDR),
	K(SIOCSIFHWADDR), K(SIOCGIFINDEX), K(SIOCINQ), K(SIOCOUTQ),
	K(BLKGETSIZE64), K(BLKGETSIZE), K(BLKSSZGET), K(BLKPBSZGET), K(BLKIOMIN), K(BLKIOOPT),
	K(BLKROGET), K(BLKFLSBUF), K(BLKDISCARD), K(BLKZEROOUT), K(BLKSECDISCARD),
	/* tun/tap: ioctls, TUNSETOFFLOAD's argument, TUNSETIFF's flags */
	K(TUNSETIFF), K(TUNGETIFF), K(TUNSETOFFLOAD), K(TUNSETVNETHDRSZ), K(TUNGETVNETHDRSZ),
	K(TUNSETQUEUE), K(TUNSETPERSIST), K(TUNGETFEATURES), K(TUNSETSNDBUF), K(TUNGETSNDBUF),
	K(TUNSETVNETLE), K(TUNGETVNETLE), K(TUNSETVNETBE), K(TUNGETVNETBE),
	K(TUN_F_CSUM), K(TUN_F_TSO4), K(TUN_F_TSO6), K(TUN_F_TSO_ECN), K(TUN_F_UFO),
	K(IFF_TUN), K(IFF_TAP), K(IFF_NO_PI), K(IFF_VNET_HDR), K(IFF_MULTI_QUEUE),
	K(IFF_ATTACH_QUEUE), K(IFF_DETACH_QUEUE),
	/* KVM: system, VM and vCPU ioctls */
	K(KVM_GET_API_VERSION), K(KVM_CREATE_VM), K(KVM_CHECK_EXTENSION),
	K(KVM_GET_VCPU_MMAP_SIZE), K(KVM_GET_SUPPORTED_CPUID), K(KVM_GET_EMULATED_CPUID),
	K(KVM_GET_MSR_INDEX_LIST), K(KVM_GET_MSR_FEATURE_INDEX_LIST),
	K(KVM_GET_SUPPORTED_HV_CPUID), K(KVM_X86_GET_MCE_CAP_SUPPORTED),
	K(KVM_CREATE_VCPU), K(KVM_SET_USER_MEMORY_REGION), K(KVM_CREATE_IRQCHIP),
	K(KVM_CREATE_PIT2), K(KVM_GET_PIT2), K(KVM_SET_PIT2), K(KVM_GET_IRQCHIP),
	K(KVM_SET_IRQCHIP), K(KVM_SET_TSS_ADDR), K(KVM_SET_IDENTITY_MAP_ADDR), K(KVM_IRQ_LINE),
	K(KVM_IRQ_LINE_STATUS), K(KVM_IRQFD), K(KVM_IOEVENTFD), K(KVM_SET_GSI_ROUTING),
	K(KVM_SIGNAL_MSI), K(KVM_GET_CLOCK), K(KVM_SET_CLOCK), K(KVM_SET_BOOT_CPU_ID),
	K(KVM_GET_DIRTY_LOG), K(KVM_REGISTER_COALESCED_MMIO), K(KVM_UNREGISTER_COALESCED_MMIO),
	K(KVM_CREATE_DEVICE), K(KVM_SET_DEVICE_ATTR), K(KVM_GET_DEVICE_ATTR),
	K(KVM_HAS_DEVICE_ATTR), K(KVM_ENABLE_CAP), K(KVM_GET_STATS_FD),
	K(KVM_RUN), K(KVM_GET_REGS), K(KVM_SET_REGS), K(KVM_GET_SREGS), K(KVM_SET_SREGS),
	K(KVM_GET_CPUID2), K(KVM_SET_CPUID2), K(KVM_GET_MSRS), K(KVM_SET_MSRS), K(KVM_GET_FPU),
	K(KVM_SET_FPU), K(KVM_GET_LAPIC), K(KVM_SET_LAPIC), K(KVM_SET_SIGNAL_MASK),
	K(KVM_GET_MP_STATE), K(KVM_SET_MP_STATE), K(KVM_GET_VCPU_EVENTS),
	K(KVM_SET_VCPU_EVENTS), K(KVM_GET_XSAVE), K(KVM_GET_XSAVE2), K(KVM_SET_XSAVE),
	K(KVM_GET_XCRS), K(KVM_SET_XCRS), K(KVM_GET_DEBUGREGS), K(KVM_SET_DEBUGREGS),
	K(KVM_SET_TSC_KHZ), K(KVM_GET_TSC_KHZ), K(KVM_KVMCLOCK_CTRL), K(KVM_NMI),
	K(KVM_INTERRUPT), K(KVM_TRANSLATE), K(KVM_SET_GUEST_DEBUG), K(KVM_X86_SETUP_MCE),
	K(KVM_X86_SET_MCE), K(KVM_GET_NESTED_STATE), K(KVM_SET_NESTED_STATE),
	K(KVM_GET_ONE_REG), K(KVM_SET_ONE_REG),
	/* KVM_CHECK_EXTENSION's and KVM_ENABLE_CAP's argument */
	K(KVM_CAP_IRQCHIP), K(KVM_CAP_HLT), K(KVM_CAP_USER_MEMORY), K(KVM_CAP_SET_TSS_ADDR),
	K(KVM_CAP_EXT_CPUID), K(KVM_CAP_NR_VCPUS), K(KVM_CAP_MAX_VCPUS), K(KVM_CAP_NR_MEMSLOTS),
	K(KVM_CAP_PIT2), K(KVM_CAP_IRQFD), K(KVM_CAP_IOEVENTFD), K(KVM_CAP_IRQ_ROUTING),
	K(KVM_CAP_SIGNAL_MSI), K(KVM_CAP_SET_IDENTITY_MAP_ADDR), K(KVM_CAP_ADJUST_CLOCK),
	K(KVM_CAP_XSAVE), K(KVM_CAP_XCRS), K(KVM_CAP_TSC_CONTROL), K(KVM_CAP_TSC_DEADLINE_TIMER),
	K(KVM_CAP_IMMEDIATE_EXIT), K(KVM_CAP_SPLIT_IRQCHIP), K(KVM_CAP_X86_DISABLE_EXITS),
	K(KVM_CAP_SET_BOOT_CPU_ID), K(KVM_CAP_VCPU_EVENTS), K(KVM_CAP_MP_STATE),
	/* seccomp user notification (--sandbox=log) */
	K(SECCOMP_IOCTL_NOTIF_RECV), K(SECCOMP_IOCTL_NOTIF_SEND), K(SECCOMP_IOCTL_NOTIF_ID_VALID),
	K(SECCOMP_IOCTL_NOTIF_ADDFD),
	/* errno values, for `return` */
	E(EPERM), E(ENOENT), E(ESRCH), E(EINTR), E(EIO), E(ENXIO), E(E2BIG), E(ENOEXEC),
	E(EBADF), E(ECHILD), E(EAGAIN), E(EWOULDBLOCK), E(ENOMEM), E(EACCES), E(EFAULT),
	E(EBUSY), E(EEXIST), E(EXDEV), E(ENODEV), E(ENOTDIR), E(EISDIR), E(EINVAL), E(ENFILE),
	E(EMFILE), E(ENOTTY), E(ETXTBSY), E(EFBIG), E(ENOSPC), E(ESPIPE), E(EROFS), E(EMLINK),
	E(EPIPE), E(EDOM), E(ERANGE), E(ENAMETOOLONG), E(ENOSYS), E(ENOTEMPTY), E(ELOOP),
	E(ENODATA), E(ENOTSOCK), E(ENOPROTOOPT), E(EPROTONOSUPPORT), E(ENOTSUP),
	E(EOPNOTSUPP), E(EAFNOSUPPORT), E(EADDRINUSE), E(ENETDOWN), E(ECONNRESET),
	E(ENOTCONN), E(ETIMEDOUT), E(ECONNREFUSED), E(ECANCELED),
};

static const struct sp_const *constant(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(constants) / sizeof(constants[0]); i++)
		if (strlen(constants[i].name) == len && !memcmp(constants[i].name, s, len))
			return &constants[i];
	return NULL;
}

/* ------------------------------------------------------------- the model */

/* Comparisons that must all hold, at most one per argument, kept sorted by
 * argument so that chains compare comparison by comparison. */
struct chain {
	unsigned n;
	struct scmp_arg_cmp c[ARGS_MAX];
};

struct sp_syscall {
	int nr;
	char name[SYSCALL_NAME_MAX];
	int errnum;            /* > 0: fails with this errno; 0: allowed */
	bool any;              /* allowed whatever the arguments */
	bool solo;             /* a chain uses !=, <, <=, > or >=: it must stay alone */
	struct chain *chains;  /* else allowed when one of these holds */
	size_t nchains, cap;
	char where[SP_NAME_MAX + 16]; /* "file:line" of its first rule */
};

struct sp_policy {
	struct sp_syscall *sc; /* sorted by nr */
	size_t n, cap;
	size_t alternatives;   /* chains over all syscalls */
};

/* Every comparison of a is in b: b allows nothing a does not. */
static bool chain_covers(const struct chain *a, const struct chain *b)
{
	unsigned j = 0;
	for (unsigned i = 0; i < a->n; i++) {
		while (j < b->n && b->c[j].arg < a->c[i].arg)
			j++;
		if (j == b->n || b->c[j].arg != a->c[i].arg || b->c[j].op != a->c[i].op ||
		    b->c[j].datum_a != a->c[i].datum_a || b->c[j].datum_b != a->c[i].datum_b)
			return false;
	}
	return true;
}

/* The entry for nr, or where it would go. */
static size_t find_syscall(const struct sp_policy *p, int nr, bool *found)
{
	size_t lo = 0, hi = p->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (p->sc[mid].nr < nr)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = lo < p->n && p->sc[lo].nr == nr;
	return lo;
}

/* ------------------------------------------------------------ the parser */

struct parser {
	sp_reader read;
	void *opaque;
	struct sp_policy *pol;
	char *err;
	size_t errlen;
	const char *open[SP_INCLUDE_DEPTH + 1]; /* files being read, the top one first */
	unsigned depth;
	char **done; /* files read to the end: an @include of one again adds nothing */
	size_t ndone;
};

__attribute__((format(printf, 4, 5))) static void say(struct parser *ps, const char *file,
						       unsigned line, const char *fmt, ...)
{
	if (!ps->err || !ps->errlen)
		return;
	int n = line ? snprintf(ps->err, ps->errlen, "%s:%u: ", file, line)
		     : snprintf(ps->err, ps->errlen, "%s: ", file);
	if (n < 0 || (size_t)n >= ps->errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

#define fail(ps, file, line, ...) (say(ps, file, line, __VA_ARGS__), -EINVAL)

static const char *errtext(int e)
{
	const char *s = strerrordesc_np(e);
	return s ? s : "unknown error";
}

/* Up to 48 bytes of s for a message, anything but printable ASCII as '?'. */
struct shown {
	char s[64];
};

static const char *show(struct shown *b, const char *s, size_t len)
{
	size_t n = len < 48 ? len : 48;
	for (size_t i = 0; i < n; i++)
		b->s[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	strcpy(b->s + n, len > n ? "..." : "");
	return b->s;
}

/* "ENOENT" for 2, or the number. */
static const char *errname(struct shown *b, int e)
{
	const char *s = strerrorname_np(e);
	if (s)
		return s;
	snprintf(b->s, sizeof(b->s), "%d", e);
	return b->s;
}

static bool valid_name(const char *s, size_t len)
{
	if (!len || len > SP_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

/* --- tokens of one line (its comment already cut off) */

enum tok {
	T_END, T_WORD, T_NUM, T_EQ, T_NE, T_LT, T_LE, T_GT, T_GE, T_AND, T_OR, T_BOR,
	T_TILDE, T_COLON, T_BAD,
};

struct token {
	enum tok t;
	const char *s;
	size_t len;
	uint64_t num; /* T_NUM */
	bool bad;     /* T_NUM: not a number, or past 64 bits */
};

struct lexer {
	const char *p, *end;
};

static bool is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_';
}

/* Decimal, or hex after 0x; no octal (a leading 0 is refused, not misread). */
static void number(struct token *t)
{
	unsigned base = 10;
	size_t i = 0;
	if (t->len > 2 && t->s[0] == '0' && (t->s[1] == 'x' || t->s[1] == 'X')) {
		base = 16;
		i = 2;
	} else if (t->len > 1 && t->s[0] == '0') {
		t->bad = true;
		return;
	}
	uint64_t v = 0;
	for (; i < t->len; i++) {
		/* -1, not a digit, becomes too large for any base */
		unsigned d = (unsigned)cli_hex_digit(t->s[i]);
		if (d >= base || v > (UINT64_MAX - d) / base) {
			t->bad = true;
			return;
		}
		v = v * base + d;
	}
	t->num = v;
}

static struct token lex(struct lexer *lx)
{
	while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t'))
		lx->p++;
	struct token t = { .t = T_END, .s = lx->p, .len = 0 };
	if (lx->p == lx->end)
		return t;
	const char *p = lx->p;
	char c = *p, c2 = p + 1 < lx->end ? p[1] : '\0';
	if (is_word(c)) {
		while (p < lx->end && is_word(*p))
			p++;
		t.len = (size_t)(p - lx->p);
		t.t = c >= '0' && c <= '9' ? T_NUM : T_WORD;
		if (t.t == T_NUM)
			number(&t);
		lx->p = p;
		return t;
	}
	static const struct {
		char s[3];
		enum tok t;
	} ops[] = {
		{ "==", T_EQ },	 { "!=", T_NE }, { "<=", T_LE }, { ">=", T_GE },
		{ "&&", T_AND }, { "||", T_OR }, { "<", T_LT },	 { ">", T_GT },
		{ "|", T_BOR },	 { "~", T_TILDE }, { ":", T_COLON },
	};
	t.t = T_BAD;
	t.len = 1;
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		size_t n = ops[i].s[1] ? 2 : 1;
		if (c == ops[i].s[0] && (n == 1 || c2 == ops[i].s[1])) {
			t.t = ops[i].t;
			t.len = n;
			break;
		}
	}
	lx->p += t.len;
	return t;
}

static struct token peek(const struct lexer *lx)
{
	struct lexer copy = *lx;
	return lex(&copy);
}

/* How a token reads in a message. */
static const char *what(struct shown *b, const struct token *t)
{
	if (t->t == T_END)
		return "the end of the line";
	if (t->t == T_BAD && !(*t->s >= 0x20 && *t->s < 0x7f)) {
		snprintf(b->s, sizeof(b->s), "byte 0x%02x", (unsigned char)*t->s);
		return b->s;
	}
	struct shown q;
	size_t n = strlen(show(&q, t->s, t->len)); /* at most 51 */
	b->s[0] = '"';
	memcpy(b->s + 1, q.s, n);
	strcpy(b->s + 1 + n, "\"");
	return b->s;
}

static bool word_is(const struct token *t, const char *w)
{
	return t->t == T_WORD && strlen(w) == t->len && !memcmp(t->s, w, t->len);
}

/* --- one rule */

struct line {
	struct parser *ps;
	const char *file;
	unsigned no;
	struct lexer lx;
};

#define lfail(l, ...) fail((l)->ps, (l)->file, (l)->no, __VA_ARGS__)

/* A value: NUMBER or NAME, or several joined by '|'. */
static int value(struct line *l, struct token t, uint64_t *out)
{
	struct shown b;
	uint64_t v = 0;
	for (;;) {
		if (t.t == T_NUM && t.bad)
			return lfail(l, "bad number %s (decimal or 0x hex, at most 64 bits)",
				     what(&b, &t));
		if (t.t == T_NUM) {
			v |= t.num;
		} else if (t.t == T_WORD) {
			const struct sp_const *k = constant(t.s, t.len);
			if (!k)
				return lfail(l, "unknown constant %s", what(&b, &t));
			v |= k->value;
		} else {
			return lfail(l, "expected a number or a constant, got %s", what(&b, &t));
		}
		if (peek(&l->lx).t != T_BOR)
			break;
		lex(&l->lx);
		t = lex(&l->lx);
	}
	*out = v;
	return 0;
}

/* argN OP VALUE, or argN in [~]VALUE, added to ch in argument order. */
static int comparison(struct line *l, struct token t, struct chain *ch)
{
	struct shown b;
	if (!(t.t == T_WORD && t.len == 4 && !memcmp(t.s, "arg", 3) && t.s[3] >= '0' &&
	      t.s[3] <= '9'))
		return lfail(l, "expected a condition on arg0..arg5, 1 or return ERRNO, got %s",
			     what(&b, &t));
	unsigned arg = (unsigned)(t.s[3] - '0');
	if (arg >= ARGS_MAX)
		return lfail(l, "arg%u: a syscall's arguments are arg0 to arg5", arg);
	for (unsigned i = 0; i < ch->n; i++)
		if (ch->c[i].arg == arg) /* libseccomp takes one comparison per argument */
			return lfail(l, "arg%u used twice in one && chain", arg);
	static const struct {
		enum tok t;
		enum scmp_compare op;
	} ops[] = {
		{ T_EQ, SCMP_CMP_EQ }, { T_NE, SCMP_CMP_NE }, { T_LT, SCMP_CMP_LT },
		{ T_LE, SCMP_CMP_LE }, { T_GT, SCMP_CMP_GT }, { T_GE, SCMP_CMP_GE },
	};
	struct scmp_arg_cmp c = { .arg = arg };
	struct token op = lex(&l->lx);
	bool cmp = false; /* one of the six comparisons, not `in` */
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]) && !cmp; i++)
		if ((cmp = op.t == ops[i].t))
			c.op = ops[i].op;
	uint64_t v;
	int r;
	if (cmp) {
		if ((r = value(l, lex(&l->lx), &v)) < 0)
			return r;
		c.datum_a = v;
	} else if (word_is(&op, "in")) {
		t = lex(&l->lx);
		bool inverted = t.t == T_TILDE;
		if (inverted)
			t = lex(&l->lx);
		if ((r = value(l, t, &v)) < 0)
			return r;
		/* in ~V: no bit of V set; in V: no bit outside V set */
		c.op = SCMP_CMP_MASKED_EQ;
		c.datum_a = inverted ? v : ~v;
		c.datum_b = 0;
	} else {
		return lfail(l, "expected ==, !=, <, <=, >, >= or in after arg%u, got %s", arg,
			     what(&b, &op));
	}
	unsigned i = ch->n++;
	for (; i > 0 && ch->c[i - 1].arg > arg; i--)
		ch->c[i] = ch->c[i - 1];
	ch->c[i] = c;
	return 0;
}

/* An OR of && chains, to the end of the line; *chains is malloc'd. */
static int expression(struct line *l, struct token t, struct chain **chains, size_t *n)
{
	struct shown b;
	size_t cap = 0;
	*chains = NULL;
	*n = 0;
	for (;;) {
		if (*n == cap) {
			size_t ncap = cap ? cap * 2 : 4;
			struct chain *nv = realloc(*chains, ncap * sizeof(**chains));
			if (!nv)
				return -ENOMEM;
			*chains = nv;
			cap = ncap;
		}
		struct chain *ch = &(*chains)[(*n)++];
		ch->n = 0;
		for (;;) {
			int r = comparison(l, t, ch);
			if (r < 0)
				return r;
			t = lex(&l->lx);
			if (t.t != T_AND)
				break;
			t = lex(&l->lx);
		}
		if (t.t == T_END)
			return 0;
		if (t.t != T_OR)
			return lfail(l, "expected &&, || or the end of the line, got %s",
				     what(&b, &t));
		t = lex(&l->lx);
	}
}

/* libseccomp 2.5 builds one tree of a syscall's rules that is right only
 * while they compare with == and masked == (`in`): with the others in two
 * rules it can let through what no rule allows, or loop forever. */
#define SOLO_WHY                                                                          \
	"libseccomp 2.5 combines those across alternatives wrongly; use == and in, or one " \
	"alternative"

static bool needs_solo(const struct chain *ch)
{
	for (unsigned i = 0; i < ch->n; i++)
		if (ch->c[i].op != SCMP_CMP_EQ && ch->c[i].op != SCMP_CMP_MASKED_EQ)
			return true;
	return false;
}

/* Adds c to the alternatives v[0..*n) (room for one more), keeping only the
 * most general ones: libseccomp leaks what it prunes when one rule makes
 * another redundant. */
static void merge_chain(struct chain *v, size_t *n, const struct chain *c)
{
	for (size_t j = 0; j < *n; j++)
		if (chain_covers(&v[j], c))
			return;
	size_t kept = 0;
	for (size_t j = 0; j < *n; j++)
		if (!chain_covers(c, &v[j]))
			v[kept++] = v[j];
	v[kept++] = *c;
	*n = kept;
}

static int add_chains(struct line *l, struct sp_syscall *sc, const struct chain *v, size_t n)
{
	struct sp_policy *p = l->ps->pol;
	for (size_t i = 0; i < n; i++) {
		if (sc->nchains == sc->cap) {
			size_t ncap = sc->cap ? sc->cap * 2 : 4;
			struct chain *nv = realloc(sc->chains, ncap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			sc->chains = nv;
			sc->cap = ncap;
		}
		size_t before = sc->nchains;
		merge_chain(sc->chains, &sc->nchains, &v[i]);
		p->alternatives = p->alternatives - before + sc->nchains;
		if (p->alternatives > SP_ALTERNATIVES_MAX)
			return lfail(l, "more than %d alternatives with argument checks in the "
					"policy",
				     SP_ALTERNATIVES_MAX);
		sc->solo = false;
		for (size_t j = 0; j < sc->nchains; j++)
			sc->solo |= needs_solo(&sc->chains[j]);
		if (sc->nchains > 1 && sc->solo)
			return lfail(l, "%s: more than one alternative, and one uses !=, <, <=, > "
					"or >= (first rule at %s): " SOLO_WHY,
				     sc->name, sc->where);
	}
	return 0;
}

/* Merges one line's rule into the model: errnum > 0 for `return`, else
 * allowed always (any) or when one of chains[0..n) holds. */
static int add_rule(struct line *l, int nr, const char *name, int errnum, bool any,
		    const struct chain *chains, size_t n)
{
	struct sp_policy *p = l->ps->pol;
	bool found;
	size_t i = find_syscall(p, nr, &found);
	if (found) {
		struct sp_syscall *sc = &p->sc[i];
		struct shown e1, e2;
		if (errnum && !sc->errnum)
			return lfail(l, "%s: return here, but allowed at %s: a syscall is either "
					"allowed or made to fail",
				     name, sc->where);
		if (!errnum && sc->errnum)
			return lfail(l, "%s: allowed here, but made to fail with return at %s: a "
					"syscall is either allowed or made to fail",
				     name, sc->where);
		if (sc->errnum != errnum)
			return lfail(l, "%s: return %s here, but return %s at %s", name,
				     errname(&e1, errnum), errname(&e2, sc->errnum), sc->where);
	} else {
		if (p->n == p->cap) {
			size_t ncap = p->cap ? p->cap * 2 : 32;
			struct sp_syscall *nv = realloc(p->sc, ncap * sizeof(*nv));
			if (!nv)
				return -ENOMEM;
			p->sc = nv;
			p->cap = ncap;
		}
		memmove(&p->sc[i + 1], &p->sc[i], (p->n - i) * sizeof(p->sc[0]));
		p->n++;
		struct sp_syscall *sc = &p->sc[i];
		*sc = (struct sp_syscall){ .nr = nr, .errnum = errnum };
		snprintf(sc->name, sizeof(sc->name), "%s", name);
		snprintf(sc->where, sizeof(sc->where), "%s:%u", l->file, l->no);
	}
	struct sp_syscall *sc = &p->sc[i];
	if (errnum || sc->any)
		return 0;
	if (any) { /* `: 1` anywhere: the argument checks no longer matter */
		sc->any = true;
		p->alternatives -= sc->nchains;
		free(sc->chains);
		sc->chains = NULL;
		sc->nchains = sc->cap = 0;
		sc->solo = false;
		return 0;
	}
	return add_chains(l, sc, chains, n);
}

/* SYSCALL ':' ( 1 | return ERRNO | expression ) */
static int rule(struct line *l, struct token t)
{
	struct shown b;
	if (t.t != T_WORD)
		return lfail(l, "expected a syscall name or @include, got %s", what(&b, &t));
	char name[SYSCALL_NAME_MAX] = "";
	if (t.len < sizeof(name))
		memcpy(name, t.s, t.len);
	int nr = name[0] ? seccomp_syscall_resolve_name(name) : __NR_SCMP_ERROR;
	if (nr == __NR_SCMP_ERROR)
		return lfail(l, "unknown syscall %s", what(&b, &t));
	if (nr < 0) /* libseccomp knows it from another arch */
		return lfail(l, "%s is not a syscall on this architecture", what(&b, &t));
	struct token c = lex(&l->lx);
	if (c.t != T_COLON)
		return lfail(l, "expected ':' after %s, got %s", name, what(&b, &c));

	t = lex(&l->lx);
	int errnum = 0;
	if (t.t == T_NUM && !t.bad && t.num == 1) {
		t = lex(&l->lx);
		if (t.t != T_END)
			return lfail(l, "expected the end of the line after 1, got %s",
				     what(&b, &t));
		return add_rule(l, nr, name, 0, true, NULL, 0);
	}
	if (word_is(&t, "return")) {
		t = lex(&l->lx);
		const struct sp_const *k = t.t == T_WORD ? constant(t.s, t.len) : NULL;
		if (t.t == T_WORD && (!k || !k->is_errno))
			return lfail(l, "unknown errno %s", what(&b, &t));
		if (k)
			errnum = (int)k->value;
		else if (t.t == T_NUM && !t.bad && t.num >= 1 && t.num <= ERRNO_MAX)
			errnum = (int)t.num;
		else
			return lfail(l, "expected an errno name or number (1 to %d) after return, "
					"got %s",
				     ERRNO_MAX, what(&b, &t));
		t = lex(&l->lx);
		if (t.t != T_END)
			return lfail(l, "expected the end of the line after the errno, got %s",
				     what(&b, &t));
		return add_rule(l, nr, name, errnum, false, NULL, 0);
	}
	struct chain *chains;
	size_t n;
	int r = expression(l, t, &chains, &n);
	if (r == 0)
		r = add_rule(l, nr, name, 0, false, chains, n);
	free(chains);
	return r;
}

/* --- files and @include */

static int parse_file(struct parser *ps, const char *name, const char *from, unsigned from_line);

static int include(struct line *l, const char *s, size_t len)
{
	struct parser *ps = l->ps;
	struct shown b;
	if (!valid_name(s, len))
		return lfail(l, "@include \"%s\": a policy is named by a file name in the same "
				"directory ([A-Za-z0-9._-], at most %d bytes, no leading '.')",
			     show(&b, s, len), SP_NAME_MAX);
	char name[SP_NAME_MAX + 1];
	memcpy(name, s, len);
	name[len] = '\0';
	for (unsigned i = 0; i < ps->depth; i++)
		if (!strcmp(ps->open[i], name))
			return lfail(l, "@include loops back to %s", name);
	for (size_t i = 0; i < ps->ndone; i++)
		if (!strcmp(ps->done[i], name))
			return 0;
	if (ps->depth > SP_INCLUDE_DEPTH)
		return lfail(l, "@include %s: nested more than %d deep", name, SP_INCLUDE_DEPTH);
	return parse_file(ps, name, l->file, l->no);
}

static bool blank(char c)
{
	return c == ' ' || c == '\t';
}

static int parse_line(struct parser *ps, const char *file, unsigned no, const char *s, size_t len)
{
	const char *hash = memchr(s, '#', len);
	struct line l = { .ps = ps, .file = file, .no = no, .lx = { s, hash ? hash : s + len } };
	while (l.lx.p < l.lx.end && blank(*l.lx.p))
		l.lx.p++;
	if (l.lx.p == l.lx.end)
		return 0;
	if (*l.lx.p != '@')
		return rule(&l, lex(&l.lx));

	struct shown b;
	const char *p = l.lx.p, *end = l.lx.end, *w = p;
	while (p < end && !blank(*p))
		p++;
	if ((size_t)(p - w) != strlen("@include") || memcmp(w, "@include", (size_t)(p - w)))
		return lfail(&l, "unknown directive \"%s\"", show(&b, w, (size_t)(p - w)));
	while (p < end && blank(*p))
		p++;
	const char *nm = p;
	while (p < end && !blank(*p))
		p++;
	size_t nlen = (size_t)(p - nm);
	while (p < end && blank(*p))
		p++;
	if (!nlen)
		return lfail(&l, "@include needs a file name");
	if (p < end)
		return lfail(&l, "unexpected \"%s\" after the file name",
			     show(&b, p, (size_t)(end - p)));
	return include(&l, nm, nlen);
}

static int parse_text(struct parser *ps, const char *name, const char *text, size_t len)
{
	if (len > SP_FILE_MAX)
		return fail(ps, name, 0, "larger than %u KiB", SP_FILE_MAX >> 10);
	unsigned no = 0;
	for (size_t off = 0; off < len;) {
		const char *s = text + off, *nl = memchr(s, '\n', len - off);
		size_t n = nl ? (size_t)(nl - s) : len - off;
		off += n + (nl != NULL);
		no++;
		if (n > SP_LINE_MAX)
			return fail(ps, name, no, "line longer than %d bytes", SP_LINE_MAX);
		if (memchr(s, '\0', n))
			return fail(ps, name, no, "NUL byte");
		int r = parse_line(ps, name, no, s, n);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_file(struct parser *ps, const char *name, const char *from, unsigned from_line)
{
	char *text = NULL;
	size_t len = 0;
	int r = ps->read(ps->opaque, name, &text, &len);
	if (r < 0) {
		if (from)
			say(ps, from, from_line, "@include %s: %s", name, errtext(-r));
		else
			say(ps, name, 0, "%s", errtext(-r));
		return r;
	}
	ps->open[ps->depth++] = name;
	r = parse_text(ps, name, text, len);
	ps->depth--;
	free(text);
	if (r < 0)
		return r;
	char **nv = realloc(ps->done, (ps->ndone + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	ps->done = nv;
	if (!(ps->done[ps->ndone] = strdup(name)))
		return -ENOMEM;
	ps->ndone++;
	return 0;
}

int sp_parse(const char *name, sp_reader read, void *opaque, struct sp_policy **out, char *err,
	     size_t errlen)
{
	struct parser ps = { .read = read, .opaque = opaque, .err = err, .errlen = errlen };
	if (err && errlen)
		err[0] = '\0';
	struct shown b;
	if (!valid_name(name, strlen(name)))
		return fail(&ps, show(&b, name, strlen(name)), 0,
			    "a policy is named by a file name ([A-Za-z0-9._-], at most %d bytes, "
			    "no leading '.')",
			    SP_NAME_MAX);
	if (!(ps.pol = calloc(1, sizeof(*ps.pol))))
		return -ENOMEM;
	int r = parse_file(&ps, name, NULL, 0);
	for (size_t i = 0; i < ps.ndone; i++)
		free(ps.done[i]);
	free(ps.done);
	if (r == -ENOMEM)
		say(&ps, name, 0, "out of memory");
	if (r < 0) {
		sp_free(ps.pol);
		return r;
	}
	*out = ps.pol;
	return 0;
}

void sp_free(struct sp_policy *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		free(p->sc[i].chains);
	free(p->sc);
	free(p);
}

size_t sp_syscall_count(const struct sp_policy *p)
{
	return p->n;
}

const char *sp_syscall_name(const struct sp_policy *p, size_t i)
{
	return i < p->n ? p->sc[i].name : NULL;
}

int sp_read_file(void *dir, const char *name, char **text, size_t *len)
{
	if (strchr(name, '/'))
		return -EINVAL;
	char path[4096];
	int n = snprintf(path, sizeof(path), "%s/%s", (const char *)dir, name);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -ENAMETOOLONG;
	/* O_NONBLOCK: a FIFO put in the policy directory must not hang the open */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int r = 0;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
		goto out;
	}
	/* One byte more than allowed, to see a file that is too large (or grew). */
	if (!(buf = malloc(SP_FILE_MAX + 1))) {
		r = -ENOMEM;
		goto out;
	}
	while (got <= SP_FILE_MAX) {
		ssize_t k = read(fd, buf + got, SP_FILE_MAX + 1 - got);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			goto out;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	if (got > SP_FILE_MAX) {
		r = -EFBIG;
		goto out;
	}
	*text = buf;
	*len = got;
	buf = NULL;
out:
	free(buf);
	close(fd);
	return r;
}

/* ---------------------------------------------------------- the compiler */

/* What the --sandbox=log notifier thread (common/sandbox.c) calls once the
 * filter is loaded: it must never wait for an answer to its own syscall. */
static const struct {
	const char *name;
	int nr;
	bool check;    /* allowed only for this arg1 */
	uint64_t arg1;
} notifier_calls[] = {
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOCTL_NOTIF_RECV },
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOCTL_NOTIF_SEND },
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOCTL_NOTIF_ID_VALID },
	/* the number before Linux 5.17 fixed its direction; libseccomp tries both */
	{ "ioctl", SCMP_SYS(ioctl), true, SECCOMP_IOR(2, __u64) },
	{ "read", SCMP_SYS(read), false, 0 },   /* the hand-over of the notification fd */
	{ "close", SCMP_SYS(close), false, 0 }, /* and of its socket */
	{ "write", SCMP_SYS(write), false, 0 }, /* its log lines */
	{ "exit_group", SCMP_SYS(exit_group), false, 0 }, /* when the notification fd breaks */
};
#define NOTIFIER_CALLS (sizeof(notifier_calls) / sizeof(notifier_calls[0]))

__attribute__((format(printf, 3, 4))) static void cfail(char *err, size_t errlen,
							 const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static const struct sp_syscall *lookup(const struct sp_policy *p, int nr)
{
	bool found;
	size_t i = find_syscall(p, nr, &found);
	return found ? &p->sc[i] : NULL;
}

/* Everything the filter says about nr: the policy's rule, and for
 * SP_DEFAULT_NOTIFY what the notifier needs of it. */
static int add_syscall(scmp_filter_ctx ctx, const struct sp_policy *p, int nr,
		       enum sp_default def)
{
	const struct sp_syscall *sc = lookup(p, nr);
	if (sc && sc->errnum)
		return seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO((uint32_t)sc->errnum), nr, 0);
	bool any = sc && sc->any;
	for (size_t i = 0; def == SP_DEFAULT_NOTIFY && i < NOTIFIER_CALLS; i++)
		any |= notifier_calls[i].nr == nr && !notifier_calls[i].check;
	if (any)
		return seccomp_rule_add_exact(ctx, SCMP_ACT_ALLOW, nr, 0);
	size_t n = sc ? sc->nchains : 0;
	struct chain *v = malloc((n + NOTIFIER_CALLS) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	if (n)
		memcpy(v, sc->chains, n * sizeof(*v));
	for (size_t i = 0; def == SP_DEFAULT_NOTIFY && i < NOTIFIER_CALLS; i++) {
		struct chain c = { 1, { { 1, SCMP_CMP_EQ, notifier_calls[i].arg1, 0 } } };
		if (notifier_calls[i].nr == nr)
			merge_chain(v, &n, &c);
	}
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = seccomp_rule_add_exact_array(ctx, SCMP_ACT_ALLOW, nr, v[i].n, v[i].c);
	free(v);
	return r;
}

/* The filter's length in instructions, as seccomp_load would hand it over. */
static int bpf_length(scmp_filter_ctx ctx, size_t *insns)
{
	int fd = memfd_create("seccomp-bpf", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = seccomp_export_bpf(ctx, fd);
	if (r == 0) {
		off_t end = lseek(fd, 0, SEEK_END);
		if (end < 0)
			r = -errno;
		else
			*insns = (size_t)end / sizeof(struct sock_filter);
	}
	close(fd);
	return r;
}

int sp_compile(const struct sp_policy *p, enum sp_default def, scmp_filter_ctx *out, char *err,
	       size_t errlen)
{
	uint32_t act;
	switch (def) {
	case SP_DEFAULT_TRAP: act = SCMP_ACT_TRAP; break;
	case SP_DEFAULT_KILL: act = SCMP_ACT_KILL_PROCESS; break;
	case SP_DEFAULT_NOTIFY: act = SCMP_ACT_NOTIFY; break;
	case SP_DEFAULT_LOG: act = SCMP_ACT_LOG; break;
	default:
		cfail(err, errlen, "unknown default action %d", (int)def);
		return -EINVAL;
	}
	if (def == SP_DEFAULT_NOTIFY) {
		for (size_t i = 0; i < NOTIFIER_CALLS; i++) {
			const struct sp_syscall *sc = lookup(p, notifier_calls[i].nr);
			if (sc && sc->errnum) {
				cfail(err, errlen, "%s: the policy makes it fail (%s), but the "
						   "--sandbox=log notifier needs it",
				      sc->name, sc->where);
				return -EINVAL;
			}
			if (sc && !sc->any && sc->solo && notifier_calls[i].check) {
				cfail(err, errlen,
				      "%s: its alternative (%s) uses !=, <, <=, > or >=, and the "
				      "--sandbox=log notifier adds more: " SOLO_WHY,
				      sc->name, sc->where);
				return -EINVAL;
			}
		}
		/* 6: notification and TSYNC together (kernel 5.7, libseccomp 2.5) */
		unsigned api = seccomp_api_get();
		if (api < 6) {
			cfail(err, errlen, "--sandbox=log needs seccomp API level 6, this "
					   "libseccomp and kernel give %u", api);
			return -EOPNOTSUPP;
		}
	}
	scmp_filter_ctx ctx = seccomp_init(act);
	if (!ctx) {
		cfail(err, errlen, "seccomp_init failed");
		return -ENOMEM;
	}
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (r < 0) {
		cfail(err, errlen, "cannot set the filter's attributes: %s", errtext(-r));
		goto fail;
	}
	/* the policy's syscalls, then those only the notifier needs, each once */
	const char *name = NULL;
	for (size_t i = 0; i < p->n && r == 0; i++) {
		name = p->sc[i].name;
		r = add_syscall(ctx, p, p->sc[i].nr, def);
	}
	for (size_t i = 0; def == SP_DEFAULT_NOTIFY && i < NOTIFIER_CALLS && r == 0; i++) {
		bool first = i == 0 || notifier_calls[i - 1].nr != notifier_calls[i].nr;
		if (!first || lookup(p, notifier_calls[i].nr))
			continue;
		name = notifier_calls[i].name;
		r = add_syscall(ctx, p, notifier_calls[i].nr, def);
	}
	if (r < 0) {
		cfail(err, errlen, "libseccomp refused the rules for %s: %s", name, errtext(-r));
		goto fail;
	}
	size_t insns = 0;
	if ((r = bpf_length(ctx, &insns)) < 0) {
		cfail(err, errlen, "cannot generate the filter: %s", errtext(-r));
		goto fail;
	}
	if (insns > SP_BPF_MAX) {
		cfail(err, errlen, "the filter is %zu instructions, the kernel takes at most %d: "
				   "fewer alternatives with argument checks",
		      insns, SP_BPF_MAX);
		r = -E2BIG;
		goto fail;
	}
	*out = ctx;
	return 0;
fail:
	seccomp_release(ctx);
	return r;
}
