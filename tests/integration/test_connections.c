/* Who gets a connection to cellvmd, and for how long (docs/rpc.md,
 * "Connections"): a tenant that opens connections and sends nothing keeps
 * neither the operator out nor its slots for long, and its refusals do not
 * flood the log; a client waiting on Run, and a Guest channel, are not
 * idle. cellvmd runs with a short --idle-timeout. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admission.h"
#include "client.h"
#include "ctl_harness.h"
#include "lifecycle.h"
#include "rpc.h"
#include "testutil.h"

TestSuite(connections, .init = ctl_init, .fini = ctl_fini, .timeout = 60);

#define NOBODY 65534
#define FLOOD 40
#define IDLE_S 4

/* Lines of cellvmd's log that have `word` in them. */
static unsigned log_lines_with(const char *word)
{
	static char log[1 << 20];
	int fd = open(ctl.log, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	ssize_t n = read(fd, log, sizeof(log) - 1);
	close(fd);
	log[n > 0 ? n : 0] = '\0';
	unsigned count = 0;
	for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n"))
		count += strstr(line, word) != NULL;
	return count;
}

/* The config of ctl_config, readable by the service user cellvmd is. */
static void config_for_nobody(char *cfg, size_t len, const char *script)
{
	ctl_config(cfg, len, script, CTL_WITH_RNG);
	char path[160];
	snprintf(path, sizeof(path), "%s/script%u", ctl.dir, ctl.nfiles - 1);
	cr_assert_eq(chmod(path, 0644), 0);
}

Test(connections, forty_idle_tenant_clients_lock_out_neither_the_operator_nor_for_long)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: the tenant is --user, the operator root");
	static const char *const args[] = { "--user", "65534:65534", "--idle-timeout", "4",
					    NULL };
	int op = ctl_start_with(args);
	/* The tenant reaches its socket (cellvmd made it theirs). */
	cr_assert_eq(chmod(ctl.dir, 0711), 0);
	char cfg[512];
	config_for_nobody(cfg, sizeof(cfg), CTL_SCRIPT_FULL);
	ctl_expect_ok(ctl_rpc(op, RPC_CREATE, cfg), "Create");
	uint32_t run = ctl_send_call(op, RPC_RUN, NULL);
	ctl_await_state(op, "RUNNING", CTL_WAIT_MS);

	/* The tenant opens FLOOD connections and says nothing. */
	int idle[FLOOD];
	uint64_t t0 = ctl_now_ms();
	cr_assert_eq(seteuid(NOBODY), 0);
	for (int i = 0; i < FLOOD; i++)
		idle[i] = ctl_conn();
	cr_assert_eq(seteuid(0), 0);
	/* Those past its share are closed at once; its share stays. */
	bool refused[FLOOD] = { false };
	int nrefused = 0;
	for (uint64_t end = t0 + (IDLE_S * 1000) / 2;
	     nrefused < FLOOD - ADMIT_PER_UID && ctl_now_ms() < end;) {
		for (int i = 0; i < FLOOD; i++)
			if (!refused[i] && ctl_readable(idle[i], 0))
				refused[i] = true, nrefused++;
		ctl_msleep(20);
	}
	cr_assert_eq(nrefused, FLOOD - ADMIT_PER_UID, "%d of %d refused at once", nrefused,
		     FLOOD);

	/* Meanwhile the operator comes in and stops the VM. */
	int op2 = ctl_conn();
	ctl_expect_state(op2, "RUNNING");
	ctl_expect_ok(ctl_rpc(op2, RPC_STOP, NULL), "Stop");
	ctl_expect_error(ctl_reply_to(op, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run");
	ctl_expect_state(op2, "NOT_CREATED");
	cr_assert_lt(ctl_now_ms() - t0, IDLE_S * 1000, "too slow to show anything: retry");
	for (int i = 0; i < FLOOD; i++)
		if (!refused[i])
			cr_assert_not(ctl_readable(idle[i], 0), "an admitted client closed early");

	/* The admitted ones are closed when their time to a request is up. */
	for (int i = 0; i < FLOOD; i++) {
		if (refused[i])
			continue;
		ctl_expect_eof(idle[i], IDLE_S * 1000 + CTL_WAIT_MS, "an idle client");
		cr_expect_geq(ctl_now_ms() - t0, IDLE_S * 1000 - 100, "closed before its time");
	}
	for (int i = 0; i < FLOOD; i++)
		close(idle[i]);

	/* A line per refusal would be FLOOD - ADMIT_PER_UID lines. */
	unsigned lines = log_lines_with("refused: its uid holds its share");
	cr_expect(lines >= 1 && lines <= 11, "%u refusal lines for %d refusals", lines,
		  FLOOD - ADMIT_PER_UID);
	/* The operator's own connection went idle too; a new one is served. */
	ctl_expect_eof(op, CTL_WAIT_MS, "the operator's first connection, idle");
	close(op);
	close(op2);
	op = ctl_conn();
	ctl_expect_state(op, "NOT_CREATED");
	close(op);
	ctl_finish();
}

/* Sends half a request's length prefix: a whole request never comes. */
static int half_request(void)
{
	int s = ctl_conn();
	static const unsigned char half[] = { 30, 0 };
	tu_raw_send(s, half, sizeof(half), NULL, 0);
	return s;
}

Test(connections, waiting_on_run_or_holding_a_guest_channel_is_not_idle)
{
	static const char *const args[] = { "--idle-timeout", "1", NULL };
	int c = ctl_start_with(args);
	char cfg[512];
	ctl_config(cfg, sizeof(cfg), CTL_SCRIPT_FULL, CTL_WITH_DEVICES);
	ctl_expect_ok(ctl_rpc(c, RPC_CREATE, cfg), "Create");
	/* A Guest channel that says nothing for now, and a serial stream. */
	int guest[2];
	tu_sockpair(guest);
	char err[256];
	cr_assert_eq(client_send(c, 0, RPC_BIND, NULL, &guest[1], 1, err, sizeof(err)), 0, "%s",
		     err);
	close(guest[1]);
	struct ctl_stream serial;
	ctl_open_stream(c, false, &serial);
	uint32_t run = ctl_send_call(c, RPC_RUN, NULL);
	ctl_read_until(&serial, "running\r\n", CTL_WAIT_MS);

	uint64_t t0 = ctl_now_ms();
	int mute = ctl_conn(), half = half_request(), done = ctl_conn();
	ctl_expect_state(done, "RUNNING");
	ctl_expect_eof(mute, CTL_WAIT_MS, "a client that never sent a request");
	ctl_expect_eof(half, CTL_WAIT_MS, "a client that sent half a request");
	ctl_expect_eof(done, CTL_WAIT_MS, "a client idle after its Status");
	cr_expect_geq(ctl_now_ms() - t0, 900, "closed before its time");
	ctl_msleep(1500);

	/* Three idle times on: the one waiting on Run is still served, its
	 * Guest channel answers and the serial stream runs. */
	cr_assert_not(ctl_readable(c, 0), "the client waiting on Run was closed");
	struct rpc_reply r;
	int fd = -1;
	cr_assert_eq(client_call(guest[0], 1, RPC_GET_SERIAL, NULL, NULL, 0, &r, &fd, err,
				 sizeof(err)),
		     0, "GetSerial after the idle time: %s", err);
	cr_expect(r.ok && fd >= 0, "GetSerial: %s", r.message);
	rpc_reply_free(&r);
	if (fd >= 0)
		close(fd);
	cr_assert_eq(write(serial.fd, "hello\n", 6), 6);
	ctl_read_until(&serial, "echo: hello\r\n", CTL_WAIT_MS);
	ctl_expect_state(c, "RUNNING"); /* a request of its own, too */

	int op = ctl_conn();
	ctl_expect_ok(ctl_rpc(op, RPC_STOP, NULL), "Stop");
	ctl_expect_error(ctl_reply_to(c, run, CTL_WAIT_MS), LC_ERR_CONTROLLER_FORCED_HALT, NULL,
			 "Run");
	ctl_expect_eof(guest[0], CTL_WAIT_MS, "the Guest channel, at the VM's end");
	ctl_expect_eof(serial.fd, CTL_WAIT_MS, "serial");
	/* Answered, it has nothing pending: idle from now on. */
	ctl_expect_eof(c, CTL_WAIT_MS, "the client once Run was answered");
	cr_expect_eq(log_lines_with("no whole request within 1000 ms"), 2);
	cr_expect_geq(log_lines_with("idle for 1000 ms"), 2);
	close(guest[0]);
	close(serial.fd);
	close(mute);
	close(half);
	close(done);
	close(c);
	close(op);
	ctl_finish();
}
