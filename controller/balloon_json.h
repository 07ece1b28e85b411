/* The balloon calls' JSON (docs/rpc.md), pure:
 *
 *   SetBalloon params   {"amount_mib": N}   Firecracker's PATCH /balloon body;
 *                       N 0..BALLOON_JSON_MAX_MIB (the caller checks it
 *                       against the VM's memory)
 *   BalloonStats result {"target_pages", "actual_pages", "target_mib",
 *                       "actual_mib", then each statistic the guest reported
 *                       under Firecracker's name ("free_memory": bytes ...)}
 *
 * Any other key, type or range is -EINVAL with one line in err naming it. */
#ifndef CELLVM_BALLOON_JSON_H
#define CELLVM_BALLOON_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "dev_ctl.h"

/* num_pages is a le32 of 4 KiB pages. */
#define BALLOON_JSON_MAX_MIB (UINT32_MAX >> 8)
#define BALLOON_JSON_PAGES_PER_MIB 256u

int balloon_params_parse(const char *text, size_t len, uint32_t *mib, char *err, size_t errlen);

/* The result object's text (malloc'd), or NULL when out of memory. */
char *balloon_stats_json(const struct dev_ctl_balloon *b);

#endif
