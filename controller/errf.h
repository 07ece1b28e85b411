/* The controller's way to say why something was refused: a message for
 * the user, formatted into a caller's buffer, and a code returned. */
#ifndef CELLVM_ERRF_H
#define CELLVM_ERRF_H

#include <stddef.h>

/* Formats fmt into err (errlen bytes, cut to fit; nothing if err is NULL
 * or errlen 0) and returns code. */
__attribute__((format(printf, 4, 5))) int errf(char *err, size_t errlen, int code,
						const char *fmt, ...);

#endif
