/* The balloon calls' JSON (docs/rpc.md), pure:
 *
 *   SetBalloon params   {"amount_mib": N}   Firecracker's PATCH /balloon body;
 *                       N 0..BALLOON_JSON_MAX_MIB (the caller checks it
 *                       against the VM's memory)
 *   BalloonStats result {"target_pages", "actual_pages", "target_mib",
 *                       "actual_mib", then each statistic the guest reported
 *                       under Firecracker's name ("free_memory": bytes ...)}
 *
 * and the Guest channel's balloon controller, Fuchsia's BalloonController:
 *
 *   BalloonRequestNumPages params {"requested_num_pages": N}, N 0..2^32-1
 *                       (the caller checks it against the VM's memory)
 *   BalloonGetSize result {"current_num_pages", "requested_num_pages"}
 *   BalloonGetMemStats result {"status": 0, "mem_stats": [{"tag": T,
 *                       "val": V}, ...]}: each statistic the guest reported,
 *                       by its virtio tag; {"status": -2, "mem_stats": null}
 *                       (ZX_ERR_NOT_SUPPORTED) when the VM polls none
 *
 * Any other key, type or range is -EINVAL with one line in err naming it
 * (params_uint.h). Results are malloc'd text, or NULL when out of memory. */
#ifndef CELLVM_BALLOON_JSON_H
#define CELLVM_BALLOON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dev_ctl.h"

/* num_pages is a le32 of 4 KiB pages. */
#define BALLOON_JSON_MAX_MIB (UINT32_MAX >> 8)
#define BALLOON_JSON_PAGES_PER_MIB 256u

int balloon_params_parse(const char *text, size_t len, uint32_t *mib, char *err, size_t errlen);

/* ZX_ERR_NOT_SUPPORTED: GetMemStats's status when statistics are off. */
#define BALLOON_JSON_NOT_SUPPORTED (-2)

int balloon_pages_parse(const char *text, size_t len, uint32_t *pages, char *err,
			size_t errlen);

char *balloon_stats_json(const struct dev_ctl_balloon *b);
char *balloon_size_json(const struct dev_ctl_balloon *b);
/* stats_on: the VM's config polls statistics. */
char *balloon_mem_stats_json(const struct dev_ctl_balloon *b, bool stats_on);

#endif
