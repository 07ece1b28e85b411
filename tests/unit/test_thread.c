#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>

#include "thread.h"

struct seen {
	size_t stack_size;
	void *arg;
};

static void *report(void *arg)
{
	struct seen *s = arg;
	pthread_attr_t attr;
	s->arg = arg;
	if (pthread_getattr_np(pthread_self(), &attr) == 0) {
		pthread_attr_getstacksize(&attr, &s->stack_size);
		pthread_attr_destroy(&attr);
	}
	return NULL;
}

/* A stack under 2 MiB cannot hold a transparent huge page. */
Test(thread, runs_fn_with_its_arg_on_a_stack_under_2_mib)
{
	struct seen s = { 0 };
	pthread_t t;
	cr_assert_eq(thread_start(&t, report, &s), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(s.arg, &s);
	cr_assert_geq(s.stack_size, THREAD_STACK_SIZE);
	cr_assert_lt(s.stack_size, (size_t)2 << 20, "stack of %zu bytes", s.stack_size);
}
