/* libFuzzer harness: vm_config_parse (controller/config.c), which cellvmd
 * runs on the config a client sends with Create. Whatever parses must fit
 * the limits config.h promises.
 *
 * Links: controller/config.c controller/json_words.c common/cli.c
 *   controller/json_strict.c common/log.c common/sandbox_mode.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vm_config cfg;
	static int inited;
	if (!inited) {
		log_init("fuzz_config", LOG_LVL_ERROR);
		inited = 1;
	}
	/* Exactly `size` bytes on the heap: ASan sees any read past them. */
	char *json = malloc(size ? size : 1);
	if (!json)
		return 0;
	memcpy(json, data, size);
	char err[200];
	int r = vm_config_parse(json, size, &cfg, err, sizeof(err));
	free(json);
	if (r == 0) {
		if (cfg.cpus < 1 || cfg.cpus > VM_CONFIG_MAX_CPUS || cfg.memory < VM_CONFIG_MEM_MIN ||
		    cfg.memory > VM_CONFIG_MEM_MAX || cfg.memory % VM_CONFIG_MEM_ALIGN ||
		    cfg.nblock + cfg.nnet + cfg.console + cfg.rng > VM_CONFIG_MAX_DEVICES ||
		    !cfg.kernel[0] || strnlen(cfg.cmdline, sizeof(cfg.cmdline)) == sizeof(cfg.cmdline))
			abort();
	} else if (!memchr(err, '\0', sizeof(err)) || !err[0]) {
		abort(); /* every refusal says why */
	}
	return 0;
}
