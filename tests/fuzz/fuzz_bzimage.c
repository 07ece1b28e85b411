/* libFuzzer harness: the Linux boot protocol loader (vcpu-worker/boot_linux.c),
 * which reads a kernel image the VM's owner supplies. bzimage_parse on the
 * input; when it accepts, linux_load into 64 MiB of RAM laid out by
 * machine_layout(1 CPU, 64 MiB), with an initrd cut from the input's tail
 * (its length is the last byte times 16). Must never crash.
 *
 * Links: vcpu-worker/boot_linux.c common/machine.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "boot_linux.h"
#include "log.h"
#include "machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE (64ull * 1024 * 1024)

static uint8_t ram[RAM_SIZE];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int inited;
	static struct machine m;
	if (!inited) {
		log_init("fuzz_bzimage", LOG_LVL_ERROR);
		if (machine_layout(&m, 1, RAM_SIZE, "console=ttyS0 panic=-1") != 0)
			abort();
		inited = 1;
	}
	/* Exact-size heap copy: ASan sees any read past the image. */
	uint8_t *img = malloc(size ? size : 1);
	if (!img)
		return 0;
	memcpy(img, data, size);

	struct bzimage_info info;
	if (bzimage_parse(img, size, &info) == 0) {
		if (info.pm_offset > size || info.pm_len > size - info.pm_offset)
			abort(); /* the contract: protected-mode code inside the image */
		size_t ilen = size ? (size_t)img[size - 1] * 16 : 0;
		if (ilen > size)
			ilen = size;
		struct linux_entry entry;
		linux_load(ram, &m, img, size, img + size - ilen, ilen, &entry);
	}
	free(img);
	return 0;
}
