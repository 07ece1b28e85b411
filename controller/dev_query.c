#include "dev_query.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "log.h"

#define READS_PER_ROUND 8

struct query {
	struct dev_ctl_req rq;
	bool all;                    /* every device with a channel, else: */
	char only[MACHINE_NAME_MAX]; /* this one ("": none) */
	dev_query_done done;
	void *opaque;
};

/* What cellvmd knows of one child's channel. */
struct channel {
	struct dev_queries *q;
	size_t idx;            /* in vm->child */
	bool watched;          /* its fd is in the loop */
	bool broken;
	bool waiting;          /* asked in the current query, no answer yet */
	uint32_t seq;          /* of the request in flight */
	enum dev_ctl_type type;
	unsigned late_allowed; /* requests that timed out: each may still answer */
	size_t slot;           /* its entry in the current result */
};

struct dev_queries {
	struct evloop *loop;
	struct vm *vm;
	struct channel ch[VM_MAX_CHILDREN];
	struct query queue[DEV_QUERY_MAX]; /* [0] runs when running */
	size_t nqueued;
	bool running;
	size_t outstanding;
	uint32_t next_seq;
	struct dev_query_result result;
	struct evloop_timer timer; /* the running query's deadline, or a 0 ms start */
};

static void start_next(struct dev_queries *q);

static void complete(struct dev_queries *q)
{
	struct query done = q->queue[0];
	evloop_timer_cancel(&q->timer);
	q->running = false;
	q->nqueued--;
	memmove(q->queue, q->queue + 1, q->nqueued * sizeof(q->queue[0]));
	for (size_t i = 0; i < VM_MAX_CHILDREN; i++)
		q->ch[i].waiting = false;
	done.done(done.opaque, &q->result);
	/* In a later round: done may have submitted, or released the VM. */
	if (q->nqueued)
		evloop_timer_arm(q->loop, &q->timer, 0);
}

static void answer(struct dev_queries *q, struct channel *c, enum dev_answer a,
		   const struct dev_ctl_reply *rp)
{
	if (!c->waiting)
		return;
	c->waiting = false;
	q->result.dev[c->slot].answer = a;
	if (rp)
		q->result.dev[c->slot].reply = *rp;
	if (--q->outstanding == 0)
		complete(q);
}

static void stop_watching(struct dev_queries *q, struct channel *c)
{
	if (c->watched)
		evloop_del(q->loop, q->vm->child[c->idx].ctl_fd);
	c->watched = false;
}

/* The channel is done with: it broke the protocol (why), or closed (why
 * NULL: the device is exiting, as when the VM stops). */
static void breaks(struct dev_queries *q, struct channel *c, const char *why)
{
	if (!c->broken)
		log_msg(why ? LOG_LVL_WARN : LOG_LVL_DEBUG, __func__,
			"%s: control channel %s; it is asked nothing more",
			q->vm->child[c->idx].name, why ? why : "closed");
	c->broken = true;
	stop_watching(q, c);
	answer(q, c, DEV_ANSWER_BROKEN, NULL);
}

/* One reply: the answer in flight, a late one (dropped), or a violation. */
static void take_reply(struct dev_queries *q, struct channel *c, const struct dev_ctl_reply *rp)
{
	if (c->waiting && rp->seq == c->seq) {
		if (rp->type != c->type)
			breaks(q, c, "broken: a reply of another type");
		else
			answer(q, c, DEV_ANSWER_OK, rp);
		return;
	}
	if (c->late_allowed == 0) {
		breaks(q, c, "broken: a reply to nothing asked");
		return;
	}
	c->late_allowed--;
	log_debug("%s: late control reply dropped", q->vm->child[c->idx].name);
}

static void on_channel(void *opaque, uint32_t events)
{
	struct channel *c = opaque;
	struct dev_queries *q = c->q;
	(void)events;
	for (int i = 0; i < READS_PER_ROUND && c->watched; i++) {
		struct dev_ctl_reply rp;
		int err = dev_ctl_recv_reply(q->vm->child[c->idx].ctl_fd, &rp);
		if (err == -EAGAIN)
			return;
		if (err == -ECONNRESET)
			breaks(q, c, NULL);
		else if (err == -EBADMSG)
			breaks(q, c, "broken: a malformed reply");
		else if (err < 0)
			breaks(q, c, strerror(-err));
		else
			take_reply(q, c, &rp);
	}
}

/* Sends the running query's request to child i; false if it was not sent
 * (then the device's answer is already in the result). */
static bool ask(struct dev_queries *q, size_t i, const struct dev_ctl_req *rq)
{
	struct channel *c = &q->ch[i];
	struct vm_child *child = &q->vm->child[i];
	size_t slot = q->result.n++;
	q->result.dev[slot] = (typeof(q->result.dev[0])){ .child = child };
	if (c->broken) {
		q->result.dev[slot].answer = DEV_ANSWER_BROKEN;
		return false;
	}
	int err = 0;
	if (!c->watched) {
		*c = (struct channel){ .q = q, .idx = i };
		if ((err = evloop_add(q->loop, child->ctl_fd, EPOLLIN, on_channel, c)) < 0) {
			log_err("%s: watching its control channel: %s", child->name, strerror(-err));
			q->result.dev[slot].answer = DEV_ANSWER_BROKEN;
			return false;
		}
		c->watched = true;
	}
	struct dev_ctl_req m = *rq;
	m.seq = q->next_seq++;
	c->slot = slot;
	if ((err = dev_ctl_send_req(child->ctl_fd, &m)) == -EAGAIN) {
		/* It does not read what it was sent: late, not broken. */
		q->result.dev[slot].answer = DEV_ANSWER_TIMEOUT;
		return false;
	}
	if (err < 0) {
		c->waiting = false;
		breaks(q, c, strerror(-err));
		q->result.dev[slot].answer = DEV_ANSWER_BROKEN;
		return false;
	}
	c->waiting = true;
	c->seq = m.seq;
	c->type = m.type;
	return true;
}

static bool wanted(const struct dev_queries *q, size_t i, bool all, const char *only)
{
	const struct vm_child *c = &q->vm->child[i];
	return c->ctl_fd >= 0 && !c->exited && (all || strcmp(c->name, only) == 0);
}

static void start_next(struct dev_queries *q)
{
	if (q->running || !q->nqueued)
		return;
	struct query *cur = &q->queue[0];
	q->running = true;
	q->outstanding = 0;
	q->result.n = 0;
	for (size_t i = 0; i < q->vm->nchildren; i++)
		if (wanted(q, i, cur->all, cur->only) && ask(q, i, &cur->rq))
			q->outstanding++;
	if (q->outstanding == 0)
		complete(q);
	else
		evloop_timer_arm(q->loop, &q->timer, DEV_QUERY_TIMEOUT_MS);
}

/* The deadline of the running query, or the start of the next one. */
static void on_timer(void *opaque)
{
	struct dev_queries *q = opaque;
	if (!q->running) {
		start_next(q);
		return;
	}
	for (size_t i = 0; i < VM_MAX_CHILDREN && q->running; i++) {
		struct channel *c = &q->ch[i];
		if (!c->waiting)
			continue;
		c->late_allowed++;
		answer(q, c, DEV_ANSWER_TIMEOUT, NULL);
	}
}

int dev_query_submit(struct dev_queries *q, const struct dev_ctl_req *rq, const char *only,
		     dev_query_done done, void *opaque)
{
	if (q->nqueued == DEV_QUERY_MAX)
		return -EBUSY;
	bool any = false;
	for (size_t i = 0; only && only[0] && i < q->vm->nchildren && !any; i++)
		any = wanted(q, i, false, only);
	if (only && only[0] && !any)
		return -ENOENT;
	struct query *n = &q->queue[q->nqueued++];
	*n = (struct query){ .rq = *rq, .all = !only, .done = done, .opaque = opaque };
	snprintf(n->only, sizeof(n->only), "%s", only ? only : "");
	/* Started from the loop, so done never runs inside this call. */
	if (!q->running && !evloop_timer_armed(&q->timer))
		evloop_timer_arm(q->loop, &q->timer, 0);
	return 0;
}

void dev_queries_release(struct dev_queries *q)
{
	evloop_timer_cancel(&q->timer);
	while (q->nqueued) {
		if (!q->running) {
			/* Never started: nobody was asked. */
			q->running = true;
			q->result.n = 0;
			q->outstanding = 0;
		}
		for (size_t i = 0; i < VM_MAX_CHILDREN; i++)
			if (q->ch[i].waiting)
				q->result.dev[q->ch[i].slot].answer = DEV_ANSWER_GONE;
		struct query done = q->queue[0];
		q->running = false;
		q->nqueued--;
		memmove(q->queue, q->queue + 1, q->nqueued * sizeof(q->queue[0]));
		for (size_t i = 0; i < VM_MAX_CHILDREN; i++)
			q->ch[i].waiting = false;
		done.done(done.opaque, &q->result);
	}
	for (size_t i = 0; i < VM_MAX_CHILDREN; i++) {
		if (i < q->vm->nchildren)
			stop_watching(q, &q->ch[i]);
		q->ch[i] = (struct channel){ .q = q, .idx = i };
	}
}

int dev_queries_create(struct dev_queries **out, struct evloop *loop, struct vm *vm)
{
	struct dev_queries *q = calloc(1, sizeof(*q));
	if (!q)
		return -ENOMEM;
	q->loop = loop;
	q->vm = vm;
	q->next_seq = 1;
	evloop_timer_init(&q->timer, on_timer, q);
	for (size_t i = 0; i < VM_MAX_CHILDREN; i++)
		q->ch[i] = (struct channel){ .q = q, .idx = i };
	*out = q;
	return 0;
}

void dev_queries_destroy(struct dev_queries *q)
{
	if (!q)
		return;
	evloop_timer_cancel(&q->timer);
	free(q);
}
