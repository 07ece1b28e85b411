/* A cgroup v2 per VM beneath the operator's --cgroup DIR (cgroup_policy.h
 * has the options, docs/deploy.md the layout):
 *
 *   DIR/                    delegated to cellvmd's user; memory pids [cpu]
 *                           enabled in its cgroup.subtree_control
 *   DIR/cellvmd/            cellvmd and cellvm-spawner
 *   DIR/vm/                 the VM: memory.max, memory.swap.max,
 *                           memory.oom.group, pids.max, cpu.max
 *   DIR/vm/vcpu-worker/     one leaf per process, named as Status names it,
 *   DIR/vm/blk0/ ...        so that each one's use is counted apart
 *
 * cgroup_host_open() runs with cellvmd's first privileges, cgroup_host_start()
 * as the service user before confinement; the rest run confined, through
 * the directory fds taken at start (openat, mkdirat, unlinkat). Each logs
 * one line where it decides an error. */
#ifndef CELLVM_CGROUP_H
#define CELLVM_CGROUP_H

#include <stdbool.h>
#include <sys/types.h>

#include "cgroup_policy.h"
#include "cgroup_text.h"
#include "config.h"

#define CGROUP_VM_NAME "vm"
#define CGROUP_SELF_NAME "cellvmd"
/* How long removing the VM's cgroup waits for what cgroup.kill killed. */
#define CGROUP_KILL_WAIT_MS 2000

struct cgroup_host {
	int dir_fd;           /* DIR; -1 without --cgroup */
	int vm_fd;            /* DIR/vm while it exists; -1 */
	unsigned controllers; /* CGROUP_CTL_*: enabled for DIR's children (all there are) */
	const struct cgroup_policy *pol;
	char path[CGROUP_DIR_MAX]; /* DIR, for messages */
};

/* Opens p's directory ("self": cellvmd's own cgroup, on the cgroup2 mount
 * at /sys/fs/cgroup or /sys/fs/cgroup/unified) and refuses one that is no
 * cgroup v2. As root with --user (give), hands it to uid:gid as a
 * delegation does: the directory, cgroup.procs, cgroup.subtree_control and
 * cgroup.threads. Then checks it (cgroup_dir_verdict()) and moves cellvmd
 * into DIR/cellvmd, refused while another process is there (another
 * cellvmd uses DIR). Without --cgroup, h->dir_fd is -1 and nothing is
 * done. 0, or -errno after one log line. */
int cgroup_host_open(struct cgroup_host *h, const struct cgroup_policy *p, bool give,
		     uid_t uid, gid_t gid);

/* As the user cellvmd runs as from now on: checks DIR again, removes a VM
 * cgroup a crashed cellvmd left (killing what is in it), and enables the
 * controllers for DIR's children. The spawner, forked after this, starts in
 * DIR/cellvmd too. 0, or -errno after one log line. */
int cgroup_host_start(struct cgroup_host *h);

/* Closes the fds (the cgroups stay). */
void cgroup_host_close(struct cgroup_host *h);

/* Makes DIR/vm for cfg's VM with its limits and its controllers passed on
 * to its leaves (a leftover DIR/vm is removed first). 0, or a GuestError
 * (LC_ERR_*) with the reason in err. */
int cgroup_vm_create(struct cgroup_host *h, const struct vm_config *cfg, char *err,
		     size_t errlen);

/* Makes the leaf DIR/vm/name and returns its cgroup.procs opened for
 * writing (close-on-exec; spawn.h's cgroup_procs_fd), or -errno. */
int cgroup_vm_leaf(struct cgroup_host *h, const char *name);

/* Whether the OOM killer killed a process of leaf name (its
 * memory.events.local). */
bool cgroup_vm_oom_killed(const struct cgroup_host *h, const char *name);

/* Removes DIR/vm and its leaves once the VM's processes are gone; what is
 * still in it is killed (cgroup.kill) and waited for up to
 * CGROUP_KILL_WAIT_MS. 0, or -errno after one log line (what is left is
 * removed at the next Create or start). No-op without a VM cgroup. */
int cgroup_vm_remove(struct cgroup_host *h);

/* The counters of the cgroup dirfd is (struct cgroup_stats), for the
 * metrics: a leaf is DIR/vm/<name>, reached through h->vm_fd. Each file
 * there is read and parsed; a file that is missing (its controller is not
 * enabled) leaves its bit out of out->have. 0, or -errno of a file that
 * could not be read or parsed (-EINVAL). */
int cgroup_read_stats(int dirfd, struct cgroup_stats *out);

#endif
