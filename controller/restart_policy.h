/* When cellvmd restarts a device process that died (or that the worker
 * found hung and had killed), and when it gives up and ends the VM with
 * VCPU_RUNTIME_FAILURE naming the device.
 *
 * A policy is "at most `max` restarts in any `window_s` seconds"; max 0
 * turns restarts off. A device's own ("block_devices[i].restart"), else the
 * VM's ("restart"), else the default (5 in 60 s); the operator's cap
 * (cellvmd --max-restarts) bounds max whatever the config says. Backoff:
 * the k-th restart of a window (k from 0) comes no sooner than
 * RESTART_BACKOFF_BASE_MS << (k - 1) after the one before (at most
 * RESTART_BACKOFF_MAX_MS), so a device that dies now and then is restarted
 * at once and one that dies in a loop slows down before it is given up.
 * Everything here is pure: times are the caller's monotonic milliseconds. */
#ifndef CELLVM_RESTART_POLICY_H
#define CELLVM_RESTART_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RESTART_DEFAULT_MAX 5u
#define RESTART_DEFAULT_WINDOW_S 60u
#define RESTART_MAX_MAX 100u      /* the config's bound on max */
#define RESTART_WINDOW_MAX_S 86400u
#define RESTART_BACKOFF_BASE_MS 100u
#define RESTART_BACKOFF_MAX_MS 5000u

/* What a config says: `set` false where it says nothing. */
struct restart_cfg {
	bool set;
	uint32_t max;      /* 0..RESTART_MAX_MAX */
	uint32_t window_s; /* 1..RESTART_WINDOW_MAX_S */
};

struct restart_policy {
	uint32_t max;
	uint32_t window_s;
};

/* The policy of a device: dev's, else vm's, else the default, with max at
 * most cap (the operator's; UINT32_MAX: none). */
struct restart_policy restart_policy_for(const struct restart_cfg *dev,
					 const struct restart_cfg *vm, uint32_t cap);

/* A device's past restarts: the last RESTART_MAX_MAX times, oldest first. */
struct restart_history {
	size_t n;
	uint64_t t_ms[RESTART_MAX_MAX];
	uint64_t total; /* since the VM started, for status and metrics */
};

enum restart_verdict { RESTART_NOW, RESTART_LATER, RESTART_GIVE_UP };

/* The device died at now_ms: restart it now, after *delay_ms (LATER), or
 * give up (the policy's max restarts already happened in the window). */
enum restart_verdict restart_decide(const struct restart_policy *p,
				    const struct restart_history *h, uint64_t now_ms,
				    uint64_t *delay_ms);

/* A restart happened at now_ms. */
void restart_record(struct restart_history *h, uint64_t now_ms);

#endif
