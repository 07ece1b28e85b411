/* The VM's cgroup v2: set-up at start, one per Create, removal (cgroup.h). */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/magic.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "errf.h"
#include "event_loop.h"
#include "fds.h"
#include "lifecycle.h"
#include "log.h"

/* The largest interface file read whole (memory.stat is about 2 KiB). */
#define FILE_MAX 8192

/* The file name at dirfd, read whole into buf (NUL-terminated): its length,
 * or -errno (-EFBIG beyond len - 1 bytes). */
static ssize_t read_at(int dirfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t off = 0;
	ssize_t n;
	while ((n = read(fd, buf + off, len - 1 - off)) > 0)
		if ((off += (size_t)n) == len - 1)
			break;
	int err = n < 0 ? -errno : off == len - 1 ? -EFBIG : 0;
	close(fd);
	buf[off] = '\0';
	return err ? err : (ssize_t)off;
}

/* Writes text to the file name at dirfd in one write, as cgroup files want. */
static int write_at(int dirfd, const char *name, const char *text)
{
	int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = strlen(text);
	ssize_t n = write(fd, text, len);
	int err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	return err;
}

static bool is_fs(int fd, long magic)
{
	struct statfs sf;
	return fstatfs(fd, &sf) == 0 && sf.f_type == magic;
}

static bool is_cgroup2(int fd)
{
	return is_fs(fd, CGROUP2_SUPER_MAGIC);
}

/* "self": the cgroup v2 path in /proc/self/cgroup ("0::/a/b") beneath the
 * cgroup2 mount (unified, or the hybrid layout's unified/). */
static int self_path(char *out, size_t len)
{
	static const char *const mounts[] = { "/sys/fs/cgroup", "/sys/fs/cgroup/unified" };
	char buf[FILE_MAX];
	ssize_t n = read_at(AT_FDCWD, "/proc/self/cgroup", buf, sizeof(buf));
	if (n < 0) {
		log_err("--cgroup self: /proc/self/cgroup: %s", strerror((int)-n));
		return (int)n;
	}
	const char *line = strncmp(buf, "0::", 3) == 0 ? buf : strstr(buf, "\n0::");
	if (!line) {
		log_err("--cgroup self: cellvmd is in no cgroup v2 (/proc/self/cgroup has no 0:: line)");
		return -ENOENT;
	}
	line += line[0] == '\n' ? 4 : 3;
	size_t plen = strcspn(line, "\n");
	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		int fd = open(mounts[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		bool v2 = fd >= 0 && is_cgroup2(fd);
		if (fd >= 0)
			close(fd);
		if (!v2)
			continue;
		/* The root is "/": nothing to add. */
		if (plen == 1)
			plen = 0;
		if ((size_t)snprintf(out, len, "%s%.*s", mounts[i], (int)plen, line) >= len) {
			log_err("--cgroup self: the path is too long");
			return -ENAMETOOLONG;
		}
		return 0;
	}
	log_err("--cgroup self: no cgroup2 file system at /sys/fs/cgroup or /sys/fs/cgroup/unified");
	return -ENOENT;
}

/* What cgroup_dir_verdict() decides on, as the current user. */
static void look(const struct cgroup_host *h, struct cgroup_dir_seen *s)
{
	char buf[512];
	*s = (struct cgroup_dir_seen){ .cgroup2 = is_cgroup2(h->dir_fd) };
	ssize_t n = read_at(h->dir_fd, "cgroup.controllers", buf, sizeof(buf));
	s->read_controllers = n >= 0 && cgroup_parse_controllers(buf, (size_t)n, &s->controllers) == 0;
	s->dir_writable = faccessat(h->dir_fd, ".", W_OK, AT_EACCESS) == 0;
	s->procs_writable = faccessat(h->dir_fd, "cgroup.procs", W_OK, AT_EACCESS) == 0;
	s->subtree_writable = faccessat(h->dir_fd, "cgroup.subtree_control", W_OK, AT_EACCESS) == 0;
}

/* Makes DIR/name (one left from before will do) and opens it. */
static int make_child(int dirfd, const char *name)
{
	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		return -errno;
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

/* cellvmd into DIR/cellvmd, unless another process is there. */
static int move_self(struct cgroup_host *h)
{
	char buf[64];
	int fd = make_child(h->dir_fd, CGROUP_SELF_NAME);
	if (fd < 0) {
		log_err("--cgroup %s: making %s/: %s", h->path, CGROUP_SELF_NAME, strerror(-fd));
		return fd;
	}
	ssize_t n = read_at(fd, "cgroup.procs", buf, sizeof(buf));
	/* More pids than buf holds is busy too. */
	int err = n == -EFBIG || n > 0 ? -EBUSY : n < 0 ? (int)n : write_at(fd, "cgroup.procs", "0");
	close(fd);
	if (err == -EBUSY)
		log_err("--cgroup %s: in use: pid %.*s is in its %s/ (another cellvmd?)", h->path,
			(int)strcspn(buf, "\n"), buf, CGROUP_SELF_NAME);
	else if (err)
		log_err("--cgroup %s: moving cellvmd into %s/: %s%s", h->path, CGROUP_SELF_NAME,
			strerror(-err), err == -EACCES ? " (start cellvmd inside the delegated "
							"cgroup, as systemd does)" : "");
	return err;
}

/* Whether DIR will do for the current user; the controllers to enable. */
static int check(struct cgroup_host *h)
{
	struct cgroup_dir_seen seen;
	char why[256];
	look(h, &seen);
	int err = cgroup_dir_verdict(&seen, cgroup_policy_controllers(h->pol), why, sizeof(why));
	if (err) {
		log_err("--cgroup %s: %s", h->path, why);
		return err;
	}
	/* Each one there, also without a limit: a leaf's use is counted only
	 * where its parent enables the controller. */
	h->controllers = seen.controllers & (CGROUP_CTL_MEMORY | CGROUP_CTL_PIDS | CGROUP_CTL_CPU);
	return 0;
}

int cgroup_host_open(struct cgroup_host *h, const struct cgroup_policy *p, bool give,
		     uid_t uid, gid_t gid)
{
	*h = (struct cgroup_host){ .dir_fd = -1, .vm_fd = -1, .pol = p };
	if (!p->dir[0])
		return 0;
	int err = 0;
	if (strcmp(p->dir, "self") == 0)
		err = self_path(h->path, sizeof(h->path));
	else
		snprintf(h->path, sizeof(h->path), "%s", p->dir);
	if (err)
		return err;
	h->dir_fd = open(h->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (h->dir_fd < 0) {
		err = -errno;
		log_err("--cgroup %s: %s", h->path, strerror(-err));
		return err;
	}
	/* Nothing is handed to anyone before it is known to be a cgroup. */
	if (!is_cgroup2(h->dir_fd)) {
		log_err("--cgroup %s: not a cgroup v2 directory%s (a cgroup2 file system, such as "
			"/sys/fs/cgroup on a unified host)", h->path,
			is_fs(h->dir_fd, CGROUP_SUPER_MAGIC) ? " but a cgroup v1 hierarchy" : "");
		close_fd(&h->dir_fd);
		return -EINVAL;
	}
	static const char *const files[] = { "cgroup.procs", "cgroup.subtree_control",
					     "cgroup.threads" };
	if (give && fchown(h->dir_fd, uid, gid) < 0)
		err = -errno;
	for (size_t i = 0; give && !err && i < sizeof(files) / sizeof(files[0]); i++)
		if (fchownat(h->dir_fd, files[i], uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
			err = -errno;
	if (err)
		log_err("--cgroup %s: handing it to uid %u: %s", h->path, (unsigned)uid,
			strerror(-err));
	/* Moved with the first privileges: root may move itself from anywhere,
	 * the user it becomes only within what is delegated to it. */
	if (err || (err = check(h)) || (err = move_self(h)))
		close_fd(&h->dir_fd);
	return err;
}

int cgroup_host_start(struct cgroup_host *h)
{
	if (h->dir_fd < 0)
		return 0;
	char names[64];
	int err = check(h);
	if (err)
		return err;
	int vm = openat(h->dir_fd, CGROUP_VM_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (vm >= 0) {
		log_warn("--cgroup %s: removing the VM cgroup a previous cellvmd left", h->path);
		h->vm_fd = vm;
		if ((err = cgroup_vm_remove(h)))
			return err;
	}
	cgroup_controller_names(h->controllers, true, names, sizeof(names));
	if (h->controllers && (err = write_at(h->dir_fd, "cgroup.subtree_control", names))) {
		log_err("--cgroup %s: enabling %s in cgroup.subtree_control: %s%s", h->path, names,
			strerror(-err), err == -EBUSY ? " (other processes are in it: give cellvmd "
							"a cgroup of its own)" : "");
		return err;
	}
	log_info("--cgroup %s: each VM in %s/%s/", h->path, h->path, CGROUP_VM_NAME);
	return 0;
}

void cgroup_host_close(struct cgroup_host *h)
{
	close_fd(&h->vm_fd);
	close_fd(&h->dir_fd);
}

/* The limits and the leaves' controllers into the new DIR/vm. */
static int set_limits(struct cgroup_host *h, const struct cgroup_limits *l, char *err,
		      size_t errlen)
{
	struct cgroup_file_text f[CGROUP_LIMIT_FILES];
	size_t n = cgroup_limit_files(l, f);
	for (size_t i = 0; i < n; i++) {
		int r = write_at(h->vm_fd, f[i].file, f[i].text);
		/* Without swap accounting there is no swap limit to set. */
		if (r == -ENOENT && strcmp(f[i].file, "memory.swap.max") == 0) {
			log_warn("cgroup: no memory.swap.max (the kernel does not account swap)");
			continue;
		}
		if (r)
			return errf(err, errlen, LC_ERR_INTERNAL_ERROR, "cgroup %s/%s/%s: %s",
				       h->path, CGROUP_VM_NAME, f[i].file, strerror(-r));
	}
	char names[64];
	if (!h->controllers)
		return 0;
	int r = write_at(h->vm_fd, "cgroup.subtree_control",
			 cgroup_controller_names(h->controllers, true, names, sizeof(names)));
	if (r)
		return errf(err, errlen, LC_ERR_INTERNAL_ERROR,
			       "cgroup %s/%s: enabling %s for its leaves: %s", h->path,
			       CGROUP_VM_NAME, names, strerror(-r));
	return 0;
}

int cgroup_vm_create(struct cgroup_host *h, const struct vm_config *cfg, char *err,
		     size_t errlen)
{
	if (h->dir_fd < 0)
		return 0;
	struct cgroup_limits l;
	if (cgroup_limits_for(h->pol, cfg, &l, err, errlen) < 0)
		return LC_ERR_BAD_CONFIG;
	if (h->vm_fd < 0)
		h->vm_fd = openat(h->dir_fd, CGROUP_VM_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* What the last VM's release could not remove. */
	if (h->vm_fd >= 0 && cgroup_vm_remove(h) < 0)
		return errf(err, errlen, LC_ERR_INTERNAL_ERROR,
			       "cgroup %s/%s: the last VM's is still there", h->path,
			       CGROUP_VM_NAME);
	if (mkdirat(h->dir_fd, CGROUP_VM_NAME, 0755) < 0 ||
	    (h->vm_fd = openat(h->dir_fd, CGROUP_VM_NAME, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errf(err, errlen, LC_ERR_INTERNAL_ERROR, "cgroup %s/%s: %s", h->path,
			       CGROUP_VM_NAME, strerror(errno));
	int code = set_limits(h, &l, err, errlen);
	if (code) {
		(void)cgroup_vm_remove(h);
		return code;
	}
	struct config_size_text t;
	log_info("cgroup %s/%s: memory.max %s, pids.max %u, cpu.max %llu/%llu", h->path,
		 CGROUP_VM_NAME, l.memory_max ? config_format_size(&t, l.memory_max) : "none",
		 l.pids_max, (unsigned long long)l.cpu_quota_us, (unsigned long long)l.cpu_period_us);
	return 0;
}

int cgroup_vm_leaf(struct cgroup_host *h, const char *name)
{
	if (h->vm_fd < 0)
		return -EBADF;
	int fd = make_child(h->vm_fd, name);
	if (fd < 0)
		return fd;
	int procs = openat(fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
	int err = procs < 0 ? -errno : procs;
	close(fd);
	return err;
}

bool cgroup_vm_oom_killed(const struct cgroup_host *h, const char *name)
{
	char path[128], buf[1024];
	uint64_t kills;
	if (h->vm_fd < 0 || (size_t)snprintf(path, sizeof(path), "%s/memory.events.local", name) >=
				    sizeof(path))
		return false;
	ssize_t n = read_at(h->vm_fd, path, buf, sizeof(buf));
	return n >= 0 && cgroup_parse_keyed(buf, (size_t)n, "oom_kill", &kills) == 0 && kills > 0;
}

/* Whether the cgroup at fd has a process, through its cgroup.events
 * (events_fd): 1, 0, or -errno. */
static int populated(int events_fd)
{
	char buf[256];
	uint64_t v;
	if (lseek(events_fd, 0, SEEK_SET) < 0)
		return -errno;
	ssize_t n = read(events_fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	if (cgroup_parse_keyed(buf, (size_t)n, "populated", &v) < 0)
		return -EINVAL;
	return v != 0;
}

/* Kills whatever is in DIR/vm and waits up to CGROUP_KILL_WAIT_MS for it to
 * go: cgroup.events is modified (POLLPRI) when populated changes. */
static int empty_vm(struct cgroup_host *h)
{
	int ev = openat(h->vm_fd, "cgroup.events", O_RDONLY | O_CLOEXEC);
	if (ev < 0)
		return -errno;
	int r = populated(ev);
	if (r == 1 && (r = write_at(h->vm_fd, "cgroup.kill", "1")) == 0) {
		uint64_t deadline = evloop_now_ns() + CGROUP_KILL_WAIT_MS * 1000000ull;
		while ((r = populated(ev)) == 1) {
			uint64_t now = evloop_now_ns();
			if (now >= deadline) {
				r = -EBUSY;
				break;
			}
			struct pollfd p = { .fd = ev, .events = POLLPRI };
			if (poll(&p, 1, (int)((deadline - now) / 1000000) + 1) < 0 && errno != EINTR) {
				r = -errno;
				break;
			}
		}
	}
	close(ev);
	return r < 0 ? r : 0;
}

/* Removes every leaf of DIR/vm (cgroups hold no files that need removing). */
static int remove_leaves(struct cgroup_host *h)
{
	int fd = openat(h->vm_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int err = -errno;
		close(fd);
		return err;
	}
	int err = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_type == DT_DIR && strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		    unlinkat(h->vm_fd, e->d_name, AT_REMOVEDIR) < 0 && !err)
			err = -errno;
	closedir(d);
	return err;
}

int cgroup_vm_remove(struct cgroup_host *h)
{
	if (h->vm_fd < 0)
		return 0;
	int err = empty_vm(h);
	if (!err)
		err = remove_leaves(h);
	if (!err && unlinkat(h->dir_fd, CGROUP_VM_NAME, AT_REMOVEDIR) < 0)
		err = -errno;
	if (err) {
		log_err("cgroup %s/%s: not removed: %s (tried again at the next Create)", h->path,
			CGROUP_VM_NAME, strerror(-err));
		return err;
	}
	close_fd(&h->vm_fd);
	return 0;
}

int cgroup_read_stats(int dirfd, struct cgroup_stats *out)
{
	static const struct {
		enum cgroup_stat_file which;
		const char *name;
	} files[] = {
		{ CGROUP_FILE_MEMORY_CURRENT, "memory.current" },
		{ CGROUP_FILE_MEMORY_STAT, "memory.stat" },
		{ CGROUP_FILE_MEMORY_EVENTS, "memory.events.local" },
		{ CGROUP_FILE_CPU_STAT, "cpu.stat" },
		{ CGROUP_FILE_PIDS_CURRENT, "pids.current" },
	};
	char buf[FILE_MAX];
	*out = (struct cgroup_stats){ 0 };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		ssize_t n = read_at(dirfd, files[i].name, buf, sizeof(buf));
		if (n == -ENOENT)
			continue;
		if (n < 0)
			return (int)n;
		if (cgroup_stats_parse(files[i].which, buf, (size_t)n, out) < 0)
			return -EINVAL;
	}
	return 0;
}
