/* The seccomp policy language (policy/README.md): every rule, the syscall
 * list, and filters that do what the text says, loaded in forked children.
 * Its errors and includes: test_seccomp_errors.c. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy_files.h"
#include "seccomp_policy.h"
#include "testutil.h"


/* Results a child leaves for the parent: shared, so no syscall is needed. */
static volatile int64_t *shm;

static void shm_init(void)
{
	void *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(m, MAP_FAILED);
	shm = m;
}

static volatile sig_atomic_t traps;
static volatile long trapped_nr;

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	traps++;
	trapped_nr = si->si_syscall;
}

static scmp_filter_ctx compile_ok(const char *text, enum sp_default def)
{
	struct sp_policy *p = parse_ok(text);
	scmp_filter_ctx ctx = NULL;
	int r = sp_compile(p, def, &ctx, err, sizeof(err));
	cr_assert_eq(r, 0, "sp_compile: %d: %s", r, err);
	sp_free(p);
	return ctx;
}

/* Forks a child that (with a SIGSYS handler for TRAP) loads the filter and
 * runs fn, then _exits 0; returns its wait status. The child dies with the
 * test, and dumps no core. */
static int run_child(scmp_filter_ctx ctx, void (*before)(void), void (*fn)(scmp_filter_ctx))
{
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
		struct rlimit nocore = { 0, 0 };
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || sigaction(SIGSYS, &sa, NULL) < 0 ||
		    setrlimit(RLIMIT_CORE, &nocore) < 0)
			_exit(100);
		if (before)
			before();
		if (seccomp_load(ctx) < 0)
			_exit(101);
		fn(ctx);
		_exit(0);
	}
	seccomp_release(ctx);
	int st;
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return st;
}

static void expect_exit(int st, int code)
{
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == code,
		  "child: exit %d signal %d, want exit %d", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0, code);
}

static void expect_sigsys(int st)
{
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS,
		  "child: exit %d signal %d, want SIGSYS", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		  WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

/* --- probes: getppid ignores its arguments, the filter does not */

struct probe {
	uint64_t a[6];
	bool allowed;
};

static const struct probe *probes;
static size_t nprobes;

static void run_probes(scmp_filter_ctx ctx)
{
	(void)ctx;
	for (size_t i = 0; i < nprobes; i++) {
		traps = 0;
		const uint64_t *a = probes[i].a;
		syscall(SYS_getppid, a[0], a[1], a[2], a[3], a[4], a[5]);
		shm[i] = traps;
		shm[64 + i] = trapped_nr;
	}
}

/* Loads `rules` (plus what the child needs) with a trapping default in a
 * child that calls getppid with each probe's arguments; each probe must be
 * allowed or trapped as it says. */
static void check_probes_in(const struct mem_file *files, size_t n, const char *top,
			    const struct probe *pr, size_t np)
{
	cr_assert_leq(np, 64);
	struct sp_policy *p = parse_ok_in(files, n, top);
	scmp_filter_ctx ctx;
	cr_assert_eq(sp_compile(p, SP_DEFAULT_TRAP, &ctx, err, sizeof(err)), 0, "%s", err);
	sp_free(p);
	shm_init();
	probes = pr;
	nprobes = np;
	expect_exit(run_child(ctx, NULL, run_probes), 0);
	for (size_t i = 0; i < np; i++) {
		const uint64_t *a = pr[i].a;
		cr_expect_eq(shm[i], pr[i].allowed ? 0 : 1,
			     "probe %zu (%#lx %#lx %#lx %#lx %#lx %#lx) %s", i, a[0], a[1], a[2],
			     a[3], a[4], a[5], pr[i].allowed ? "trapped" : "allowed");
		if (!pr[i].allowed)
			cr_expect_eq(shm[64 + i], SYS_getppid, "SIGSYS names the syscall");
	}
	munmap((void *)shm, 4096);
}

/* What every child needs: its exit, and under ASan sigaltstack (checked
 * before any call of a noreturn function such as _exit). */
#define EXIT_POLICY "exit_group: 1\nsigaltstack: 1\n"
#define BASE EXIT_POLICY "rt_sigreturn: 1\n"

static void check_probes(const char *rules, const struct probe *pr, size_t np)
{
	char text[4096];
	snprintf(text, sizeof(text), BASE "%s\n", rules);
	check_probes_in(FILES({ "t.policy", text, 0 }), "t.policy", pr, np);
}

#define PROBES(rules, ...)                                                               \
	check_probes(rules, (const struct probe[]){ __VA_ARGS__ },                         \
		     sizeof((const struct probe[]){ __VA_ARGS__ }) / sizeof(struct probe))

#define YES(...) { { __VA_ARGS__ }, true }
#define NO(...) { { __VA_ARGS__ }, false }

/* ============================================================ the rules */

Test(seccomp_policy, comments_blank_lines_and_unconditional_rules)
{
	struct sp_policy *p = parse_ok("# a comment\n"
				       "\n"
				       "   \t \n"
				       "read: 1            # allowed, any arguments\n"
				       "\twrite:1\n"
				       "getpid :  1 # é, and any other byte in a comment\n"
				       "# no newline at the end\n"
				       "gettid: 1");
	expect_names(p, (const char *const[]){ "read", "write", "getpid", "gettid" }, 4);
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, names_in_syscall_number_order_each_once)
{
	struct sp_policy *p = parse_ok_in(FILES({ "t.policy", "openat: return ENOENT\n"
							      "@include c.policy\n"
							      "mmap: arg2 in ~PROT_EXEC\n"
							      "write: 1\n"
							      "read: arg0 == 3\n", 0 },
						{ "c.policy", "read: 1\nwrite: arg0 == 2\n", 0 }),
				    "t.policy");
	/* read 0, write 1, mmap 9, openat 257 */
	expect_names(p, (const char *const[]){ "read", "write", "mmap", "openat" }, 4);
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, empty_policy)
{
	struct sp_policy *p = parse_ok("");
	cr_expect_eq(sp_syscall_count(p), 0);
	cr_expect_null(sp_syscall_name(p, 0));
	sp_free(p);
	sp_free(NULL);
	expect_no_leak();
}

Test(seccomp_policy, every_comparison, .timeout = 20)
{
	PROBES("getppid: arg0 == 5", YES(5), NO(4), NO(6), NO(0x100000005));
	PROBES("getppid: arg1 != 0 && arg2 == 9",
	       YES(0, 1, 9), YES(0, 0x100000000, 9), NO(0, 1, 8), NO(0, 0, 9));
	PROBES("getppid: arg0 < 10 && arg1 <= 10",
	       YES(9, 10), NO(10, 10), NO(9, 11), YES(0, 0), NO(0x100000000, 0));
	PROBES("getppid: arg0 > 10 && arg1 >= 10",
	       YES(11, 10), NO(10, 10), NO(11, 9), YES(0x100000000, 0xffffffffffffffff));
	/* 64-bit values: both halves compared */
	PROBES("getppid: arg0 < 0x100000000",
	       YES(0xffffffff), NO(0x100000000), NO(0xffffffffffffffff));
	PROBES("getppid: arg0 == 18446744073709551615",
	       YES(0xffffffffffffffff), NO(0xffffffff), NO(0xfffffffffffffffe));
}

Test(seccomp_policy, in_masks, .timeout = 20)
{
	/* in ~V: no bit of V set */
	PROBES("getppid: arg2 in ~PROT_EXEC",
	       YES(0, 0, PROT_READ | PROT_WRITE), YES(0, 0, 0), NO(0, 0, PROT_EXEC),
	       NO(0, 0, PROT_READ | PROT_EXEC), YES(0, 0, 0x100000003));
	/* in V: no bit outside V set */
	PROBES("getppid: arg3 in O_NONBLOCK|O_CLOEXEC",
	       YES(0, 0, 0, 0), YES(0, 0, 0, O_NONBLOCK), YES(0, 0, 0, O_NONBLOCK | O_CLOEXEC),
	       NO(0, 0, 0, O_NONBLOCK | O_RDWR), NO(0, 0, 0, 0x100000000));
	/* several alternatives with masks, overlapping */
	PROBES("getppid: arg0 in 3 && arg1 == 5 || arg0 in ~1 && arg1 == 6 || arg1 in ~4",
	       YES(3, 5), NO(4, 5), YES(2, 6), NO(1, 6), YES(1, 3), NO(1, 4), YES(7, 8));
}

Test(seccomp_policy, values_every_argument_and_precedence, .timeout = 20)
{
	/* && binds tighter than ||: arg0 == 1 || (arg0 == 2 && arg1 == 3) */
	PROBES("getppid: arg0 == 1 || arg0 == 2 && arg1 == 3",
	       YES(1), YES(1, 7), YES(2, 3), NO(2, 4), NO(3, 3));
	/* NAME|NAME|0x10, decimal, hex in either case */
	PROBES("getppid: arg0 == O_NONBLOCK|O_RDWR|0x10 && arg1 == 0XfF && arg2 == 10",
	       YES(O_NONBLOCK | O_RDWR | 0x10, 255, 10), NO(O_NONBLOCK | O_RDWR, 255, 10),
	       NO(O_NONBLOCK | O_RDWR | 0x10, 255, 11));
	PROBES("getppid: arg4 == 4 && arg5 == 5 && arg0 == 0 && arg3 == 3 && arg1 == 1 && "
	       "arg2 == 2",
	       YES(0, 1, 2, 3, 4, 5), NO(0, 1, 2, 3, 4, 6), NO(0, 1, 2, 3, 5, 5));
	/* one argument in several alternatives is fine */
	PROBES("getppid: arg1 == 1 || arg1 == 2", YES(0, 1), YES(0, 2), NO(0, 3));
}

/* Random policies (== and in across alternatives, any comparison in a
 * syscall's only one), each loaded in a child that calls getppid with every
 * pair of some edge values: the filter must agree with the text as this
 * small evaluator reads it. */
struct rcmp {
	unsigned arg, op;
	uint64_t v;
};

static const char *const rops[] = { "==", "in", "in ~", "!=", "<", "<=", ">", ">=" };
static const uint64_t edges[8] = { 0, 1, 2, 3, 4, 0x100000000, 0xffffffff, UINT64_MAX };

static bool rholds(const struct rcmp *c, uint64_t a)
{
	switch (c->op) {
	case 0: return a == c->v;
	case 1: return !(a & ~c->v);
	case 2: return !(a & c->v);
	case 3: return a != c->v;
	case 4: return a < c->v;
	case 5: return a <= c->v;
	case 6: return a > c->v;
	default: return a >= c->v;
	}
}

Test(seccomp_policy, random_policies_mean_what_they_say, .timeout = 60)
{
	srand(6);
	for (int it = 0; it < 40; it++) {
		struct rcmp ch[3][2];
		unsigned nc[3], n = 1 + (unsigned)rand() % 3;
		char rules[512] = "getppid: ";
		for (unsigned i = 0; i < n; i++) {
			nc[i] = 1 + (unsigned)rand() % 2;
			unsigned first = (unsigned)rand() % 2;
			for (unsigned j = 0; j < nc[i]; j++) {
				/* ordered ones only where there is one alternative */
				unsigned op = (unsigned)rand() % (n == 1 ? 8 : 3);
				unsigned arg = j ? !first : first;
				ch[i][j] = (struct rcmp){ arg, op, edges[rand() % 8] };
				char c[96];
				snprintf(c, sizeof(c), "%sarg%u %s%s%lu",
					 j ? " && " : i ? " || " : "", arg, rops[op],
					 op == 2 ? "" : " ", ch[i][j].v);
				strcat(rules, c);
			}
		}
		struct probe pr[64];
		for (unsigned a = 0; a < 64; a++) {
			uint64_t args[2] = { edges[a / 8], edges[a % 8] };
			bool allowed = false;
			for (unsigned i = 0; i < n; i++) {
				bool all = true;
				for (unsigned j = 0; j < nc[i]; j++)
					all &= rholds(&ch[i][j], args[ch[i][j].arg]);
				allowed |= all;
			}
			pr[a] = (struct probe){ { args[0], args[1] }, allowed };
		}
		cr_log_info("%s", rules);
		check_probes(rules, pr, 64);
	}
}

Test(seccomp_policy, lines_and_files_merge, .timeout = 20)
{
	/* alternatives from several lines and an include are ORed */
	check_probes_in(FILES({ "t.policy", BASE "getppid: arg0 == 1\n@include c.policy\n"
						 "getppid: arg0 == 3\ngetppid: arg0 == 1\n", 0 },
			      { "c.policy", "getppid: arg0 == 2\n", 0 }),
			"t.policy",
			(const struct probe[]){ YES(1), YES(2), YES(3), NO(4) }, 4);
	/* `: 1` anywhere, before or after conditions, allows any arguments */
	PROBES("getppid: arg0 == 1\ngetppid: 1\ngetppid: arg0 == 2", YES(1), YES(2), YES(77));
	check_probes_in(FILES({ "t.policy", BASE "@include c.policy\ngetppid: arg0 == 1\n", 0 },
			      { "c.policy", "getppid: 1\n", 0 }),
			"t.policy", (const struct probe[]){ YES(1), YES(5) }, 2);
	expect_no_leak();
}

/* A general alternative absorbs the narrower ones it covers: libseccomp
 * would prune them itself, and leak them (ASan's leak check sees it). */
Test(seccomp_policy, general_alternatives_absorb_narrow_ones, .timeout = 20)
{
	PROBES("getppid: arg1 == 5 && arg2 == 1 || arg1 == 5 && arg4 == 1\ngetppid: arg1 == 5",
	       YES(0, 5), YES(0, 5, 9), NO(0, 4, 1));
	static char text[64 * 300];
	size_t n = 0;
	for (int i = 0; i < SP_ALTERNATIVES_MAX; i++)
		n += (size_t)sprintf(text + n, "getppid: arg0 == 1 && arg1 == %d\n", i);
	n += (size_t)sprintf(text + n, "getppid: arg0 == 1\ngettid: arg0 == 1 || arg0 == 2\n"
				       "getpid: arg0 < 5 && arg1 == 2\ngetpid: arg0 < 5\n");
	struct sp_policy *p = parse_ok_in(FILES({ "t.policy", text, n }), "t.policy");
	scmp_filter_ctx ctx;
	cr_assert_eq(sp_compile(p, SP_DEFAULT_KILL, &ctx, err, sizeof(err)), 0, "%s", err);
	seccomp_release(ctx);
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, same_return_twice)
{
	struct sp_policy *p = parse_ok_in(FILES({ "t.policy", "@include c.policy\n"
							      "openat: return 2\n", 0 },
						{ "c.policy", "openat: return ENOENT\n", 0 }),
				    "t.policy");
	expect_names(p, (const char *const[]){ "openat" }, 1);
	sp_free(p);
	expect_no_leak();
}

/* Every ioctl number and flag cellvm's own code passes (grep ioctl, fcntl,
 * socket, mmap ... in vcpu-worker/, device-procs/, common/, controller/) has
 * a name. */
Test(seccomp_policy, names_for_what_cellvm_uses)
{
	struct sp_policy *p = parse_ok(
		"ioctl: arg1 == KVM_GET_API_VERSION || arg1 == KVM_CHECK_EXTENSION || "
		"arg1 == KVM_GET_VCPU_MMAP_SIZE || arg1 == KVM_CREATE_VM\n"
		"ioctl: arg1 == KVM_SET_USER_MEMORY_REGION || arg1 == KVM_SET_TSS_ADDR || "
		"arg1 == KVM_SET_IDENTITY_MAP_ADDR || arg1 == KVM_CREATE_IRQCHIP\n"
		"ioctl: arg1 == KVM_CREATE_PIT2 || arg1 == KVM_IRQ_LINE || arg1 == KVM_IRQFD || "
		"arg1 == KVM_IOEVENTFD || arg1 == KVM_GET_SUPPORTED_CPUID\n"
		"ioctl: arg1 == KVM_SET_CPUID2 || arg1 == KVM_SET_MSRS || arg1 == KVM_GET_LAPIC || "
		"arg1 == KVM_SET_LAPIC || arg1 == KVM_SET_FPU || arg1 == KVM_CREATE_VCPU\n"
		"ioctl: arg1 == KVM_GET_SREGS || arg1 == KVM_SET_SREGS || arg1 == KVM_SET_REGS || "
		"arg1 == KVM_RUN || arg1 == KVM_GET_REGS\n"
		"ioctl: arg1 == KVM_CHECK_EXTENSION && arg2 == KVM_CAP_USER_MEMORY || "
		"arg2 == KVM_CAP_PIT2 || arg2 == KVM_CAP_IRQFD || arg2 == KVM_CAP_IRQCHIP || "
		"arg2 == KVM_CAP_IOEVENTFD || arg2 == KVM_CAP_IMMEDIATE_EXIT || "
		"arg2 == KVM_CAP_EXT_CPUID || arg2 == KVM_CAP_SET_TSS_ADDR || "
		"arg2 == KVM_CAP_SET_IDENTITY_MAP_ADDR || arg2 == KVM_CAP_MAX_VCPUS || "
		"arg2 == KVM_CAP_NR_VCPUS\n"
		"ioctl: arg1 == TUNSETIFF || arg1 == TUNGETIFF || arg1 == TUNSETVNETHDRSZ\n"
		"ioctl: arg1 == TUNSETOFFLOAD && arg2 in TUN_F_CSUM|TUN_F_TSO4|TUN_F_TSO6|"
		"TUN_F_TSO_ECN\n"
		"ioctl: arg1 == BLKGETSIZE64 || arg1 == BLKDISCARD || arg1 == FIONREAD || "
		"arg1 == SIOCOUTQ\n"
		"fcntl: arg1 == F_GETFL || arg1 == F_SETFL && arg2 in O_NONBLOCK|O_RDWR|O_ACCMODE "
		"|| arg1 == F_GETFD || arg1 == F_SETFD && arg2 == FD_CLOEXEC || arg1 == F_DUPFD "
		"|| arg1 == F_DUPFD_CLOEXEC || arg1 == F_GET_SEALS\n"
		"fcntl: arg1 == F_ADD_SEALS && arg2 in F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE|"
		"F_SEAL_SEAL\n"
		"openat: arg2 in O_RDONLY|O_RDWR|O_CLOEXEC\n"
		"socket: arg0 == AF_UNIX && arg1 in SOCK_STREAM|SOCK_SEQPACKET|SOCK_CLOEXEC|"
		"SOCK_NONBLOCK\n"
		"socketpair: arg0 == AF_UNIX\n"
		"accept4: arg3 in SOCK_CLOEXEC|SOCK_NONBLOCK\n"
		"getsockopt: arg1 == SOL_SOCKET && arg2 == SO_TYPE || arg2 == SO_PEERCRED || "
		"arg2 == SO_ERROR || arg2 == SO_PASSCRED\n"
		"sendmsg: arg2 in MSG_NOSIGNAL|MSG_DONTWAIT\n"
		"recvmsg: arg2 in MSG_CMSG_CLOEXEC|MSG_DONTWAIT|MSG_TRUNC|MSG_CTRUNC\n"
		"mmap: arg2 in PROT_READ|PROT_WRITE && arg3 in MAP_SHARED|MAP_NORESERVE\n"
		"memfd_create: arg1 in MFD_CLOEXEC|MFD_ALLOW_SEALING\n"
		"fallocate: arg1 in FALLOC_FL_PUNCH_HOLE|FALLOC_FL_KEEP_SIZE|FALLOC_FL_ZERO_RANGE\n"
		"eventfd2: arg1 in EFD_CLOEXEC|EFD_NONBLOCK\n"
		"timerfd_create: arg0 == CLOCK_MONOTONIC && arg1 in TFD_CLOEXEC|TFD_NONBLOCK\n"
		"signalfd4: arg3 in SFD_CLOEXEC|SFD_NONBLOCK\n"
		"epoll_create1: arg0 == EPOLL_CLOEXEC\n"
		"epoll_ctl: arg1 == EPOLL_CTL_ADD || arg1 == EPOLL_CTL_MOD || "
		"arg1 == EPOLL_CTL_DEL\n"
		"pipe2: arg1 == O_CLOEXEC\n"
		"prctl: arg0 == PR_SET_PDEATHSIG && arg1 == SIGKILL || arg0 == PR_GET_KEEPCAPS || "
		"arg0 == PR_SET_KEEPCAPS || arg0 == PR_SET_NO_NEW_PRIVS || "
		"arg0 == PR_CAPBSET_READ || "
		"arg0 == PR_CAP_AMBIENT && arg1 == PR_CAP_AMBIENT_IS_SET\n"
		"futex: arg1 == FUTEX_WAIT_PRIVATE || arg1 == FUTEX_WAKE_PRIVATE || "
		"arg1 == FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME\n"
		"unshare: arg0 in CLONE_NEWUSER|CLONE_NEWPID|CLONE_NEWNS|CLONE_NEWIPC|"
		"CLONE_NEWUTS|CLONE_NEWNET\n"
		"prlimit64: arg1 == RLIMIT_NOFILE || arg1 == RLIMIT_NPROC || "
		"arg1 == RLIMIT_CORE || arg1 == RLIMIT_FSIZE\n"
		"clone: arg0 in CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|"
		"CLONE_SYSVSEM|CLONE_SETTLS|CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID\n"
		"ioctl: arg1 == SECCOMP_IOCTL_NOTIF_RECV || arg1 == SECCOMP_IOCTL_NOTIF_SEND || "
		"arg1 == SECCOMP_IOCTL_NOTIF_ID_VALID\n"
		"ioctl: arg1 == TCGETS || arg1 == TIOCGWINSZ || arg1 == FIONBIO || "
		"arg1 == SIOCGIFFLAGS || arg1 == TUNSETQUEUE\n"
		"ioctl: arg1 == KVM_GET_EMULATED_CPUID || arg1 == KVM_GET_MSR_INDEX_LIST || "
		"arg1 == KVM_SET_GSI_ROUTING || arg1 == KVM_SIGNAL_MSI || arg1 == KVM_GET_REGS || "
		"arg1 == KVM_GET_MSRS || arg1 == KVM_GET_FPU || arg1 == KVM_SET_SIGNAL_MASK\n"
		"ioctl: arg1 == KVM_GET_MP_STATE || arg1 == KVM_SET_MP_STATE || "
		"arg1 == KVM_GET_VCPU_EVENTS || arg1 == KVM_SET_VCPU_EVENTS || "
		"arg1 == KVM_GET_XSAVE || arg1 == KVM_SET_XSAVE || arg1 == KVM_GET_XCRS || "
		"arg1 == KVM_SET_XCRS\n"
		"ioctl: arg1 == KVM_SET_TSC_KHZ || arg1 == KVM_GET_TSC_KHZ || "
		"arg1 == KVM_ENABLE_CAP || arg1 == KVM_GET_CLOCK || arg1 == KVM_SET_CLOCK || "
		"arg1 == KVM_SET_BOOT_CPU_ID || arg1 == KVM_GET_DIRTY_LOG\n"
		"madvise: arg2 == MADV_DONTNEED || arg2 == MADV_REMOVE\n"
		"getrandom: arg2 in GRND_NONBLOCK\n"
		"newfstatat: arg3 == AT_EMPTY_PATH\n");
	sp_free(p);
	expect_no_leak();
}

/* ====================================================== what a filter does */

static void kill_child_allowed(scmp_filter_ctx ctx)
{
	(void)ctx;
	if (syscall(SYS_getpid) <= 0)
		_exit(1);
	long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || syscall(SYS_close, fd) < 0)
		_exit(2);
	/* made to fail: the file exists, openat is never called */
	if (syscall(SYS_openat, AT_FDCWD, "/", O_RDONLY) != -1 || errno != ENOENT)
		_exit(3);
	long m = syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == -1 || syscall(SYS_munmap, m, 4096) < 0)
		_exit(4);
}

static void kill_child_inet(scmp_filter_ctx ctx)
{
	(void)ctx;
	syscall(SYS_socket, AF_INET, SOCK_STREAM, 0);
}

static void kill_child_exec(scmp_filter_ctx ctx)
{
	(void)ctx;
	syscall(SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void kill_child_unlisted(scmp_filter_ctx ctx)
{
	(void)ctx;
	syscall(SYS_getppid);
}

/* The notifier's syscalls are added only for --sandbox=log. */
static void kill_child_notifier_ioctl(scmp_filter_ctx ctx)
{
	(void)ctx;
	syscall(SYS_ioctl, -1, SECCOMP_IOCTL_NOTIF_RECV, 0);
}

#define KILL_POLICY                                                                      \
	EXIT_POLICY                                                                        \
	"getpid: 1\n"                                                                      \
	"close: 1\n"                                                                       \
	"munmap: 1\n"                                                                      \
	"socket: arg0 == AF_UNIX\n"                                                        \
	"mmap: arg2 in ~PROT_EXEC\n"                                                       \
	"openat: return ENOENT\n"

Test(seccomp_policy, kill_default_enforces_the_text, .timeout = 20)
{
	expect_exit(run_child(compile_ok(KILL_POLICY, SP_DEFAULT_KILL), NULL, kill_child_allowed),
		    0);
	expect_sigsys(run_child(compile_ok(KILL_POLICY, SP_DEFAULT_KILL), NULL, kill_child_inet));
	expect_sigsys(run_child(compile_ok(KILL_POLICY, SP_DEFAULT_KILL), NULL, kill_child_exec));
	expect_sigsys(
		run_child(compile_ok(KILL_POLICY, SP_DEFAULT_KILL), NULL, kill_child_unlisted));
	expect_sigsys(run_child(compile_ok(KILL_POLICY, SP_DEFAULT_KILL), NULL,
				kill_child_notifier_ioctl));
}

/* --- threads: TSYNC, another arch, and --sandbox=log */

/* What a second thread's run and end, and the child's exit, need (glibc and
 * ASan); not getppid and not ioctl. */
#define THREAD_POLICY                                                                    \
	"read: 1\nwrite: 1\nclose: 1\nfutex: 1\nexit: 1\nexit_group: 1\nmadvise: 1\n"      \
	"munmap: 1\nmmap: 1\nmprotect: 1\nrt_sigprocmask: 1\nrt_sigreturn: 1\n"            \
	"sigaltstack: 1\ngettid: 1\ngetpid: 1\nrseq: 1\nset_robust_list: 1\n"              \
	"sched_yield: 1\nnanosleep: 1\nclock_nanosleep: 1\ntgkill: 1\n"

#define X32_SYSCALL_BIT 0x40000000L

static int go[2], ready[2];
static pthread_t thread;
static long thread_nr; /* what the thread calls once told to go */

static void *thread_main(void *arg)
{
	(void)arg;
	char c = 'r';
	if (write(ready[1], &c, 1) != 1)
		return NULL;
	while (read(go[0], &c, 1) < 0 && errno == EINTR)
		;
	shm[1] = syscall(thread_nr);
	shm[2] = 1;
	return NULL;
}

/* Starts the thread and waits until it runs (its start-up calls, glibc's
 * and ASan's, are done) before the filter is loaded. */
static void start_thread(void)
{
	char c;
	if (pipe(go) < 0 || pipe(ready) < 0 || pthread_create(&thread, NULL, thread_main, NULL) ||
	    read(ready[0], &c, 1) != 1)
		_exit(102);
}

static void release_and_join(scmp_filter_ctx ctx)
{
	(void)ctx;
	if (write(go[1], "g", 1) != 1)
		_exit(3);
	pthread_join(thread, NULL);
	shm[0] = traps ? trapped_nr : -1;
}

Test(seccomp_policy, filter_covers_threads_started_before_it, .timeout = 20)
{
	shm_init();
	thread_nr = SYS_getppid;
	int st = run_child(compile_ok(THREAD_POLICY, SP_DEFAULT_TRAP), start_thread,
			   release_and_join);
	expect_exit(st, 0);
	cr_expect_eq(shm[2], 1, "the thread ran to its end");
	cr_expect_eq(shm[0], SYS_getppid, "the older thread's getppid trapped (TSYNC)");
	munmap((void *)shm, 4096);
}

Test(seccomp_policy, another_arch_kills_the_whole_process, .timeout = 20)
{
	shm_init();
	/* an x32 getppid in the second thread: the process dies, not just the
	 * thread (the main one would then exit 0), and it is no trap */
	thread_nr = X32_SYSCALL_BIT | SYS_getppid;
	int st = run_child(compile_ok(THREAD_POLICY "getppid: 1\n", SP_DEFAULT_TRAP),
			   start_thread, release_and_join);
	expect_sigsys(st);
	cr_expect_eq(shm[2], 0);
	munmap((void *)shm, 4096);
}

/* The notifier: answers the thread's one notification (getppid) with
 * CONTINUE, then joins it. The policy has no ioctl: the filter adds the
 * notifier's own. */
static void notify_and_continue(scmp_filter_ctx ctx)
{
	int fd = seccomp_notify_fd(ctx);
	if (fd < 0 || write(go[1], "g", 1) != 1)
		_exit(3);
	struct seccomp_notif req;
	memset(&req, 0, sizeof(req));
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0)
		_exit(4);
	shm[0] = req.data.nr;
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &req.id) < 0)
		_exit(5);
	struct seccomp_notif_resp resp = { .id = req.id,
					   .flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE };
	if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0)
		_exit(6);
	pthread_join(thread, NULL);
}

Test(seccomp_policy, notify_default_reports_and_continues, .timeout = 20)
{
	shm_init();
	thread_nr = SYS_getppid;
	int st = run_child(compile_ok(THREAD_POLICY, SP_DEFAULT_NOTIFY), start_thread,
			   notify_and_continue);
	expect_exit(st, 0);
	cr_expect_eq(shm[0], SYS_getppid, "the notifier saw the unlisted syscall");
	cr_expect_eq(shm[1], getpid(), "the syscall went on and returned its real result");
	munmap((void *)shm, 4096);
}

Test(seccomp_policy, notify_refuses_return_on_what_the_notifier_needs)
{
	static const char *const needs[] = { "ioctl", "read", "close", "write", "exit_group" };
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		char text[128], want[256];
		snprintf(text, sizeof(text), "getpid: 1\n%s: return EPERM\n", needs[i]);
		struct sp_policy *p = parse_ok(text);
		scmp_filter_ctx ctx = NULL;
		cr_expect_eq(sp_compile(p, SP_DEFAULT_NOTIFY, &ctx, err, sizeof(err)), -EINVAL);
		snprintf(want, sizeof(want),
			 "%s: the policy makes it fail (t.policy:2), but the --sandbox=log "
			 "notifier needs it",
			 needs[i]);
		cr_expect_str_eq(err, want);
		cr_expect_null(ctx);
		/* enforcing, the same policy is fine */
		cr_assert_eq(sp_compile(p, SP_DEFAULT_KILL, &ctx, err, sizeof(err)), 0, "%s", err);
		seccomp_release(ctx);
		sp_free(p);
	}
	expect_no_leak();
}

Test(seccomp_policy, notify_refuses_an_ordered_ioctl_alternative)
{
	struct sp_policy *p = parse_ok("ioctl: arg1 > 5 && arg0 == 3\n");
	scmp_filter_ctx ctx = NULL;
	cr_expect_eq(sp_compile(p, SP_DEFAULT_NOTIFY, &ctx, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "ioctl: its alternative (t.policy:1) uses !=, <, <=, > or >=, and "
			      "the --sandbox=log notifier adds more: libseccomp 2.5 combines those "
			      "across alternatives wrongly; use == and in, or one alternative");
	cr_expect_null(ctx);
	cr_assert_eq(sp_compile(p, SP_DEFAULT_KILL, &ctx, err, sizeof(err)), 0, "%s", err);
	seccomp_release(ctx);
	sp_free(p);
	/* an unconditional notifier syscall takes any alternative */
	p = parse_ok("write: arg0 > 2\n");
	cr_assert_eq(sp_compile(p, SP_DEFAULT_NOTIFY, &ctx, err, sizeof(err)), 0, "%s", err);
	seccomp_release(ctx);
	sp_free(p);
	/* the notifier's alternative absorbs narrower ones (else libseccomp leaks) */
	p = parse_ok("ioctl: arg1 == SECCOMP_IOCTL_NOTIF_RECV && arg0 == 3 || "
		     "arg1 == SECCOMP_IOCTL_NOTIF_RECV && arg2 == 3\n");
	cr_assert_eq(sp_compile(p, SP_DEFAULT_NOTIFY, &ctx, err, sizeof(err)), 0, "%s", err);
	seccomp_release(ctx);
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, compile_errors_and_no_fd_left)
{
	struct sp_policy *p = parse_ok("read: 1\n");
	scmp_filter_ctx ctx = NULL;
	int before = tu_count_fds();
	cr_expect_eq(sp_compile(p, (enum sp_default)7, &ctx, err, sizeof(err)), -EINVAL);
	cr_expect_str_eq(err, "unknown default action 7");
	cr_expect_null(ctx);
	for (int d = SP_DEFAULT_TRAP; d <= SP_DEFAULT_NOTIFY; d++) {
		cr_assert_eq(sp_compile(p, (enum sp_default)d, &ctx, err, sizeof(err)), 0, "%s",
			     err);
		seccomp_release(ctx);
	}
	cr_expect_eq(tu_count_fds(), before);
	sp_free(p);
	expect_no_leak();
}

Test(seccomp_policy, filter_too_large_for_the_kernel)
{
	/* 250 alternatives of six 64-bit comparisons each: under the parser's
	 * limit, over the kernel's 4096 instructions */
	size_t cap = 250 * 160, n = 0;
	char *text = malloc(cap);
	cr_assert(text);
	for (int i = 0; i < 250; i++)
		n += (size_t)snprintf(text + n, cap - n,
				      "getppid: arg0 == %d && arg1 == %d && arg2 == %d && "
				      "arg3 == %d && arg4 == %d && arg5 == 0x1%08x\n",
				      i, i, i, i, i, i);
	struct sp_policy *p = parse_ok_in(FILES({ "t.policy", text, n }), "t.policy");
	scmp_filter_ctx ctx = NULL;
	int before = tu_count_fds();
	cr_expect_eq(sp_compile(p, SP_DEFAULT_KILL, &ctx, err, sizeof(err)), -E2BIG);
	cr_expect(!strncmp(err, "the filter is ", 14), "%s", err);
	cr_expect(strstr(err, "the kernel takes at most 4096"), "%s", err);
	cr_expect_null(ctx);
	cr_expect_eq(tu_count_fds(), before);
	sp_free(p);
	free(text);
	expect_no_leak();
}
