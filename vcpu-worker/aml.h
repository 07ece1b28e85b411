/* A small AML byte-code builder (ACPI 6.3 §20), enough for a DSDT that
 * describes devices: names, integers, strings, Scope/Device/Package and
 * resource-template buffers.
 *
 * The builder writes into a caller-supplied buffer and never past its cap.
 * Errors are sticky: the first failure (-ENOSPC when the buffer is full,
 * -EINVAL for a malformed name, string or value) is kept in `err`, every
 * later call does nothing, and the caller checks aml_error() once at the end.
 *
 * Constructs with a PkgLength are opened with *_begin, which returns a mark,
 * and closed with aml_end(mark) once their contents are written; the
 * PkgLength (1-4 bytes) is then inserted at the mark. Close them innermost
 * first. Names are ASL-style paths: "\\" for the root, '^' prefixes, and
 * dot-separated segments of 1-4 characters [A-Z0-9_] ("\\_SB.VR00"), each
 * padded to four with '_'. */
#ifndef CELLVM_AML_H
#define CELLVM_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest value a 4-byte PkgLength can hold (28 bits). */
#define AML_PKGLEN_MAX 0x0fffffffu

struct aml {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err; /* 0 or the first -errno */
};

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
int aml_error(const struct aml *a);

/* Encodes the PkgLength of a construct whose contents (after the PkgLength)
 * are content_len bytes; the encoded value counts its own bytes too. Returns
 * the number of bytes written to out (1-4), or -EINVAL if too long. */
int aml_pkglen_encode(size_t content_len, uint8_t out[4]);

void aml_namestring(struct aml *a, const char *path);
/* The shortest of ZeroOp, OneOp, Byte/Word/DWord/QWordPrefix for v. */
void aml_integer(struct aml *a, uint64_t v);
/* A String: ASCII characters 0x01-0x7f. */
void aml_string(struct aml *a, const char *s);
/* EisaId("PNP0501"): three letters and four hex digits, as a DWord. */
void aml_eisaid(struct aml *a, const char *id);

/* Name(path, <object>): the caller writes the object next. */
void aml_name(struct aml *a, const char *path);

size_t aml_scope_begin(struct aml *a, const char *path);
size_t aml_device_begin(struct aml *a, const char *path);
/* Package(nelems){...}: the caller writes exactly nelems objects. */
size_t aml_package_begin(struct aml *a, uint8_t nelems);
void aml_end(struct aml *a, size_t mark);

/* ResourceTemplate(){...}: a Buffer of resource descriptors. The end call
 * appends the End Tag (checksum 0, "no checksum") and closes the Buffer. */
size_t aml_restemplate_begin(struct aml *a);
void aml_restemplate_end(struct aml *a, size_t mark);

/* Memory32Fixed(ReadWrite or ReadOnly, base, size). */
void aml_memory32_fixed(struct aml *a, bool writable, uint32_t base, uint32_t size);
/* Interrupt(ResourceConsumer, Edge, ActiveHigh, Exclusive){gsi}. */
void aml_interrupt(struct aml *a, uint32_t gsi);
/* IO(Decode16, min, max, align, len). */
void aml_io(struct aml *a, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags(){irq}, an ISA IRQ 0-15 (edge, active high, exclusive). */
void aml_irq_noflags(struct aml *a, uint8_t irq);

#endif
