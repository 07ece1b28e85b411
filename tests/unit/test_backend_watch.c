/* The frontend's liveness probe (vhu_fe_probe) and the thread that runs it
 * over every backend (backend_watch), against backends played by threads on
 * socketpairs: one that answers, one that never does, one whose answer
 * changes, one that goes away. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "backend_watch.h"
#include "log.h"
#include "testutil.h"
#include "vhu_frontend.h"

#define FEATURES (1ull << 32 | 1ull << 30)

static void quiet(void)
{
	log_init("test_backend_watch", LOG_LVL_ERROR);
}

TestSuite(probe, .init = quiet);
TestSuite(watch, .init = quiet);

/* A backend played by a thread: answers every GET_FEATURES with `features`
 * until its socket closes; `answers` counts them. */
struct peer {
	int sock;
	uint64_t features;
	atomic_int answers;
	pthread_t thread;
};

static void *serve(void *arg)
{
	struct peer *p = arg;
	struct vhu_msg m;
	struct msg_fds fds = { .n = 0 };
	while (vhu_recv(p->sock, &m, &fds) == 0) {
		msg_fds_close(&fds);
		cr_assert_eq(m.request, VHU_GET_FEATURES);
		struct vhu_msg r = { .request = m.request, .flags = VHU_FLAG_REPLY,
				     .kind = VHU_P_U64, .u.u64 = p->features };
		/* Counted first: the frontend may look as soon as it has the answer. */
		atomic_fetch_add(&p->answers, 1);
		if (vhu_send(p->sock, &r, NULL, 0) < 0)
			break;
	}
	return NULL;
}

/* A frontend on one end of a socketpair; the backend's end in *peer_sock. */
static void fe_open(struct vhu_fe *fe, const char *name, int *peer_sock)
{
	int sv[2];
	tu_sockpair(sv);
	memset(fe, 0, sizeof(*fe));
	snprintf(fe->name, sizeof(fe->name), "%s", name);
	fe->sock = sv[0];
	fe->inflight_fd = -1;
	fe->features = FEATURES;
	pthread_mutex_init(&fe->lock, NULL);
	*peer_sock = sv[1];
}

static void peer_start(struct peer *p, struct vhu_fe *fe, const char *name, uint64_t features)
{
	fe_open(fe, name, &p->sock);
	p->features = features;
	atomic_init(&p->answers, 0);
	cr_assert_eq(pthread_create(&p->thread, NULL, serve, p), 0);
}

/* Closing the frontend ends the peer's loop. */
static void peer_end(struct peer *p, struct vhu_fe *fe)
{
	vhu_fe_close(fe);
	pthread_join(p->thread, NULL);
	close(p->sock);
}

Test(probe, a_backend_that_answers_is_alive)
{
	struct vhu_fe fe;
	struct peer p;
	peer_start(&p, &fe, "rng0", FEATURES);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(vhu_fe_probe(&fe, 5000), 0);
	cr_expect_eq(atomic_load(&p.answers), 3);
	cr_expect_not(fe.broken);
	peer_end(&p, &fe);
}

Test(probe, a_backend_that_does_not_answer_times_out_and_breaks_the_connection)
{
	struct vhu_fe fe;
	int peer;
	fe_open(&fe, "blk0", &peer);
	tu_log_begin();
	cr_assert_eq(vhu_fe_probe(&fe, 50), -ETIMEDOUT);
	const char *log = tu_log_end();
	cr_expect(strstr(log, "blk0: GET_FEATURES") != NULL, "log: %s", log);
	cr_expect(fe.broken);
	/* Broken for good: the next call fails at once, with nothing sent. */
	cr_assert_eq(vhu_fe_probe(&fe, 5000), -EPIPE);
	char buf[64];
	cr_expect_gt(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), 0, "the first probe was sent");
	cr_expect_eq(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), -1, "the second was not");
	vhu_fe_close(&fe);
	close(peer);
}

Test(probe, a_backend_whose_features_change_is_not_the_one_we_set_up)
{
	struct vhu_fe fe;
	struct peer p;
	peer_start(&p, &fe, "net0", FEATURES | 1);
	tu_log_begin();
	cr_assert_eq(vhu_fe_probe(&fe, 5000), -EPROTO);
	const char *log = tu_log_end();
	cr_expect(strstr(log, "net0: backend now offers features") != NULL, "log: %s", log);
	cr_expect(fe.broken);
	peer_end(&p, &fe);
}

Test(probe, a_backend_that_went_away_fails_the_probe)
{
	struct vhu_fe fe;
	int peer;
	fe_open(&fe, "console0", &peer);
	close(peer);
	tu_log_begin();
	int err = vhu_fe_probe(&fe, 5000);
	tu_log_end();
	cr_expect_lt(err, 0);
	cr_expect(fe.broken);
	vhu_fe_close(&fe);
}

struct failure {
	sem_t done;
	int calls;
	char name[MACHINE_NAME_MAX];
	int err;
};

static void on_failed(void *opaque, const char *name, uint32_t generation, int err)
{
	(void)generation;
	struct failure *f = opaque;
	f->calls++;
	snprintf(f->name, sizeof(f->name), "%s", name);
	f->err = err;
	sem_post(&f->done);
}

Test(watch, reports_the_backend_that_hangs_once)
{
	struct vhu_fe fe[2];
	struct peer p;
	int silent;
	peer_start(&p, &fe[0], "rng0", FEATURES);
	fe_open(&fe[1], "blk0", &silent);
	struct failure f = { .calls = 0 };
	sem_init(&f.done, 0, 0);
	struct vhu_fe *list[2] = { &fe[0], &fe[1] };
	struct backend_watch bw;
	tu_log_begin();
	cr_assert_eq(backend_watch_start(&bw, list, 2, 5, 50, on_failed, &f), 0);
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += 10;
	cr_assert_eq(sem_timedwait(&f.done, &limit), 0, "no failure reported");
	backend_watch_stop(&bw);
	tu_log_end();
	cr_expect_eq(f.calls, 1);
	cr_expect_str_eq(f.name, "blk0");
	cr_expect_eq(f.err, -ETIMEDOUT);
	cr_expect(fe[1].broken);
	cr_expect_geq(atomic_load(&p.answers), 1, "rng0 was asked first");
	cr_expect_not(fe[0].broken);
	backend_watch_stop(&bw); /* twice is fine */
	peer_end(&p, &fe[0]);
	vhu_fe_close(&fe[1]);
	close(silent);
}

Test(watch, backends_that_answer_are_asked_again_and_again)
{
	struct vhu_fe fe[2];
	struct peer p[2];
	peer_start(&p[0], &fe[0], "rng0", FEATURES);
	peer_start(&p[1], &fe[1], "net0", FEATURES);
	struct failure f = { .calls = 0 };
	struct vhu_fe *list[2] = { &fe[0], &fe[1] };
	struct backend_watch bw;
	cr_assert_eq(backend_watch_start(&bw, list, 2, 1, 5000, on_failed, &f), 0);
	while (atomic_load(&p[1].answers) < 5)
		usleep(1000);
	backend_watch_stop(&bw);
	cr_expect_eq(f.calls, 0);
	cr_expect_geq(atomic_load(&p[0].answers), 5);
	for (int i = 0; i < 2; i++)
		peer_end(&p[i], &fe[i]);
}

Test(watch, nothing_to_watch_starts_no_thread)
{
	struct backend_watch bw;
	int before = tu_count_fds();
	cr_assert_eq(backend_watch_start(&bw, NULL, 0, 5, 50, on_failed, NULL), 0);
	cr_expect_not(bw.running);
	cr_expect_eq(tu_count_fds(), before);
	backend_watch_stop(&bw);
	struct vhu_fe *many[MACHINE_MAX_VIRTIO + 1] = { NULL };
	cr_expect_eq(backend_watch_start(&bw, many, MACHINE_MAX_VIRTIO + 1, 5, 50, on_failed, NULL),
		     -EINVAL);
	cr_expect_eq(tu_count_fds(), before);
}

/* A backend that failed is reported once, not at every round; once its
 * connection is replaced (a restarted process) it is watched again, and a
 * new failure is reported again. */
Test(watch, keeps_watching_and_reports_each_failure_once)
{
	struct vhu_fe fe;
	int silent;
	fe_open(&fe, "blk0", &silent);
	struct failure f = { .calls = 0 };
	sem_init(&f.done, 0, 0);
	struct vhu_fe *list[1] = { &fe };
	struct backend_watch bw;
	tu_log_begin();
	cr_assert_eq(backend_watch_start(&bw, list, 1, 1, 20, on_failed, &f), 0);
	struct timespec limit;
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += 10;
	cr_assert_eq(sem_timedwait(&f.done, &limit), 0, "no failure reported");
	usleep(50000); /* many rounds on the broken connection */
	cr_expect_eq(f.calls, 1);

	/* The new process answers... */
	struct peer p;
	int sv[2];
	tu_sockpair(sv);
	p.sock = sv[1];
	p.features = FEATURES;
	atomic_init(&p.answers, 0);
	cr_assert_eq(pthread_create(&p.thread, NULL, serve, &p), 0);
	pthread_mutex_lock(&fe.lock);
	close(fe.sock);
	fe.sock = sv[0];
	fe.broken = false;
	pthread_mutex_unlock(&fe.lock);
	while (atomic_load(&p.answers) < 3)
		usleep(1000);
	cr_expect_eq(f.calls, 1);
	/* ... until it goes away too. */
	shutdown(sv[1], SHUT_RDWR);
	clock_gettime(CLOCK_REALTIME, &limit);
	limit.tv_sec += 10;
	cr_assert_eq(sem_timedwait(&f.done, &limit), 0, "the second failure not reported");
	backend_watch_stop(&bw);
	tu_log_end();
	cr_expect_eq(f.calls, 2);
	pthread_join(p.thread, NULL);
	close(p.sock);
	vhu_fe_close(&fe);
	close(silent);
}
