/* cellvm-fc's routes and its state rules (fc/fc_route.h): every call in
 * both phases, as Firecracker's swagger has them. */
#include <criterion/criterion.h>
#include <string.h>

#include "fc_route.h"

static int route(enum http11_method m, const char *path, struct fc_call *c)
{
	return fc_route(m, path, strlen(path), c);
}

Test(fc_route, paths)
{
	static const struct {
		enum http11_method m;
		const char *path;
		int op; /* -1: no such call */
		const char *id;
	} t[] = {
		{ HTTP11_GET, "/", FC_OP_DESCRIBE, NULL },
		{ HTTP11_PUT, "/", -1, NULL },
		{ HTTP11_GET, "/version", FC_OP_VERSION, NULL },
		{ HTTP11_GET, "/vm/config", FC_OP_GET_VM_CONFIG, NULL },
		{ HTTP11_PUT, "/boot-source", FC_OP_PUT_BOOT, NULL },
		{ HTTP11_GET, "/boot-source", -1, NULL },
		{ HTTP11_GET, "/machine-config", FC_OP_GET_MACHINE, NULL },
		{ HTTP11_PUT, "/machine-config", FC_OP_PUT_MACHINE, NULL },
		{ HTTP11_PATCH, "/machine-config", FC_OP_PATCH_MACHINE, NULL },
		{ HTTP11_PUT, "/drives/rootfs", FC_OP_PUT_DRIVE, "rootfs" },
		{ HTTP11_PATCH, "/drives/drive_1-a", FC_OP_PATCH_DRIVE, "drive_1-a" },
		{ HTTP11_PUT, "/drives/", -1, NULL },
		{ HTTP11_PUT, "/drives/a/b", -1, NULL },
		{ HTTP11_PUT, "/drives/a.b", -1, NULL },
		{ HTTP11_PUT, "/drives", -1, NULL },
		{ HTTP11_PUT, "/network-interfaces/eth0", FC_OP_PUT_NET, "eth0" },
		{ HTTP11_PATCH, "/network-interfaces/eth0", FC_OP_PATCH_NET, "eth0" },
		{ HTTP11_PUT, "/vsock", FC_OP_PUT_VSOCK, NULL },
		{ HTTP11_PUT, "/entropy", FC_OP_PUT_ENTROPY, NULL },
		{ HTTP11_GET, "/balloon", FC_OP_GET_BALLOON, NULL },
		{ HTTP11_PUT, "/balloon", FC_OP_PUT_BALLOON, NULL },
		{ HTTP11_PATCH, "/balloon", FC_OP_PATCH_BALLOON, NULL },
		{ HTTP11_GET, "/balloon/statistics", FC_OP_GET_BALLOON_STATS, NULL },
		{ HTTP11_PATCH, "/balloon/statistics", FC_OP_PATCH_BALLOON_STATS, NULL },
		{ HTTP11_PUT, "/logger", FC_OP_PUT_LOGGER, NULL },
		{ HTTP11_PUT, "/metrics", FC_OP_PUT_METRICS, NULL },
		{ HTTP11_PUT, "/actions", FC_OP_COUNT, NULL },
		{ HTTP11_GET, "/actions", -1, NULL },
		{ HTTP11_PUT, "/mmds", -1, NULL },
		{ HTTP11_OTHER, "/", -1, NULL },
		{ HTTP11_GET, "/machine-config?x", -1, NULL },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct fc_call c;
		int r = route(t[i].m, t[i].path, &c);
		if (t[i].op < 0) {
			cr_expect_eq(r, -1, "%s", t[i].path);
			continue;
		}
		cr_expect_eq(r, 0, "%s", t[i].path);
		cr_expect_eq((int)c.op, t[i].op, "%s", t[i].path);
		if (t[i].id)
			cr_expect(c.id_len == strlen(t[i].id) && !memcmp(c.id, t[i].id, c.id_len),
				  "%s", t[i].path);
		else
			cr_expect_null(c.id);
	}
	char id65[80] = "/drives/";
	memset(id65 + 8, 'a', 65);
	struct fc_call c;
	cr_expect_eq(route(HTTP11_PUT, id65, &c), -1, "an id of 65 bytes");
	id65[8 + 64] = '\0';
	cr_expect_eq(route(HTTP11_PUT, id65, &c), 0, "an id of 64 bytes");
}

/* Each op: may it run before InstanceStart, and after. */
Test(fc_route, state_table)
{
	static const struct {
		enum fc_op op;
		bool before, after;
	} t[] = {
		{ FC_OP_DESCRIBE, true, true },
		{ FC_OP_VERSION, true, true },
		{ FC_OP_GET_VM_CONFIG, true, true },
		{ FC_OP_PUT_BOOT, true, false },
		{ FC_OP_GET_MACHINE, true, true },
		{ FC_OP_PUT_MACHINE, true, false },
		{ FC_OP_PATCH_MACHINE, true, false },
		{ FC_OP_PUT_DRIVE, true, false },
		{ FC_OP_PATCH_DRIVE, true, true },
		{ FC_OP_PUT_NET, true, false },
		{ FC_OP_PATCH_NET, true, true },
		{ FC_OP_PUT_VSOCK, true, false },
		{ FC_OP_PUT_ENTROPY, true, false },
		{ FC_OP_GET_BALLOON, true, true },
		{ FC_OP_PUT_BALLOON, true, false },
		{ FC_OP_PATCH_BALLOON, true, true },
		{ FC_OP_GET_BALLOON_STATS, false, true },
		{ FC_OP_PATCH_BALLOON_STATS, false, true },
		{ FC_OP_PUT_LOGGER, true, false },
		{ FC_OP_PUT_METRICS, true, false },
		{ FC_OP_INSTANCE_START, true, false },
		{ FC_OP_CTRL_ALT_DEL, false, true },
		{ FC_OP_FLUSH_METRICS, true, true },
	};
	cr_assert_eq(sizeof(t) / sizeof(t[0]), FC_OP_COUNT, "every op is in the table");
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		cr_expect_eq(fc_allowed(t[i].op, FC_NOT_STARTED) == NULL, t[i].before, "op %d before",
			     t[i].op);
		cr_expect_eq(fc_allowed(t[i].op, FC_RUNNING) == NULL, t[i].after, "op %d after",
			     t[i].op);
	}
	cr_expect_str_eq(fc_allowed(FC_OP_PUT_BOOT, FC_RUNNING),
			 "The requested operation is not supported after starting the microVM.");
	cr_expect_not_null(fc_allowed(FC_OP_COUNT, FC_NOT_STARTED));
}

Test(fc_route, actions_and_phases)
{
	cr_expect_eq(fc_action("InstanceStart"), FC_OP_INSTANCE_START);
	cr_expect_eq(fc_action("SendCtrlAltDel"), FC_OP_CTRL_ALT_DEL);
	cr_expect_eq(fc_action("FlushMetrics"), FC_OP_FLUSH_METRICS);
	cr_expect_eq(fc_action("instancestart"), FC_OP_COUNT);
	cr_expect_str_eq(fc_phase_name(FC_NOT_STARTED), "Not started");
	cr_expect_str_eq(fc_phase_name(FC_RUNNING), "Running");
}
