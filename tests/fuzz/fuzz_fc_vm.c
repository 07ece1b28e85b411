/* libFuzzer harness: cellvm-fc's pending VM (fc/fc_vm.c), which the API
 * client's bodies and --config-file build, and its translation into
 * cellvm's config. The input is a sequence of calls, each
 *   byte op (an fc_op, modulo FC_OP_COUNT), byte n, n bytes of {id},
 *   u16le body length, the body,
 * applied in order to one VM, then the whole input once as a config file.
 * Checked: a refused call leaves the VM as it was (GET /vm/config reads the
 * same); a refusal has a message; every translation, GET body and PATCH
 * params is one JSON object.
 *
 * Links: fc/fc_vm.c fc/fc_route.c controller/json_strict.c controller/json_words.c
 *        controller/errf.c */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "fc_vm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) ((c) ? (void)0 : abort())

static void check_object(char *text)
{
	if (!text)
		return;
	json_object *o = json_tokener_parse(text);
	CHECK(o && json_object_is_type(o, json_type_object));
	json_object_put(o);
	free(text);
}

static char *doc(const struct fc_vm *vm)
{
	char err[256];
	char *s = fc_vm_get(vm, FC_OP_GET_VM_CONFIG, err, sizeof(err));
	CHECK(s);
	return s;
}

static void translate(const struct fc_vm *vm)
{
	char err[512], *out = NULL;
	int r = fc_vm_translate(vm, "/cwd", NULL, &out, err, sizeof(err));
	CHECK(r == 0 || r == -EINVAL);
	CHECK(r == 0 ? out != NULL : err[0] != '\0');
	check_object(out);
	check_object(fc_vm_get(vm, FC_OP_GET_MACHINE, err, sizeof(err)));
	check_object(fc_vm_get(vm, FC_OP_GET_BALLOON, err, sizeof(err)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fc_vm *vm = fc_vm_new();
	char err[512];
	if (!vm)
		return 0;
	size_t i = 0;
	while (i + 4 <= size) {
		enum fc_op op = (enum fc_op)(data[i] % FC_OP_COUNT);
		size_t n = data[i + 1];
		if (i + 2 + n + 2 > size)
			break;
		char id[256];
		memcpy(id, data + i + 2, n);
		i += 2 + n;
		size_t blen = data[i] | (size_t)data[i + 1] << 8;
		i += 2;
		if (blen > size - i)
			blen = size - i;
		char *body = malloc(blen ? blen : 1);
		if (!body)
			break;
		memcpy(body, data + i, blen);
		i += blen;
		char *before = doc(vm), *params = NULL, *swap = NULL;
		err[0] = '\0';
		int r = fc_vm_apply(vm, op, id, n, body, blen, err, sizeof(err));
		CHECK(r == 0 || r == -EINVAL);
		if (r < 0) {
			char *after = doc(vm);
			CHECK(strcmp(before, after) == 0 && err[0] != '\0');
			free(after);
		}
		free(before);
		if (op == FC_OP_PATCH_DRIVE || op == FC_OP_PATCH_NET || op == FC_OP_PATCH_BALLOON) {
			r = fc_vm_patch_params(vm, op, id, n, body, blen, "/cwd", &params, &swap,
					       err, sizeof(err));
			CHECK(r == 0 || r == -EINVAL || r == -ENOENT);
			check_object(params);
			check_object(swap);
		}
		enum fc_op act;
		if (fc_vm_action(body, blen, &act, err, sizeof(err)) == 0)
			CHECK(act == FC_OP_INSTANCE_START || act == FC_OP_CTRL_ALT_DEL ||
			      act == FC_OP_FLUSH_METRICS);
		free(body);
	}
	translate(vm);
	fc_vm_free(vm);

	/* The whole input as a --config-file. */
	if ((vm = fc_vm_new())) {
		int r = fc_vm_load(vm, (const char *)data, size, err, sizeof(err));
		CHECK(r == 0 || r == -EINVAL);
		translate(vm);
		fc_vm_free(vm);
	}
	return 0;
}
