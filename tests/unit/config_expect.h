/* What the config parser's tests share (test_config.c, test_config_devices.c):
 * a parse of exactly a document's bytes, JSON templates with single quotes,
 * and expectations of acceptance or of a message. */
#ifndef CELLVM_TEST_CONFIG_EXPECT_H
#define CELLVM_TEST_CONFIG_EXPECT_H

#include <stddef.h>

#include "config.h"

/* The last parse's result and message. */
extern struct vm_config cfg;
extern char err[1024];

/* vm_config_parse over a malloc'd copy of exactly s[0..n), with no NUL
 * after it, so ASan catches any read past n. */
int parse_bytes(const char *s, size_t n);
int parse_str(const char *s);
/* The template with its single quotes made double (a static buffer). */
const char *J(const char *tmpl);
/* {"kernel": "/boot/vmlinuz", <members>} */
const char *with(const char *members);
void expect_ok(const char *json);
/* Refused, and the message starts with want. */
void expect_err(const char *json, const char *want);

#endif
