/* For the device harnesses (dev_drive.c): common/confine.c needs the build's
 * policy paths, and a harness runs devices unconfined. The driver never
 * serves through serve_main, so confine() is never reached; the option
 * functions take none of the driver's options. */
#include <stdlib.h>

#include "confine.h"

void confine_opts_init(struct confine_opts *o)
{
	*o = (struct confine_opts){ .mode = SANDBOX_OFF, .policy_fd = -1 };
}

int confine_opt(struct confine_opts *o, int c, const char *arg)
{
	(void)o, (void)c, (void)arg;
	return 0;
}

int confine(const struct confine_opts *o, const struct confine_req *r)
{
	(void)o, (void)r;
	abort();
}
