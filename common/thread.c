/* Threads with a small stack (thread.h says why). */
#include "thread.h"

int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int err = pthread_attr_init(&attr);
	if (err)
		return -err;
	if (!(err = pthread_attr_setstacksize(&attr, THREAD_STACK_SIZE)))
		err = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return -err;
}
