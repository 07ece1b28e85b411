#include "device_kind.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fds.h"
#include "lifecycle.h"
#include "tap.h"
#include "virtio_ids.h"

/* The resource's fd number as the plans' arguments spell it. */
#define RESOURCE_FD "4"
_Static_assert(DEVICE_FD_RESOURCE == 4, "RESOURCE_FD spells DEVICE_FD_RESOURCE");

void device_plan_close(struct device_plan *p)
{
	close_fd(&p->resource);
	while (p->nextra)
		close_fd(&p->extra[--p->nextra]);
}

static size_t count_block(const struct vm_config *cfg)
{
	return cfg->nblock;
}

static size_t count_net(const struct vm_config *cfg)
{
	return cfg->nnet;
}

static size_t count_console(const struct vm_config *cfg)
{
	return cfg->console;
}

static size_t count_rng(const struct vm_config *cfg)
{
	return cfg->rng;
}

static size_t count_balloon(const struct vm_config *cfg)
{
	return cfg->balloon.present;
}

static size_t count_vsock(const struct vm_config *cfg)
{
	return cfg->vsock;
}

/* Adds `opt SPEC` to p's args at *a for a rate limiter that limits
 * something, its text in p->limits[slot]. */
static void add_limit(struct device_plan *p, size_t *a, const char *opt, const struct rl_cfg *c,
		      int slot)
{
	rl_arg_format(c, p->limits[slot]);
	if (!p->limits[slot][0])
		return;
	p->args[(*a)++] = opt;
	p->args[(*a)++] = p->limits[slot];
}

/* "blk0: " before the gate's words. */
static int prefixed(const char *name, char *err, size_t errlen, int code, const char *words)
{
	snprintf(err, errlen, "%s: %s", name, words);
	return code;
}

static int plan_block(const struct vm_config *cfg, size_t idx, const struct gate *gate,
		      const char *name, struct device_plan *p, char *err, size_t errlen)
{
	const struct vm_block_device *d = &cfg->block[idx];
	char field[48], why[LC_REASON_MAX];
	uint64_t size;
	if (d->backend == VM_BACKEND_VHOST_USER) {
		snprintf(p->socket_field, sizeof(p->socket_field), "block_devices[%zu].vhost_user_socket", idx);
		p->socket = d->vhost_user_socket;
		return 0;
	}
	p->sandbox = d->sandbox;
	snprintf(field, sizeof(field), "block_devices[%zu].path", idx);
	int code = gate_open(gate, field, d->path, !d->read_only, LC_ERR_DEVICE_START_FAILURE,
			     &p->resource, &size, why, sizeof(why));
	if (code)
		return prefixed(name, err, errlen, code, why);
	/* Two writers, or a writer and a reader, of one disk corrupt it. */
	int r = gate_lock(p->resource, !d->read_only);
	if (r < 0) {
		close(p->resource);
		p->resource = -1;
		snprintf(err, errlen, "%s: %s \"%s\": %s", name, field, d->path,
			 r == -EAGAIN ? "in use: another VM (or another device of this one) has it "
					"open for writing, or for reading while this one writes"
				      : strerror(-r));
		return LC_ERR_DEVICE_START_FAILURE;
	}
	p->hold = true;
	size_t a = 0;
	p->args[a++] = "--disk-fd";
	p->args[a++] = RESOURCE_FD;
	if (d->read_only)
		p->args[a++] = "--read-only";
	if (d->serial[0]) {
		p->args[a++] = "--serial";
		p->args[a++] = d->serial;
	}
	add_limit(p, &a, "--rate-limit", &d->rate_limiter, 0);
	return 0;
}

static int plan_net(const struct vm_config *cfg, size_t idx, const struct gate *gate,
		    const char *name, struct device_plan *p, char *err, size_t errlen)
{
	const struct vm_net_device *d = &cfg->net[idx];
	(void)gate;
	if (d->backend == VM_BACKEND_VHOST_USER) {
		snprintf(p->socket_field, sizeof(p->socket_field), "net_devices[%zu].vhost_user_socket", idx);
		p->socket = d->vhost_user_socket;
		return 0;
	}
	p->sandbox = d->sandbox;
	/* One tap queue per pair: the first is the resource, the others extra. */
	unsigned int pairs = d->num_queues > 2 ? d->num_queues / 2 : 1;
	_Static_assert(VM_CONFIG_NET_QUEUES_MAX / 2 <= DEVICE_EXTRA_MAX + 1, "a tap fd per pair");
	size_t len = (size_t)snprintf(p->fd_list, sizeof(p->fd_list), RESOURCE_FD);
	for (unsigned int i = 0; i < pairs; i++) {
		int fd = tap_open(d->tap, pairs > 1);
		if (fd < 0) {
			device_plan_close(p);
			snprintf(err, errlen,
				 "%s: tap %s: %s (create it with `ip tuntap add %s mode tap user UID "
				 "vnet_hdr%s` or run the controller as root)",
				 name, d->tap, strerror(-fd), d->tap,
				 pairs > 1 ? " multi_queue" : "");
			return LC_ERR_DEVICE_START_FAILURE;
		}
		if (i == 0) {
			p->resource = fd;
			continue;
		}
		p->extra[p->nextra++] = fd;
		len += (size_t)snprintf(p->fd_list + len, sizeof(p->fd_list) - len, ",%d",
					DEVICE_FD_EXTRA + (int)i - 1);
	}
	size_t a = 0;
	p->args[a++] = "--tap-fd";
	p->args[a++] = p->fd_list;
	if (pairs > 1) {
		snprintf(p->numbers[0], sizeof(p->numbers[0]), "%u", 2 * pairs);
		p->args[a++] = "--num-queues";
		p->args[a++] = p->numbers[0];
	}
	if (d->has_mac) {
		snprintf(p->mac, sizeof(p->mac), "%02x:%02x:%02x:%02x:%02x:%02x", d->mac[0],
			 d->mac[1], d->mac[2], d->mac[3], d->mac[4], d->mac[5]);
		p->args[a++] = "--mac";
		p->args[a++] = p->mac;
	}
	add_limit(p, &a, "--rx-rate-limit", &d->rx_rate_limiter, 0);
	add_limit(p, &a, "--tx-rate-limit", &d->tx_rate_limiter, 1);
	return 0;
}

/* The console's host side is a socketpair: the device gets one end, the
 * controller keeps the other for the console hub. */
static int plan_console(const struct vm_config *cfg, size_t idx, const struct gate *gate,
			const char *name, struct device_plan *p, char *err, size_t errlen)
{
	(void)cfg;
	(void)idx;
	(void)gate;
	int cv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, cv) < 0) {
		snprintf(err, errlen, "%s: socketpair: %s", name, strerror(errno));
		return LC_ERR_INTERNAL_ERROR;
	}
	p->host = cv[0];
	p->resource = cv[1];
	p->args[0] = "--host-fd";
	p->args[1] = RESOURCE_FD;
	return 0;
}

static int plan_rng(const struct vm_config *cfg, size_t idx, const struct gate *gate,
		    const char *name, struct device_plan *p, char *err, size_t errlen)
{
	(void)cfg;
	(void)idx;
	(void)gate;
	(void)name;
	(void)p;
	(void)err;
	(void)errlen;
	return 0;
}

/* Firecracker's balloon object as cellvm-balloon's options. */
static int plan_balloon(const struct vm_config *cfg, size_t idx, const struct gate *gate,
			const char *name, struct device_plan *p, char *err, size_t errlen)
{
	const struct vm_balloon *b = &cfg->balloon;
	(void)idx;
	(void)gate;
	(void)name;
	(void)err;
	(void)errlen;
	size_t a = 0;
	snprintf(p->numbers[0], sizeof(p->numbers[0]), "%u", b->amount_mib);
	p->args[a++] = "--amount-mib";
	p->args[a++] = p->numbers[0];
	if (b->stats_polling_interval_s) {
		snprintf(p->numbers[1], sizeof(p->numbers[1]), "%u", b->stats_polling_interval_s);
		p->args[a++] = "--stats-interval";
		p->args[a++] = p->numbers[1];
	}
	if (b->deflate_on_oom)
		p->args[a++] = "--deflate-on-oom";
	if (b->free_page_reporting)
		p->args[a++] = "--free-page-reporting";
	return 0;
}

/* The controller binds uds_path (beneath --allow-socket-dir) and hands
 * cellvm-vsock the listening socket. The device also gets the path: its
 * directory is its root once confined, where it connects to the host's
 * "<uds_path>_P" listeners by name (docs/security.md), which no fd from
 * here could stand for. */
static int plan_vsock(const struct vm_config *cfg, size_t idx, const struct gate *gate,
		      const char *name, struct device_plan *p, char *err, size_t errlen)
{
	char why[LC_REASON_MAX];
	(void)idx;
	int code = gate_listen(gate, "vsock.uds_path", cfg->vsock_dev.uds_path,
			       LC_ERR_DEVICE_START_FAILURE, &p->resource, why, sizeof(why));
	if (code)
		return prefixed(name, err, errlen, code, why);
	snprintf(p->numbers[0], sizeof(p->numbers[0]), "%u", cfg->vsock_dev.guest_cid);
	size_t a = 0;
	p->args[a++] = "--uds-fd";
	p->args[a++] = RESOURCE_FD;
	p->args[a++] = "--guest-cid";
	p->args[a++] = p->numbers[0];
	p->args[a++] = "--uds-path";
	p->args[a++] = cfg->vsock_dev.uds_path;
	return 0;
}

const struct device_kind device_kinds[DEVICE_KINDS] = {
	{ VIRTIO_ID_BLOCK, "blk", "cellvm-blk", count_block, plan_block },
	{ VIRTIO_ID_NET, "net", "cellvm-net", count_net, plan_net },
	{ VIRTIO_ID_CONSOLE, "console", "cellvm-console", count_console, plan_console },
	{ VIRTIO_ID_RNG, "rng", "cellvm-rng", count_rng, plan_rng },
	{ VIRTIO_ID_BALLOON, "balloon", "cellvm-balloon", count_balloon, plan_balloon },
	{ VIRTIO_ID_VSOCK, "vsock", "cellvm-vsock", count_vsock, plan_vsock },
};
