/* A metrics snapshot (metrics.h) as text: Prometheus's text exposition
 * format 0.0.4, for `cellvmctl metrics --prometheus` and cellvmd's
 * --metrics-listen, and lines for people, for `cellvmctl metrics`. Pure:
 * each writes into out[0..cap) and returns the length (without the NUL it
 * also writes), or -EMSGSIZE when it does not fit.
 *
 * Prometheus families (labels vm, and device or process):
 *   cellvm_vm_uptime_seconds (gauge), cellvm_vm_state{state} (gauge, 1);
 *   cellvm_device_up{device} (gauge: 1 when the device answered);
 *   cellvm_<kind>_<counter>_total for each counter its kind keeps
 *   (dev_ctl.h: cellvm_blk_read_bytes_total, cellvm_net_rx_frames_total;
 *   time in seconds: cellvm_blk_throttled_seconds_total);
 *   cellvm_process_cpu_seconds_total, cellvm_process_resident_memory_bytes.
 * Label values are escaped as the format says (\\, \", \n). */
#ifndef CELLVM_METRICS_TEXT_H
#define CELLVM_METRICS_TEXT_H

#include <stddef.h>

#include "metrics.h"

int metrics_prometheus(const struct metrics_snapshot *s, char *out, size_t cap);
int metrics_human(const struct metrics_snapshot *s, char *out, size_t cap);

#endif
