/* libFuzzer harness: wctl_decode (common/worker_ctl.c), which cellvmd runs
 * on every packet the vcpu-worker sends it. A packet that decodes must
 * encode back to itself, with no control byte left in its text.
 *
 * Links: common/worker_ctl.c common/msg.c common/log.c */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "worker_ctl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *pkt = malloc(size ? size : 1);
	if (!pkt)
		return 0;
	memcpy(pkt, data, size);
	struct wctl_msg m;
	int r = wctl_decode(pkt, size, &m);
	free(pkt);
	if (r != 0)
		return 0;
	for (size_t i = 0; m.text[i]; i++)
		if ((unsigned char)m.text[i] < 0x20 || m.text[i] == 0x7f)
			abort();
	uint8_t out[WCTL_WIRE_SIZE];
	struct wctl_msg back;
	wctl_encode(&m, out);
	if (wctl_decode(out, sizeof(out), &back) != 0 || back.type != m.type ||
	    back.status != m.status || strcmp(back.text, m.text) != 0)
		abort();
	return 0;
}
