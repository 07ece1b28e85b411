/* libFuzzer harness: cellvmd's VM lifecycle (controller/lifecycle.c), which a
 * tenant drives with any sequence of calls and the VM's (compromisable)
 * processes drive with their exits, checked against docs/rpc.md's table.
 *
 * Input: a sequence of records, each starting with an op byte:
 *   op & 7     the event: 0 Create, 1 CreateDone, 2 Bind, 3 Run, 4 Stop,
 *              5 ChildExited, 6 AllExited, 7 an unknown type (7 + bits 3-4)
 *   bits 3-4   the client connection a request comes from (0-3)
 *   bits 5-7   k: the monotonic clock first advances by k << 4k ns
 *   CreateDone then: byte error (signed), string detail
 *   ChildExited then: byte kind (% 12: 10 and 11 are unknown kinds), byte
 *              status (signed), byte signo (signed), string who, string
 *              detail
 * A string is a length byte (0xff: NULL) and that many bytes (cut at the
 * input's end). Each event goes through lifecycle_handle as controller/
 * server.c feeds it; at the end the controller's shutdown (Stop, then
 * AllExited) ends any VM left.
 * Asserted (abort): each decision is the one docs/rpc.md's table gives for
 * the event in the state (reply, error, actions, Create/Run errors, guest
 * epitaph, next state, Status's last error); replies use only the GuestError
 * codes; LC_ACT_REPLY_* answer only calls that wait, so every Create, Run and
 * Stop of every client is answered exactly once, and all of them by the end;
 * refused calls and ignored events leave the machine byte for byte as it
 * was; Status names a valid state, counts uptime as lifecycle.h says, and its
 * reason is one printable line under LC_REASON_MAX (a failed Create's detail,
 * '?' for control bytes); calls to the devices (lifecycle_device_call) are
 * taken in CREATED and RUNNING only; error names round-trip, and a
 * CreateDone code or state out of range is named UNKNOWN.
 *
 * Links: controller/lifecycle.c */
#include <stdlib.h>
#include <string.h>

#include "lifecycle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())
#define NCLIENTS 4
#define ALL_ACTIONS 0x3ffu

/* The controller's view (server.c's callers) plus the table's state. */
static struct {
	enum lifecycle_state state;
	int end_error;
	int last_error; /* -1: none yet */
	int create_client, run_client; /* -1: none waiting */
	unsigned stops[NCLIENTS];      /* Stop calls waiting, per client */
	unsigned asked[NCLIENTS], answered[NCLIENTS];
	uint64_t run_start, run_end;
	bool ran;
} m;

static struct lifecycle lc;
static uint64_t now;

static void answer(int client)
{
	CHECK(client >= 0 && client < NCLIENTS);
	m.answered[client]++;
	CHECK(m.answered[client] <= m.asked[client]);
}

/* docs/rpc.md's reasons table. */
static int create_exit_error(unsigned kind)
{
	switch (kind) {
	case LC_EXIT_KERNEL_LOAD: return LC_ERR_KERNEL_LOAD_FAILURE;
	case LC_EXIT_BACKEND_LOST: return LC_ERR_DEVICE_INITIALIZATION_FAILURE;
	case LC_EXIT_DEVICE_DIED: return LC_ERR_DEVICE_START_FAILURE;
	default: return LC_ERR_GUEST_INITIALIZATION_FAILURE;
	}
}

static int run_exit_error(unsigned kind)
{
	switch (kind) {
	case LC_EXIT_POWEROFF:
	case LC_EXIT_REBOOT: return LC_OK;
	case LC_EXIT_START_FAILURE: return LC_ERR_VCPU_START_FAILURE;
	default: return LC_ERR_VCPU_RUNTIME_FAILURE; /* unknown kinds too: never clean */
	}
}

/* What the table says; returns the actions it wants. */
static unsigned begin_stop(int error)
{
	if (m.state == LC_RUNNING)
		m.run_end = now;
	m.state = LC_STOPPING;
	m.end_error = error;
	return LC_ACT_STOP_ALL;
}

/* AllExited: checks and carries out the end's replies. */
static void finish(const struct lifecycle_decision *d)
{
	unsigned want = LC_ACT_RELEASE;
	if (m.create_client >= 0) {
		want |= LC_ACT_REPLY_CREATE;
		CHECK(d->create_error == m.end_error);
		answer(m.create_client);
		m.create_client = -1;
	} else {
		want |= LC_ACT_CLOSE_GUESTS;
		CHECK(d->guests_clean == (m.end_error == LC_OK ||
					  m.end_error == LC_ERR_CONTROLLER_FORCED_HALT));
	}
	if (m.run_client >= 0) {
		want |= LC_ACT_REPLY_RUN;
		CHECK(d->run_error == m.end_error);
		answer(m.run_client);
		m.run_client = -1;
	}
	bool stops = false;
	for (int c = 0; c < NCLIENTS; c++)
		for (; m.stops[c]; m.stops[c]--, stops = true)
			answer(c);
	if (stops)
		want |= LC_ACT_REPLY_STOPS;
	CHECK(d->actions == want);
	m.state = LC_NOT_CREATED;
}

static void expect_reply(const struct lifecycle_decision *d, enum lifecycle_reply r, int error,
			 int client)
{
	CHECK(d->reply == r);
	if (r == LC_REPLY_ERROR)
		CHECK(d->error == error);
	if (r == LC_REPLY_OK || r == LC_REPLY_ERROR)
		answer(client);
}

/* The table's cell for (m.state, ev); advances the model. */
static void check_decision(const struct lifecycle_event *ev, int client,
			   const struct lifecycle_decision *d)
{
	enum lifecycle_state s = m.state;
	unsigned want = 0;
	bool ignored = false;
	switch (ev->type) {
	case LC_EV_CREATE:
		if (s != LC_NOT_CREATED) {
			expect_reply(d, LC_REPLY_ERROR, LC_ERR_ALREADY_RUNNING, client);
			break;
		}
		expect_reply(d, LC_REPLY_LATER, 0, client);
		m.state = LC_CREATING;
		m.create_client = client;
		m.end_error = LC_OK;
		m.ran = false;
		want = LC_ACT_START;
		break;
	case LC_EV_CREATE_DONE:
		expect_reply(d, LC_REPLY_NONE, 0, client);
		if (s != LC_CREATING) {
			ignored = true;
		} else if (ev->error == LC_OK) {
			want = LC_ACT_REPLY_CREATE;
			CHECK(d->create_error == LC_OK);
			answer(m.create_client);
			m.create_client = -1;
			m.state = LC_CREATED;
		} else {
			int e = ev->error >= 1 && ev->error <= LC_ERR_MAX ? ev->error
									   : LC_ERR_INTERNAL_ERROR;
			m.last_error = e;
			want = begin_stop(e);
		}
		break;
	case LC_EV_BIND:
		expect_reply(d, LC_REPLY_NONE, 0, client);
		want = s == LC_CREATED || s == LC_RUNNING ? LC_ACT_ACCEPT_BIND : LC_ACT_CLOSE_BIND;
		break;
	case LC_EV_RUN:
		if (s == LC_RUNNING) {
			expect_reply(d, LC_REPLY_ERROR, LC_ERR_ALREADY_RUNNING, client);
		} else if (s != LC_CREATED) {
			expect_reply(d, LC_REPLY_ERROR, LC_ERR_NOT_CREATED, client);
		} else {
			expect_reply(d, LC_REPLY_LATER, 0, client);
			m.state = LC_RUNNING;
			m.run_client = client;
			m.ran = true;
			m.run_start = now;
			want = LC_ACT_RUN_VCPUS;
		}
		break;
	case LC_EV_STOP:
		if (s == LC_NOT_CREATED) {
			expect_reply(d, LC_REPLY_OK, 0, client);
			break;
		}
		expect_reply(d, LC_REPLY_LATER, 0, client);
		m.stops[client]++;
		if (s != LC_STOPPING) {
			m.last_error = LC_ERR_CONTROLLER_FORCED_HALT;
			want = begin_stop(LC_ERR_CONTROLLER_FORCED_HALT);
		}
		break;
	case LC_EV_CHILD_EXITED:
		expect_reply(d, LC_REPLY_NONE, 0, client);
		if (s == LC_CREATING || s == LC_CREATED || s == LC_RUNNING) {
			int e = s == LC_CREATING ? create_exit_error(ev->exit.kind)
						 : run_exit_error(ev->exit.kind);
			m.last_error = e;
			want = begin_stop(e);
		} else {
			ignored = true;
		}
		break;
	case LC_EV_ALL_EXITED:
		expect_reply(d, LC_REPLY_NONE, 0, client);
		if (s == LC_NOT_CREATED) {
			ignored = true;
			break;
		}
		if (s != LC_STOPPING)
			m.end_error = m.last_error = LC_ERR_INTERNAL_ERROR;
		finish(d);
		want = d->actions;
		break;
	default:
		expect_reply(d, LC_REPLY_NONE, 0, client);
		ignored = true;
		break;
	}
	CHECK(d->actions == want);
	CHECK(d->ignored == ignored);
}

/* What holds after every decision, whatever the table says. */
static void check_common(const struct lifecycle_decision *d, const struct lifecycle *before)
{
	CHECK(d->reply >= LC_REPLY_NONE && d->reply <= LC_REPLY_LATER);
	if (d->reply == LC_REPLY_ERROR)
		CHECK(d->error >= 1 && d->error <= LC_ERR_MAX);
	CHECK((d->actions & ~ALL_ACTIONS) == 0);
	if (d->actions & LC_ACT_REPLY_CREATE)
		CHECK(d->create_error >= 0 && d->create_error <= LC_ERR_MAX);
	if (d->actions & LC_ACT_REPLY_RUN)
		CHECK(d->run_error >= 0 && d->run_error <= LC_ERR_MAX);
	/* Refused calls do not touch Status; ignored events change nothing. */
	if (d->ignored || d->reply == LC_REPLY_ERROR)
		CHECK(memcmp(before, &lc, sizeof(lc)) == 0);
}

/* lifecycle.h's names: a code round-trips, anything else is UNKNOWN. */
static void check_names(int code)
{
	const char *name = lifecycle_error_name(code);
	if (code >= 0 && code <= LC_ERR_MAX)
		CHECK(lifecycle_error_from_name(name) == code);
	else
		CHECK(strcmp(name, "UNKNOWN") == 0 && lifecycle_error_from_name(name) == -1);
	CHECK(lifecycle_error_from_name(NULL) == -1);
	CHECK(strcmp(lifecycle_state_name(LC_STATE_COUNT), "UNKNOWN") == 0);
}

static void check_status(void)
{
	struct lifecycle_status st;
	lifecycle_status(&lc, now, &st);
	CHECK(st.state == m.state);
	CHECK(strcmp(lifecycle_state_name(st.state), "UNKNOWN") != 0);
	CHECK(lifecycle_device_call(st.state) ==
	      (m.state == LC_CREATED || m.state == LC_RUNNING ? LC_OK : LC_ERR_NOT_CREATED));
	uint64_t up = 0;
	if (m.state == LC_RUNNING)
		up = now - m.run_start;
	else if (m.state == LC_STOPPING && m.ran)
		up = m.run_end - m.run_start;
	CHECK(st.uptime_ns == up);
	CHECK(st.have_last == (m.last_error >= 0));
	CHECK(st.last_error == (st.have_last ? m.last_error : LC_OK));
	check_names(st.last_error);
	size_t n = strnlen(st.last_reason, LC_REASON_MAX);
	CHECK(n < LC_REASON_MAX);
	CHECK(st.have_last || n == 0);
	for (size_t i = 0; i < n; i++)
		CHECK((unsigned char)st.last_reason[i] >= 0x20 && st.last_reason[i] != 0x7f);
}

/* A failed Create's reason is its detail, sanitized and cut. */
static void check_detail_reason(const char *detail)
{
	char want[LC_REASON_MAX];
	size_t i = 0;
	for (; detail[i] && i < LC_REASON_MAX - 1; i++)
		want[i] = (unsigned char)detail[i] < 0x20 || detail[i] == 0x7f ? '?' : detail[i];
	want[i] = 0;
	struct lifecycle_status st;
	lifecycle_status(&lc, now, &st);
	CHECK(strcmp(st.last_reason, want) == 0);
}

static uint8_t take(const uint8_t *data, size_t size, size_t *pos)
{
	return *pos < size ? data[(*pos)++] : 0;
}

/* A string of the input in its own allocation, so ASan sees overreads. */
static char *take_str(const uint8_t *data, size_t size, size_t *pos)
{
	uint8_t n = take(data, size, pos);
	if (n == 0xff)
		return NULL;
	size_t len = n < size - *pos ? n : size - *pos;
	char *s = malloc(len + 1);
	CHECK(s != NULL);
	memcpy(s, data + *pos, len);
	s[len] = 0;
	*pos += len;
	return s;
}

static void step(const struct lifecycle_event *ev, int client)
{
	struct lifecycle before;
	memcpy(&before, &lc, sizeof(lc));
	enum lifecycle_state s = m.state;
	if (ev->type == LC_EV_CREATE || ev->type == LC_EV_RUN || ev->type == LC_EV_STOP)
		m.asked[client]++;
	struct lifecycle_decision d = lifecycle_handle(&lc, ev, now);
	check_common(&d, &before);
	check_decision(ev, client, &d);
	check_status();
	if (ev->type == LC_EV_CREATE_DONE && s == LC_CREATING && ev->error != LC_OK &&
	    ev->detail && *ev->detail)
		check_detail_reason(ev->detail);
	if (ev->type == LC_EV_CREATE_DONE)
		check_names(ev->error);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lifecycle_init(&lc);
	memset(&m, 0, sizeof(m));
	m.state = LC_NOT_CREATED;
	m.last_error = m.create_client = m.run_client = -1;
	now = 1000;
	size_t pos = 0;
	while (pos < size) {
		uint8_t op = data[pos++];
		int client = (op >> 3) & 3;
		unsigned k = op >> 5;
		now += (uint64_t)k << (4 * k);
		struct lifecycle_event ev = { .type = op & 7 };
		char *who = NULL, *detail = NULL;
		if (ev.type == 7) {
			ev.type = (enum lifecycle_event_type)(LC_EV_COUNT + client);
		} else if (ev.type == LC_EV_CREATE_DONE) {
			ev.error = (int8_t)take(data, size, &pos);
			ev.detail = detail = take_str(data, size, &pos);
		} else if (ev.type == LC_EV_CHILD_EXITED) {
			ev.exit.kind = (enum lifecycle_exit_kind)(take(data, size, &pos) % 12);
			ev.exit.status = (int8_t)take(data, size, &pos);
			ev.exit.signo = (int8_t)take(data, size, &pos);
			ev.exit.who = who = take_str(data, size, &pos);
			ev.exit.detail = detail = take_str(data, size, &pos);
		}
		step(&ev, client);
		free(who);
		free(detail);
	}
	/* cellvmd's shutdown: Stop, and the children's end. */
	step(&(struct lifecycle_event){ .type = LC_EV_STOP }, 0);
	if (m.state != LC_NOT_CREATED)
		step(&(struct lifecycle_event){ .type = LC_EV_ALL_EXITED }, 0);
	CHECK(m.state == LC_NOT_CREATED && m.create_client < 0 && m.run_client < 0);
	for (int c = 0; c < NCLIENTS; c++)
		CHECK(m.stops[c] == 0 && m.answered[c] == m.asked[c]);
	return 0;
}
