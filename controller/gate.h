/* The one way Create opens what a tenant's config names: kernels, initrds,
 * disk images and external vhost-user sockets, within the operator's policy
 * (operator.h).
 *
 * gate_start() opens each --allow-dir and --allow-socket-dir once
 * (O_PATH|O_DIRECTORY), at start, before cellvmd confines itself. Beneath
 * them a path is resolved by openat2 with RESOLVE_BENEATH, NO_SYMLINKS and
 * NO_MAGICLINKS: no symlink, "..", or /proc link leads out. Without such
 * directories a path is opened as given, as the service user can. Either
 * way a file must be a regular file on a real file system (not a FIFO, a
 * device, or a file of procfs, sysfs and the like): it is looked at through
 * an O_PATH fd first, then opened O_NONBLOCK|O_NOCTTY and checked again, so
 * nothing it names can make cellvmd wait or act on a device. A socket is
 * connected non-blocking, waiting at most GATE_CONNECT_MS for a full
 * backlog. */
#ifndef CELLVM_GATE_H
#define CELLVM_GATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "operator.h"

#define GATE_CONNECT_MS 1000

struct gate {
	const struct operator_policy *pol;
	int dir_fd[OPERATOR_MAX_DIRS];        /* pol->dir[i], opened */
	int socket_dir_fd[OPERATOR_MAX_DIRS]; /* pol->socket_dir[i], opened */
};

/* Opens pol's directories and records the host's RAM in pol->host_memory
 * (a cap of its own: operator.h); logs what is not limited. pol must
 * outlive the gate. 0, or -errno after one log line naming the option. */
int gate_start(struct gate *g, struct operator_policy *pol);
/* The gate's fds, for the list a process keeps when it confines itself;
 * returns how many (at most max). */
size_t gate_fds(const struct gate *g, int *out, size_t max);

/* Opens the regular file path (the config's `field`) read-only or
 * read-write. 0 with *fd and *size (from fstat) set; else a GuestError
 * with "<field> "<path>": why" in err: LC_ERR_BAD_CONFIG when the policy
 * refuses it (outside the directories, through a symlink, not a regular
 * file), fail_code when it cannot be opened (missing, no permission). */
int gate_open(const struct gate *g, const char *field, const char *path, bool write,
	      int fail_code, int *fd, uint64_t *size, char *err, size_t errlen);

/* Locks the whole of an open disk for as long as its open file description
 * lives (an OFD lock): exclusive for writing, shared for reading. 0, or
 * -EAGAIN when another open file holds a conflicting lock (another VM uses
 * the disk), or another -errno. */
int gate_lock(int fd, bool write);
/* Lets go of fd's lock at once. The lock belongs to the open file, which a
 * VM's ended processes may still reference for a while (cellvm-blk's
 * io_uring drops its registered files asynchronously): the VM's end is
 * cellvmd's to declare, not the last reference's. */
void gate_unlock(int fd);

/* Connects to the Unix socket path (the config's `field`), beneath
 * --allow-socket-dir when there is one. 0 with a blocking *fd; else a
 * GuestError as gate_open (fail_code when nothing accepts in time). */
int gate_connect(const struct gate *g, const char *field, const char *path, int fail_code,
		 int *fd, char *err, size_t errlen);
/* The same without a wait: a full backlog fails at once, and *fd is
 * non-blocking (for what a tenant asks while the VM runs). */
int gate_connect_now(const struct gate *g, const char *field, const char *path, int fail_code,
		     int *fd, char *err, size_t errlen);

/* Binds a Unix socket at path (the config's `field`), its directory
 * beneath --allow-socket-dir when there is one (resolved as gate_open
 * does, then bound through our own fd of it), replacing a socket left
 * there by an earlier run but nothing else, and listens. 0 with a blocking
 * *fd; else a GuestError as gate_open. */
int gate_listen(const struct gate *g, const char *field, const char *path, int fail_code,
		int *fd, char *err, size_t errlen);

#endif
