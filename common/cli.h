/* Command-line and config values — numbers, fds, MAC addresses — parsed one
 * way in every binary. Each function returns 0 (with *out set) or -EINVAL
 * (with *out untouched) and logs nothing: the caller names the option or
 * field in its own message. */
#ifndef CELLVM_CLI_H
#define CELLVM_CLI_H

#include <stdint.h>

/* A decimal number in [min, max]: digits only, so an empty string, a sign,
 * leading blanks, trailing junk and a value past ULONG_MAX are refused. */
int cli_parse_uint(const char *arg, unsigned long min, unsigned long max, unsigned long *out);

/* A number in [0, INT_MAX], as cli_parse_uint, that names an fd open in this
 * process (fcntl F_GETFD succeeds). */
int cli_parse_fd(const char *arg, int *out);

/* The value of a hex digit (either case), -1 for any other character. */
int cli_hex_digit(char c);

/* A unicast, non-zero MAC address written "52:54:00:12:34:56" (either case). */
int cli_parse_mac(const char *arg, uint8_t out[6]);

#endif
