/* cellvmd's requests to a VM's device processes over their control
 * channels (common/dev_ctl.h), in the controller's event loop.
 *
 * A query sends one request to each device it names (one by name, or every
 * device with a channel) and completes once each has answered or
 * DEV_QUERY_TIMEOUT_MS have passed. It never blocks, and it believes
 * nothing of a device but a reply that decodes (dev_ctl.h) and answers the
 * request in flight: its seq and type. A device is compromisable: one whose
 * channel breaks the protocol (a malformed packet, a reply of the wrong type,
 * more stray replies than it had requests time out, EOF) is asked nothing
 * more (DEV_ANSWER_BROKEN, logged once); one that is merely late gets
 * DEV_ANSWER_TIMEOUT for that query and its late reply is dropped.
 *
 * Queries run one at a time, in order of submission; at most DEV_QUERY_MAX
 * wait. done is always called from an event-loop callback or from
 * dev_queries_release(), never from within dev_query_submit(). */
#ifndef CELLVM_DEV_QUERY_H
#define CELLVM_DEV_QUERY_H

#include <stddef.h>

#include "dev_ctl.h"
#include "event_loop.h"
#include "vm.h"

#define DEV_QUERY_TIMEOUT_MS 500
#define DEV_QUERY_MAX 16

enum dev_answer {
	DEV_ANSWER_OK,      /* reply holds the device's answer */
	DEV_ANSWER_TIMEOUT, /* no answer in time (or its socket was full) */
	DEV_ANSWER_BROKEN,  /* its channel broke the protocol or closed */
	DEV_ANSWER_GONE,    /* the VM went away before it answered */
};

/* One answer per device asked, in the VM's order of children. */
struct dev_query_result {
	size_t n;
	struct {
		const struct vm_child *child;
		enum dev_answer answer;
		struct dev_ctl_reply reply;
	} dev[VM_MAX_CHILDREN];
};

typedef void (*dev_query_done)(void *opaque, const struct dev_query_result *r);

struct dev_queries;

int dev_queries_create(struct dev_queries **out, struct evloop *loop, struct vm *vm);
/* Call once no VM is left (after dev_queries_release). */
void dev_queries_destroy(struct dev_queries *q);

/* Sends rq (its seq is the module's own) to the device named only, to
 * every device with a channel (only NULL), or to none (only "": done comes
 * from the loop with no answers, for a caller that must not be answered
 * within its own call). 0; -ENOENT: only names no device with a channel;
 * -EBUSY: DEV_QUERY_MAX queries wait. done then is not called. */
int dev_query_submit(struct dev_queries *q, const struct dev_ctl_req *rq, const char *only,
		     dev_query_done done, void *opaque);

/* The VM is going away (before vm_release): each query still waiting
 * completes now, its devices that did not answer as DEV_ANSWER_GONE, and the
 * channels leave the loop. Queries may be submitted again for the next VM. */
void dev_queries_release(struct dev_queries *q);

#endif
