/* libFuzzer harness: machine_from_fdt (common/machine.c), which cellvm-vcpu
 * runs on the blob the controller hands it. A blob that parses must come
 * back as the same struct through machine_to_fdt + machine_from_fdt.
 *
 * Links: common/machine.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OUT_CAP (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	static struct machine m1, m2;
	if (!inited) {
		log_init("fuzz_machine", LOG_LVL_ERROR);
		inited = 1;
	}
	/* Exactly `size` bytes on the heap (malloc aligns to 16, libfdt wants 8):
	 * ASan sees any read past the blob. */
	void *blob = malloc(size ? size : 1);
	if (!blob)
		return 0;
	memcpy(blob, data, size);
	memset(&m1, 0, sizeof(m1));
	int r = machine_from_fdt(blob, size, &m1);
	free(blob);
	if (r != 0)
		return 0;

	void *out = malloc(OUT_CAP);
	if (!out)
		return 0;
	int n = machine_to_fdt(&m1, out, OUT_CAP);
	if (n <= 0)
		abort(); /* a machine that parsed must serialise */
	memset(&m2, 0, sizeof(m2));
	if (machine_from_fdt(out, (size_t)n, &m2) != 0)
		abort();
	if (memcmp(&m1, &m2, sizeof(m1)) != 0)
		abort();
	free(out);
	return 0;
}
