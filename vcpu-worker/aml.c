#include "aml.h"

#include <errno.h>
#include <string.h>

/* ACPI 6.3 §20.2 opcodes. */
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after AML_EXT_OP_PREFIX */
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_NULL_NAME 0x00

/* ACPI 6.3 §6.4 resource descriptor tags. */
#define RES_IRQ_NOFLAGS 0x22  /* small item 0x04, length 2 */
#define RES_IO 0x47           /* small item 0x08, length 7 */
#define RES_END_TAG 0x79      /* small item 0x0f, length 1 */
#define RES_MEMORY32_FIXED 0x86
#define RES_EXT_INTERRUPT 0x89

#define EXT_IRQ_CONSUMER 0x01
#define EXT_IRQ_EDGE 0x02     /* clear: level; bit 2 clear: active high */

#define SEG_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
	a->buf = buf;
	a->cap = cap;
	a->len = 0;
	a->err = 0;
}

int aml_error(const struct aml *a)
{
	return a->err;
}

static void fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

static bool room(struct aml *a, size_t n)
{
	if (a->err)
		return false;
	if (n > a->cap - a->len) {
		fail(a, -ENOSPC);
		return false;
	}
	return true;
}

static void put(struct aml *a, const void *p, size_t n)
{
	if (!room(a, n))
		return;
	memcpy(a->buf + a->len, p, n);
	a->len += n;
}

static void put_byte(struct aml *a, uint8_t b)
{
	put(a, &b, 1);
}

static void put_le(struct aml *a, uint64_t v, size_t n)
{
	uint8_t b[8];
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	put(a, b, n);
}

/* Opens a gap of n bytes at `at` (shifting what follows) and fills it. */
static void insert(struct aml *a, size_t at, const uint8_t *p, size_t n)
{
	if (!room(a, n))
		return;
	memmove(a->buf + at + n, a->buf + at, a->len - at);
	memcpy(a->buf + at, p, n);
	a->len += n;
}

int aml_pkglen_encode(size_t content_len, uint8_t out[4])
{
	/* Largest total (contents plus the PkgLength itself) per byte count. */
	static const size_t max_total[] = { 0, 0x3f, 0xfff, 0xfffff, AML_PKGLEN_MAX };
	if (content_len > AML_PKGLEN_MAX - 4)
		return -EINVAL;
	size_t n = 1;
	while (content_len + n > max_total[n])
		n++;
	size_t v = content_len + n;
	if (n == 1) {
		out[0] = (uint8_t)v;
		return 1;
	}
	/* Lead byte: bits 7-6 the count of following bytes, bits 3-0 the low
	 * nibble; the following bytes carry the rest, least significant first. */
	out[0] = (uint8_t)(((n - 1) << 6) | (v & 0x0f));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(v >> (4 + 8 * (i - 1)));
	return (int)n;
}

void aml_namestring(struct aml *a, const char *path)
{
	const char *p = path;
	if (*p == '\\')
		p++;
	else
		while (*p == '^')
			p++;
	size_t nseg = 0;
	for (const char *q = p; *q;) {
		size_t n = strspn(q, SEG_CHARS);
		if (n == 0 || n > 4 || (q[0] >= '0' && q[0] <= '9') ||
		    (q[n] != '.' && q[n] != '\0') || (q[n] == '.' && q[n + 1] == '\0')) {
			fail(a, -EINVAL);
			return;
		}
		nseg++;
		q += n + (q[n] == '.');
	}
	/* A bare NullName names nothing Name/Scope/Device could use. */
	if ((nseg == 0 && p == path) || nseg > 255) {
		fail(a, -EINVAL);
		return;
	}
	put(a, path, (size_t)(p - path));
	if (nseg == 0) {
		put_byte(a, AML_NULL_NAME);
		return;
	}
	if (nseg == 2) {
		put_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nseg > 2) {
		put_byte(a, AML_MULTI_NAME_PREFIX);
		put_byte(a, (uint8_t)nseg);
	}
	for (const char *q = p; *q;) {
		size_t n = strspn(q, SEG_CHARS);
		char seg[4] = { '_', '_', '_', '_' };
		memcpy(seg, q, n);
		put(a, seg, 4);
		q += n + (q[n] == '.');
	}
}

void aml_integer(struct aml *a, uint64_t v)
{
	/* ZeroOp and OneOp are the values themselves. */
	if (v <= 1) {
		put_byte(a, (uint8_t)v);
		return;
	}
	if (v <= UINT8_MAX) {
		put_byte(a, AML_BYTE_PREFIX);
		put_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		put_byte(a, AML_WORD_PREFIX);
		put_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		put_byte(a, AML_DWORD_PREFIX);
		put_le(a, v, 4);
	} else {
		put_byte(a, AML_QWORD_PREFIX);
		put_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] > 0x7f) {
			fail(a, -EINVAL);
			return;
		}
	}
	put_byte(a, AML_STRING_PREFIX);
	put(a, s, n + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	if (strlen(id) != 7) {
		fail(a, -EINVAL);
		return;
	}
	/* Three letters of 5 bits ('A' = 1) in a big-endian 16-bit word, then
	 * the product number as four hex digits, most significant first. */
	uint32_t vendor = 0, product = 0;
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			fail(a, -EINVAL);
			return;
		}
		vendor = vendor << 5 | (uint32_t)(id[i] - 'A' + 1);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);
		if (d < 0) {
			fail(a, -EINVAL);
			return;
		}
		product = product << 4 | (uint32_t)d;
	}
	uint8_t b[4] = { (uint8_t)(vendor >> 8), (uint8_t)vendor, (uint8_t)(product >> 8),
			 (uint8_t)product };
	put_byte(a, AML_DWORD_PREFIX);
	put(a, b, sizeof(b));
}

void aml_name(struct aml *a, const char *path)
{
	put_byte(a, AML_NAME_OP);
	aml_namestring(a, path);
}

size_t aml_scope_begin(struct aml *a, const char *path)
{
	put_byte(a, AML_SCOPE_OP);
	size_t mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_device_begin(struct aml *a, const char *path)
{
	put_byte(a, AML_EXT_OP_PREFIX);
	put_byte(a, AML_DEVICE_OP);
	size_t mark = a->len;
	aml_namestring(a, path);
	return mark;
}

size_t aml_package_begin(struct aml *a, uint8_t nelems)
{
	put_byte(a, AML_PACKAGE_OP);
	size_t mark = a->len;
	put_byte(a, nelems);
	return mark;
}

void aml_end(struct aml *a, size_t mark)
{
	if (a->err)
		return;
	if (mark > a->len) {
		fail(a, -EINVAL);
		return;
	}
	uint8_t pl[4];
	int n = aml_pkglen_encode(a->len - mark, pl);
	if (n < 0) {
		fail(a, n);
		return;
	}
	insert(a, mark, pl, (size_t)n);
}

size_t aml_restemplate_begin(struct aml *a)
{
	put_byte(a, AML_BUFFER_OP);
	return a->len;
}

void aml_restemplate_end(struct aml *a, size_t mark)
{
	/* Checksum 0 tells OSPM not to check it (§6.4.2.9). */
	static const uint8_t end_tag[] = { RES_END_TAG, 0 };
	put(a, end_tag, sizeof(end_tag));
	if (a->err)
		return;
	if (mark > a->len) {
		fail(a, -EINVAL);
		return;
	}
	/* DefBuffer: BufferOp PkgLength BufferSize ByteList, where BufferSize
	 * is an integer term and the PkgLength covers it too. */
	size_t bytes = a->len - mark;
	uint8_t head[4 + 9];
	struct aml size;
	aml_init(&size, head + 4, 9);
	aml_integer(&size, bytes);
	int n = aml_pkglen_encode(size.len + bytes, head);
	if (n < 0) {
		fail(a, n);
		return;
	}
	memmove(head + n, head + 4, size.len);
	insert(a, mark, head, (size_t)n + size.len);
}

void aml_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t size)
{
	put_byte(a, RES_MEMORY32_FIXED);
	put_le(a, 9, 2);
	put_byte(a, writable ? 1 : 0);
	put_le(a, base, 4);
	put_le(a, size, 4);
}

void aml_interrupt(struct aml *a, uint32_t gsi)
{
	put_byte(a, RES_EXT_INTERRUPT);
	put_le(a, 6, 2); /* flags, table length, one DWord; no resource source */
	put_byte(a, EXT_IRQ_CONSUMER | EXT_IRQ_EDGE);
	put_byte(a, 1);
	put_le(a, gsi, 4);
}

void aml_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	if (min > max) {
		fail(a, -EINVAL);
		return;
	}
	put_byte(a, RES_IO);
	put_byte(a, 1); /* Decode16 */
	put_le(a, min, 2);
	put_le(a, max, 2);
	put_byte(a, align);
	put_byte(a, len);
}

void aml_irq_noflags(struct aml *a, uint8_t irq)
{
	if (irq > 15) {
		fail(a, -EINVAL);
		return;
	}
	put_byte(a, RES_IRQ_NOFLAGS);
	put_le(a, 1u << irq, 2);
}
