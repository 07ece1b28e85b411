#include "fc_route.h"

#include <stdbool.h>
#include <string.h>

#define FC_ID_MAX 64

/* When each call may run (Firecracker's swagger: "Pre-boot only", "Post-boot
 * only", or either). Drive and NIC PATCHes are taken before boot as well,
 * where they update the pending config. */
enum when { ANY, PRE, POST };

static const struct {
	enum http11_method m;
	const char *path;   /* the exact path, or a prefix ending in '/' that an {id} follows */
	enum when when;
} calls[FC_OP_COUNT] = {
	[FC_OP_DESCRIBE] = { HTTP11_GET, "/", ANY },
	[FC_OP_VERSION] = { HTTP11_GET, "/version", ANY },
	[FC_OP_GET_VM_CONFIG] = { HTTP11_GET, "/vm/config", ANY },
	[FC_OP_PUT_BOOT] = { HTTP11_PUT, "/boot-source", PRE },
	[FC_OP_GET_MACHINE] = { HTTP11_GET, "/machine-config", ANY },
	[FC_OP_PUT_MACHINE] = { HTTP11_PUT, "/machine-config", PRE },
	[FC_OP_PATCH_MACHINE] = { HTTP11_PATCH, "/machine-config", PRE },
	[FC_OP_PUT_DRIVE] = { HTTP11_PUT, "/drives/", PRE },
	[FC_OP_PATCH_DRIVE] = { HTTP11_PATCH, "/drives/", ANY },
	[FC_OP_PUT_NET] = { HTTP11_PUT, "/network-interfaces/", PRE },
	[FC_OP_PATCH_NET] = { HTTP11_PATCH, "/network-interfaces/", ANY },
	[FC_OP_PUT_VSOCK] = { HTTP11_PUT, "/vsock", PRE },
	[FC_OP_PUT_ENTROPY] = { HTTP11_PUT, "/entropy", PRE },
	[FC_OP_GET_BALLOON] = { HTTP11_GET, "/balloon", ANY },
	[FC_OP_PUT_BALLOON] = { HTTP11_PUT, "/balloon", PRE },
	[FC_OP_PATCH_BALLOON] = { HTTP11_PATCH, "/balloon", ANY },
	[FC_OP_GET_BALLOON_STATS] = { HTTP11_GET, "/balloon/statistics", POST },
	[FC_OP_PATCH_BALLOON_STATS] = { HTTP11_PATCH, "/balloon/statistics", POST },
	[FC_OP_PUT_LOGGER] = { HTTP11_PUT, "/logger", PRE },
	[FC_OP_PUT_METRICS] = { HTTP11_PUT, "/metrics", PRE },
	[FC_OP_INSTANCE_START] = { HTTP11_OTHER, NULL, PRE },
	[FC_OP_CTRL_ALT_DEL] = { HTTP11_OTHER, NULL, POST },
	[FC_OP_FLUSH_METRICS] = { HTTP11_OTHER, NULL, ANY },
};

static bool id_ok(const char *p, size_t n)
{
	if (n == 0 || n > FC_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

int fc_route(enum http11_method m, const char *path, size_t len, struct fc_call *out)
{
	out->id = NULL;
	out->id_len = 0;
	if (m == HTTP11_PUT && len == 8 && memcmp(path, "/actions", 8) == 0) {
		out->op = FC_OP_COUNT;
		return 0;
	}
	for (int op = 0; op < FC_OP_COUNT; op++) {
		const char *p = calls[op].path;
		if (!p || calls[op].m != m)
			continue;
		size_t n = strlen(p);
		bool prefix = n > 1 && p[n - 1] == '/';
		if (prefix ? len > n && memcmp(path, p, n) == 0 && id_ok(path + n, len - n)
			   : len == n && memcmp(path, p, n) == 0) {
			out->op = (enum fc_op)op;
			if (prefix) {
				out->id = path + n;
				out->id_len = len - n;
			}
			return 0;
		}
	}
	return -1;
}

const char *fc_allowed(enum fc_op op, enum fc_phase phase)
{
	if (op >= FC_OP_COUNT)
		return "unknown operation";
	if (calls[op].when == PRE && phase != FC_NOT_STARTED)
		return "The requested operation is not supported after starting the microVM.";
	if (calls[op].when == POST && phase != FC_RUNNING)
		return "The requested operation is not supported before starting the microVM.";
	return NULL;
}

enum fc_op fc_action(const char *action_type)
{
	if (strcmp(action_type, "InstanceStart") == 0)
		return FC_OP_INSTANCE_START;
	if (strcmp(action_type, "SendCtrlAltDel") == 0)
		return FC_OP_CTRL_ALT_DEL;
	if (strcmp(action_type, "FlushMetrics") == 0)
		return FC_OP_FLUSH_METRICS;
	return FC_OP_COUNT;
}

const char *fc_phase_name(enum fc_phase phase)
{
	return phase == FC_RUNNING ? "Running" : "Not started";
}
