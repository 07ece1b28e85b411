/* The Metrics, SetRateLimiter, SetBalloon and BalloonStats calls' work in cellvmd (docs/rpc.md): asks
 * the VM's device processes over their control channels (dev_query.h) and
 * the kernel about each process (proc_usage.h), and hands the caller a
 * snapshot (metrics.h) or the device's answer, from the event loop.
 *
 * Devices are asked only while lifecycle_device_call() allows it (CREATED,
 * RUNNING); in other states Metrics has the VM's state, uptime and
 * processes and no devices. External vhost-user backends are no processes
 * of cellvm's and have no counters here. Callers must stay valid until
 * their done runs: from the loop, or from metrics_collect_release(). */
#ifndef CELLVM_METRICS_COLLECT_H
#define CELLVM_METRICS_COLLECT_H

#include <stdint.h>

#include "dev_ctl.h"
#include "event_loop.h"
#include "lifecycle.h"
#include "metrics.h"
#include "vm.h"

struct collector;

/* vm_name: the snapshot's `vm` (copied). */
int metrics_collect_create(struct collector **out, struct evloop *loop, struct vm *vm,
			   const char *vm_name);
void metrics_collect_destroy(struct collector *c);

typedef void (*metrics_done)(void *opaque, const struct metrics_snapshot *s);
/* A snapshot of the VM as it is in state st (lifecycle_status()'s). 0, or
 * -EBUSY (too many calls waiting: done is not called). */
int metrics_collect(struct collector *c, const struct lifecycle_status *st, metrics_done done,
		    void *opaque);

/* code: 0, or the GuestError to answer with (message says why). */
typedef void (*rate_limit_done)(void *opaque, int code, const char *message);
/* Sends rl to the device named device (checked: lifecycle_device_call()
 * allows it, the device exists and is cellvm's). done gets 0, or
 * DEVICE_NOT_PRESENT (no such device of cellvm's), BAD_CONFIG (the device
 * refused the limits: -EINVAL), NOT_CREATED (the state), INTERNAL_ERROR (the
 * device failed, did not answer, has no rate limiter: -EOPNOTSUPP). Always
 * answered through done: at once when refused here (the caller must take
 * that), else from the loop. */
void metrics_collect_set_rate_limit(struct collector *c, enum lifecycle_state state,
				    const char *device, const struct dev_ctl_rate_limit *rl,
				    rate_limit_done done, void *opaque);

/* The balloon device's machine name: a VM has one at most. */
#define METRICS_BALLOON_DEVICE "balloon0"

/* code as for rate_limit_done; reply: the balloon's answer when code is 0,
 * else NULL. */
typedef void (*balloon_done)(void *opaque, int code, const char *message,
			     const struct dev_ctl_reply *reply);
/* Sends rq (SET_BALLOON_TARGET or GET_BALLOON_STATS) to the balloon. done
 * gets 0 with its reply, or DEVICE_NOT_PRESENT (no balloon), NOT_CREATED
 * (the state), INTERNAL_ERROR (it failed or did not answer); at once when
 * refused here, else from the loop. */
void metrics_collect_balloon(struct collector *c, enum lifecycle_state state,
			     const struct dev_ctl_req *rq, balloon_done done, void *opaque);

/* Before vm_release(): calls still waiting are answered now. */
void metrics_collect_release(struct collector *c);

#endif
