/* Who gets a connection slot: a row per rule and per edge. */
#include <criterion/criterion.h>

#include "admission.h"

_Static_assert(ADMIT_PER_UID <= ADMIT_MAX - ADMIT_ROOT_RESERVED, "a share fits");

static const struct {
	unsigned total, of_uid;
	bool root;
	enum admit_verdict want;
} rows[] = {
	{ 0, 0, false, ADMIT_OK },
	{ 0, 0, true, ADMIT_OK },
	/* A uid's share. */
	{ ADMIT_PER_UID - 1, ADMIT_PER_UID - 1, false, ADMIT_OK },
	{ ADMIT_PER_UID, ADMIT_PER_UID, false, ADMIT_UID_FULL },
	{ ADMIT_PER_UID + 3, ADMIT_PER_UID, false, ADMIT_UID_FULL },
	{ ADMIT_PER_UID, ADMIT_PER_UID - 1, false, ADMIT_OK }, /* another's are not its */
	/* Two tenants at their shares' edge: the last ones left are root's. */
	{ ADMIT_MAX - ADMIT_ROOT_RESERVED - 1, 3, false, ADMIT_OK },
	{ ADMIT_MAX - ADMIT_ROOT_RESERVED, 0, false, ADMIT_RESERVED },
	{ ADMIT_MAX - ADMIT_ROOT_RESERVED, 0, true, ADMIT_OK },
	{ ADMIT_MAX - 1, 0, false, ADMIT_RESERVED },
	{ ADMIT_MAX - 1, 0, true, ADMIT_OK },
	/* Root has no share of its own to exhaust, only the total. */
	{ ADMIT_MAX - 1, ADMIT_MAX - 1, true, ADMIT_OK },
	{ ADMIT_MAX, ADMIT_MAX, true, ADMIT_FULL },
	{ ADMIT_MAX, 0, true, ADMIT_FULL },
	{ ADMIT_MAX, 0, false, ADMIT_FULL },
	{ ADMIT_MAX + 5, 0, true, ADMIT_FULL },
};

Test(admission, table)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		cr_expect_eq(admit_decide(rows[i].total, rows[i].of_uid, rows[i].root), rows[i].want,
			     "row %zu: %u open, %u of its uid, %s: %s, want %s", i, rows[i].total,
			     rows[i].of_uid, rows[i].root ? "root" : "not root",
			     admit_verdict_text(admit_decide(rows[i].total, rows[i].of_uid,
							     rows[i].root)),
			     admit_verdict_text(rows[i].want));
}

/* The rule's point: a tenant at its share leaves root the reserved slots at
 * least, and no uid but root can take them. */
Test(admission, a_tenant_never_locks_root_out)
{
	unsigned total = 0, mine = 0;
	while (admit_decide(total, mine, false) == ADMIT_OK)
		total++, mine++;
	cr_expect_eq(mine, ADMIT_PER_UID);
	/* Other tenants fill up what is left to them. */
	while (admit_decide(total, 0, false) == ADMIT_OK)
		total++;
	cr_expect_eq(total, ADMIT_MAX - ADMIT_ROOT_RESERVED);
	for (unsigned i = 0; i < ADMIT_ROOT_RESERVED; i++)
		cr_expect_eq(admit_decide(total + i, i, true), ADMIT_OK, "root's slot %u", i);
}
