#include "drive_swap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "errf.h"
#include "lifecycle.h"

/* Which entry of cfg->block device names ("blk" and a decimal index with
 * no leading zero); -1: none. */
static long block_index(const struct vm_config *cfg, const char *device)
{
	if (strncmp(device, "blk", 3) != 0)
		return -1;
	const char *d = device + 3;
	size_t n = strspn(d, "0123456789");
	if (n == 0 || n > 3 || d[n] || (n > 1 && d[0] == '0'))
		return -1;
	long idx = 0;
	for (size_t k = 0; k < n; k++)
		idx = idx * 10 + (d[k] - '0');
	return (size_t)idx < cfg->nblock ? idx : -1;
}

int drive_swap_open(struct vm *vm, const struct vm_config *cfg, const struct gate *gate,
		    const char *device, const char *path, struct vm_child **c, int *fd,
		    char *err, size_t errlen)
{
	long idx = block_index(cfg, device);
	if (idx < 0)
		return errf(err, errlen, LC_ERR_DEVICE_NOT_PRESENT,
			    "params.device: the VM has no disk named \"%s\" (it has %zu: blk0..)",
			    device, cfg->nblock);
	const struct vm_block_device *d = &cfg->block[idx];
	if (d->backend == VM_BACKEND_VHOST_USER)
		return errf(err, errlen, LC_ERR_BAD_CONFIG,
			    "%s is served by an external vhost-user backend "
			    "(block_devices[%ld].vhost_user_socket): cellvm cannot swap its image",
			    device, idx);
	struct vm_child *found = NULL;
	for (size_t i = 0; i < vm->nchildren && !found; i++)
		if (vm->child[i].kind && strcmp(vm->child[i].name, device) == 0)
			found = &vm->child[i];
	if (!found || found->held < 0)
		return errf(err, errlen, LC_ERR_INTERNAL_ERROR,
			    "%s: its process cannot be restarted, so its image cannot be swapped",
			    device);
	char why[LC_REASON_MAX];
	uint64_t size;
	int code = gate_open(gate, "params.path", path, !d->read_only, LC_ERR_BAD_CONFIG, fd,
			     &size, why, sizeof(why));
	if (code)
		return errf(err, errlen, code, "%s: %s", device, why);
	int r = gate_lock(*fd, !d->read_only);
	if (r < 0) {
		close(*fd);
		*fd = -1;
		return errf(err, errlen, LC_ERR_BAD_CONFIG, "%s: params.path \"%s\": %s", device,
			    path,
			    r == -EAGAIN ? "in use: a VM (this one too) has it open for "
					   "writing, or for reading while this disk writes"
					 : strerror(-r));
	}
	*c = found;
	return 0;
}
