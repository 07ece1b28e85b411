/* What cellvm-fc answers to each Firecracker API request, and the VM
 * behind it: before InstanceStart the calls build the pending VM (fc_vm.h);
 * InstanceStart starts a private cellvmd (client/private_ctl.h), creates the
 * VM and runs it; afterwards the calls that act on a running VM become the
 * controller's calls (SetRateLimiter, SetBalloon, BalloonStats, Metrics,
 * Stop). Calls are answered one at a time, in order. */
#ifndef CELLVM_FC_API_H
#define CELLVM_FC_API_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "fc_route.h"
#include "fc_vm.h"
#include "http11.h"
#include "private_ctl.h"

/* The Firecracker API version whose calls this serves ("--version",
 * GET /version): Kata's Firecracker driver wants a version in that form. */
#define FC_API_VERSION "1.7.0"

struct fc_api {
	struct fc_vm *vm;
	enum fc_phase phase;
	const char *id;                 /* --id */
	const char *vm_sandbox;         /* the VM's "sandbox" (NULL: the config's) */
	struct private_ctl_opts opts;   /* how the controller is started */
	char cwd[PATH_MAX];             /* relative paths are relative to it */
	int metrics_fd;                 /* PUT /metrics's, or -1 */
	/* While running: */
	struct private_ctl ctl;
	int serial;                     /* the guest's serial stream, or -1 */
	uint32_t next_id;
	bool ended;                     /* the Run reply came */
	bool ended_ok;                  /* ... success, or the Stop we asked for */
	bool stop_asked;
};

/* An answer: a status and a JSON body (malloc'd, or NULL for none). */
struct fc_answer {
	int status;
	char *body;
};

int fc_api_init(struct fc_api *a, const char *id);
void fc_api_destroy(struct fc_api *a);

/* Answers one request. */
void fc_api_handle(struct fc_api *a, const struct http11_req *rq, struct fc_answer *ans);

/* Starts the pending VM (InstanceStart, or --config-file): 0, or -errno
 * with Firecracker's fault message in err. */
int fc_api_start(struct fc_api *a, char *err, size_t errlen);

/* A --config-file's text: the VM it describes (fc_vm_load), its logger and
 * metrics files opened, then started as fc_api_start(). */
int fc_api_start_file(struct fc_api *a, const char *text, size_t len, char *err, size_t errlen);

/* The controller's socket is readable: reads what came (the Run reply when
 * the VM ends). -errno when the controller is gone. */
int fc_api_ctl_readable(struct fc_api *a);

/* Asks the controller to stop the VM (once); its end comes as for a guest's. */
void fc_api_stop(struct fc_api *a);

/* {"fault_message": msg} (malloc'd; NULL when out of memory). */
char *fc_fault(const char *msg);

#endif
