/* Whether cellvmd takes one more client connection (docs/rpc.md,
 * "Connections"): ADMIT_MAX in all, at most ADMIT_PER_UID of them one
 * uid's, and the last ADMIT_ROOT_RESERVED for root alone, so that however
 * many connections a tenant holds, the operator still gets in to stop the
 * VM. A Guest channel counts as its binder's. Pure. */
#ifndef CELLVM_ADMISSION_H
#define CELLVM_ADMISSION_H

#include <stdbool.h>

#define ADMIT_MAX 32          /* connections of both kinds at once */
#define ADMIT_PER_UID 16      /* any one uid but root */
#define ADMIT_ROOT_RESERVED 4 /* of ADMIT_MAX: only root may take them */

enum admit_verdict {
	ADMIT_OK,
	ADMIT_FULL,     /* ADMIT_MAX are open */
	ADMIT_RESERVED, /* only the slots kept for root are left */
	ADMIT_UID_FULL, /* this uid holds ADMIT_PER_UID */
};

/* total: connections open now; of_uid: how many of them are this uid's. */
enum admit_verdict admit_decide(unsigned total, unsigned of_uid, bool root);

/* Why a connection was refused, for the log ("every slot is taken", ...). */
const char *admit_verdict_text(enum admit_verdict v);

#endif
