/* fake_net_tap.c's record of what cellvm-net asked of its tap. */
#ifndef CELLVM_FAKE_NET_TAP_H
#define CELLVM_FAKE_NET_TAP_H

/* The TUN_F_* offloads last set. */
extern unsigned int fake_tap_offload;

#endif
