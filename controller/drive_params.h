/* UpdateBlockDevice's params (docs/rpc.md): a disk of cellvm's and the
 * image it serves from now on, as Firecracker's PATCH /drives/{id} with
 * path_on_host asks it:
 *
 *   {"device": "blk0", "path": "/images/new.img"}
 *
 * Both keys required, both non-empty strings without a NUL, device shorter
 * than devlen, path shorter than pathlen; any other key, type or length is
 * -EINVAL with one line in err naming it. Which devices exist, and where a
 * path may be, are the caller's to check. Pure. */
#ifndef CELLVM_DRIVE_PARAMS_H
#define CELLVM_DRIVE_PARAMS_H

#include <stddef.h>

int drive_params_parse(const char *text, size_t len, char *device, size_t devlen, char *path,
		       size_t pathlen, char *err, size_t errlen);

#endif
