#include "admission.h"

enum admit_verdict admit_decide(unsigned total, unsigned of_uid, bool root)
{
	if (total >= ADMIT_MAX)
		return ADMIT_FULL;
	/* Root is the operator: bounded only by the total. */
	if (root)
		return ADMIT_OK;
	if (total >= ADMIT_MAX - ADMIT_ROOT_RESERVED)
		return ADMIT_RESERVED;
	if (of_uid >= ADMIT_PER_UID)
		return ADMIT_UID_FULL;
	return ADMIT_OK;
}

const char *admit_verdict_text(enum admit_verdict v)
{
	switch (v) {
	case ADMIT_OK: return "admitted";
	case ADMIT_FULL: return "every connection slot is taken";
	case ADMIT_RESERVED: return "only the slots kept for root are free";
	case ADMIT_UID_FULL: return "its uid holds its share of connections";
	}
	return "?";
}
