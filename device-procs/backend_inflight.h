/* The backend core's side of vhost-user in-flight tracking
 * (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD, common/vhu_inflight.h).
 *
 * The region's memfd is made before the process is confined (no
 * memfd_create, ftruncate or F_ADD_SEALS in the device policies), at the
 * largest size the device can need, and sealed against shrinking and
 * growing; GET_INFLIGHT_FD formats the part asked for and hands out that
 * fd. SET_INFLIGHT_FD maps the region the frontend gives back (this one,
 * or one a previous process of the device made): checked to be large
 * enough and sealed against shrinking, so no touch of it can fault. A ring
 * that starts with a region recovers it (the frontend's and a dead
 * process's bytes, untrusted): the heads left in flight are popped again
 * before the avail ring, which the ring then reads from used_idx + their
 * number. Internal to device-procs/backend.c, but for vub_inflight_prepare
 * (backend.h). */
#ifndef CELLVM_BACKEND_INFLIGHT_H
#define CELLVM_BACKEND_INFLIGHT_H

#include "backend.h"

/* GET_INFLIGHT_FD: the reply (with the fd, or mmap_size 0 without one). */
int vub_inflight_get(struct vub *b, const struct vhu_inflight *req);

/* SET_INFLIGHT_FD with the region's fd (not taken). 0 or -errno, logged. */
int vub_inflight_set(struct vub *b, const struct vhu_inflight *in, int fd);

/* Lets go of the mapped region and every ring's recovery state. */
void vub_inflight_unmap(struct vub *b);

/* A ring starts anew on mapped rings: tracks it in the region, if any,
 * and picks up what the region says is in flight. */
void vub_inflight_ring_start(struct vub_vring *vr);

/* A ring stops: its tracking and what was left to resubmit go. */
void vub_inflight_ring_stop(struct vub_vring *vr);

/* After virtq_init on a ring that keeps its place: the tracking again. */
void vub_inflight_ring_attach(struct vub_vring *vr);

#endif
