/* The VM config: a JSON document (docs/config.md) read into a plain struct.
 *
 * vm_config_parse() is pure: bytes in, struct or message out. It touches no
 * file, opens no path, logs nothing; the paths it returns are only checked
 * for form (length, no NUL), never for existence. The struct holds no
 * pointers (fixed arrays, copied strings), so it needs no free and can be
 * copied or sent whole.
 *
 * Every limit below is the machine's own (common/machine.h): a config that
 * parses fits the machine the vcpu-worker builds. */
#ifndef CELLVM_CONFIG_H
#define CELLVM_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "machine.h"
#include "rate_limiter.h"
#include "restart_policy.h"
#include "sandbox_mode.h"

#define VM_CONFIG_MAX_BYTES (1u << 20)           /* a config document, at most */
#define VM_CONFIG_MAX_DEPTH 8                    /* nesting of objects/arrays */
#define VM_CONFIG_MAX_CPUS MACHINE_MAX_CPUS      /* 32 */
#define VM_CONFIG_MAX_DEVICES MACHINE_MAX_VIRTIO /* block + net + console + rng + balloon + vsock */
#define VM_CONFIG_CMDLINE_MAX MACHINE_CMDLINE_MAX /* including the NUL */
#define VM_CONFIG_PATH_MAX PATH_MAX              /* including the NUL */
#define VM_CONFIG_SOCKET_MAX 108                 /* sizeof(sun_path), incl. NUL */
#define VM_CONFIG_SERIAL_MAX 20                  /* virtio-blk ID bytes, no NUL */
#define VM_CONFIG_TAP_MAX 16                     /* IFNAMSIZ, including the NUL */
/* A net device's virtqueues, Cloud Hypervisor's num_queues: rx/tx pairs
 * times 2; cellvm-net serves up to 8 pairs. */
#define VM_CONFIG_NET_QUEUES_DEFAULT 2
#define VM_CONFIG_NET_QUEUES_MAX 16

#define VM_CONFIG_MEM_MIN (16ull << 20)
#define VM_CONFIG_MEM_MAX (64ull << 30)
#define VM_CONFIG_MEM_ALIGN (2ull << 20)
#define VM_CONFIG_MEM_DEFAULT (256ull << 20)



/* Who serves a device: a process cellvm starts (cellvm-blk on `path`,
 * cellvm-net on `tap`), or an external vhost-user backend already listening
 * on `vhost_user_socket` (e.g. qemu-storage-daemon). */
enum vm_backend { VM_BACKEND_CELLVM, VM_BACKEND_VHOST_USER };

struct vm_block_device {
	enum vm_backend backend;
	char path[VM_CONFIG_PATH_MAX];                /* "" for VHOST_USER */
	char vhost_user_socket[VM_CONFIG_SOCKET_MAX]; /* "" for CELLVM */
	bool read_only;                               /* false for VHOST_USER */
	char serial[VM_CONFIG_SERIAL_MAX + 1];        /* "" when not set */
	/* The device's own "sandbox", else the VM-wide one. For VHOST_USER it is
	 * the VM-wide one and means nothing: cellvm does not start that backend. */
	enum sandbox_mode sandbox;
	/* Firecracker's rate limiter; a bucket not given is all 0 (unlimited),
	 * one given has size and refill_ms > 0. None for VHOST_USER. */
	struct rl_cfg rate_limiter;
	/* Its process's restarts (restart_policy.h); unset: the VM's. None for
	 * VHOST_USER. */
	struct restart_cfg restart;
};

struct vm_net_device {
	enum vm_backend backend;
	char tap[VM_CONFIG_TAP_MAX];                  /* "" for VHOST_USER */
	char vhost_user_socket[VM_CONFIG_SOCKET_MAX]; /* "" for CELLVM */
	bool has_mac;                                 /* else the VMM picks one */
	uint8_t mac[6];
	enum sandbox_mode sandbox;                      /* as for block devices */
	struct rl_cfg rx_rate_limiter, tx_rate_limiter; /* as for block devices */
	/* Even, 2..VM_CONFIG_NET_QUEUES_MAX; one tap queue per pair. For
	 * VHOST_USER the default: that backend says what it serves. */
	uint32_t num_queues;
	struct restart_cfg restart;                     /* as for block devices */
};

/* A virtio-balloon (cellvm-balloon), Firecracker's "balloon" object. */
struct vm_balloon {
	bool present;
	uint32_t amount_mib;               /* the target at boot; at most memory */
	bool deflate_on_oom;
	uint32_t stats_polling_interval_s; /* 0: no statistics */
	bool free_page_reporting;
};
#define VM_CONFIG_BALLOON_STATS_MAX 86400 /* s: the device's bound */
/* Firecracker's "vsock": cellvm-vsock with its hybrid Unix socket. */
#define VM_CONFIG_VSOCK_CID_MIN 3u          /* 0-2 are reserved */
#define VM_CONFIG_VSOCK_CID_MAX 0xfffffffeu /* 0xffffffff is VMADDR_CID_ANY */
struct vm_vsock {
	uint32_t guest_cid;
	/* Absolute; host programs connect here, the guest's connections to
	 * port P go to uds_path + "_P" (docs/config.md). */
	char uds_path[VM_CONFIG_SOCKET_MAX];
};

struct vm_config {
	char kernel[VM_CONFIG_PATH_MAX];
	char initrd[VM_CONFIG_PATH_MAX];       /* "" when absent */
	char cmdline[VM_CONFIG_CMDLINE_MAX];   /* "" when absent */
	uint32_t cpus;                         /* 1..VM_CONFIG_MAX_CPUS */
	uint64_t memory;                       /* bytes, see VM_CONFIG_MEM_* */
	size_t nblock;
	struct vm_block_device block[VM_CONFIG_MAX_DEVICES];
	size_t nnet;
	struct vm_net_device net[VM_CONFIG_MAX_DEVICES];
	bool console;
	bool rng;
	struct vm_balloon balloon;
	bool vsock;                  /* vsock_dev is set */
	struct vm_vsock vsock_dev;
	enum sandbox_mode sandbox;
	struct restart_cfg restart; /* every device process's, but its own */
};

/* The virtio devices cfg asks for: block + net + console + rng + balloon. */
size_t vm_config_ndevices(const struct vm_config *cfg);

/* Parses and validates the JSON config in json[0..len) (need not be
 * NUL-terminated; a NUL byte anywhere in it is an error). Returns 0 with
 * *out filled (defaults for what is absent), -EINVAL with a one-line message
 * in err naming the field and what to do (e.g. `memory: "12X": want a size
 * such as 512M or 2G`), or -ENOMEM. *out is untouched on failure. err may be
 * NULL; the message is truncated to errlen. */
int vm_config_parse(const char *json, size_t len, struct vm_config *out, char *err,
		    size_t errlen);

/* A size: decimal digits and an optional binary suffix K, M, G or T (either
 * case): "1048576", "512M", "2G". Nothing else (no blanks, signs, fractions
 * or "MiB"). 0 with *out set, or -EINVAL (overflow too) with *out untouched.
 * Checks no range: the caller does. */
int config_parse_size(const char *s, uint64_t *out);

/* A size for messages, in the largest binary unit that divides it ("2G",
 * "1536M", "12345 bytes"); written into *b, which it returns. */
struct config_size_text {
	char s[32];
};
const char *config_format_size(struct config_size_text *b, uint64_t v);

#endif
