/* libFuzzer harness: cellvm-rng's request path (device-procs/rng.c) with its
 * real ops, driven as a guest and its frontend would (tests/fuzz/dev_drive.h
 * says how an input reads and what is checked). rng has no host side; on
 * top of the driver's checks, a chain with device-readable bytes is
 * answered with len 0 (an empty readable buffer is no bytes: virtq skips it).
 *
 * Boundary: guest (rings) -> cellvm-rng, its real code
 * Links: tests/fuzz/dev_drive.c device-procs/rng.c device-procs/backend.c
 *   device-procs/backend_inflight.c device-procs/serve.c common/vhost_user.c common/msg.c
 *   common/guest_mem.c common/virtq.c common/vhu_inflight.c common/event_loop.c common/log.c
 *   common/fds.c common/cli.c tests/fuzz/confine_stub.c common/unix_sock.c
 *   device-procs/throttle.c common/rate_limiter.c common/rate_limit_arg.c common/dev_ctl.c */
#include <stdlib.h>

#include "dev_drive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void rng_used(struct dd *d, unsigned int q, const struct dd_chain *c, uint32_t len)
{
	(void)q;
	for (unsigned int i = 0; i < c->nseg; i++)
		if (!c->seg[i].w && c->seg[i].len && len && !d->loose)
			abort();
}

static const struct dd_hooks rng_hooks = { .used = rng_used };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct dd d;
	dd_start(&d, &serve_program, 0, NULL);
	dd_run(&d, &rng_hooks, data, size);
	dd_stop(&d);
	return 0;
}
