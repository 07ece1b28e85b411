/* cellvm-rng driven by the test frontend across a process boundary. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "bytes.h"
#include "tfe.h"

#define MEM (8u << 20)


static void start(struct tfe *f, uint64_t features)
{
	const char *argv[] = { tfe_bin("device-procs/cellvm-rng"), NULL };
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	cr_assert_eq(tfe_negotiate(f, features), 0);
	cr_assert_eq(tfe_setup_queue(f, 0, 16), 0);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void finish_clean(struct tfe *f)
{
	int status = tfe_finish(f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "backend must exit 0 when the frontend hangs up (status 0x%x)", status);
}

Test(rng, fills_a_buffer)
{
	struct tfe f;
	start(&f, 0);
	uint64_t buf = tfe_alloc(&f, 256);
	struct tfe_buf b = { buf, 256, true };
	int head = tfe_post(&f, 0, &b, 1, false);
	cr_assert_geq(head, 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	cr_assert_eq(id, (uint32_t)head);
	cr_assert_eq(len, 256);
	cr_assert_not(all_zero(tfe_ptr(&f, buf), 256));
	finish_clean(&f);
}

Test(rng, many_requests_in_one_kick_with_event_idx_and_indirect)
{
	struct tfe f;
	start(&f, BIT_ULL(VIRTIO_F_EVENT_IDX) | BIT_ULL(VIRTIO_F_INDIRECT_DESC));
	uint64_t bufs[8];
	for (int i = 0; i < 8; i++) {
		bufs[i] = tfe_alloc(&f, 64);
		struct tfe_buf b[2] = { { bufs[i], 32, true }, { bufs[i] + 32, 32, true } };
		cr_assert_geq(tfe_post(&f, 0, b, 2, i % 2), 0);
	}
	for (int i = 0; i < 8; i++) {
		uint32_t id, len;
		cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
		cr_assert_eq(len, 64);
	}
	for (int i = 0; i < 8; i++)
		cr_assert_not(all_zero(tfe_ptr(&f, bufs[i]), 64));
	finish_clean(&f);
}

Test(rng, buffer_straddling_two_memory_regions)
{
	struct tfe f;
	start(&f, 0);
	uint64_t gpa = MEM / 2 - 64;
	memset(tfe_ptr(&f, gpa), 0, 128);
	struct tfe_buf b = { gpa, 128, true };
	cr_assert_geq(tfe_post(&f, 0, &b, 1, false), 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	cr_assert_eq(len, 128);
	cr_assert_not(all_zero(tfe_ptr(&f, gpa), 64));
	cr_assert_not(all_zero(tfe_ptr(&f, MEM / 2), 64));
	finish_clean(&f);
}

Test(rng, readable_buffer_gets_nothing)
{
	struct tfe f;
	start(&f, 0);
	uint64_t buf = tfe_alloc(&f, 64);
	struct tfe_buf b = { buf, 64, false };
	cr_assert_geq(tfe_post(&f, 0, &b, 1, false), 0);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 5000, &id, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert(all_zero(tfe_ptr(&f, buf), 64), "a device-readable buffer is never written");
	finish_clean(&f);
}

Test(rng, print_capabilities)
{
	char out[256];
	cr_assert_eq(tfe_capabilities("device-procs/cellvm-rng", out, sizeof(out)), 0);
	cr_assert_not_null(strstr(out, "\"type\": \"rng\""), "got: %s", out);
}
