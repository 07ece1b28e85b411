/* cellvm-net with two queue pairs, driven by the test frontend over a
 * multi-queue tap the test creates: what a frontend sees of MQ (the
 * feature, max_virtqueue_pairs, GET_QUEUE_NUM counting the data queues
 * alone) and frames flowing on pair 1 as on pair 0, both ways. The device
 * runs confined (the default), so its policy's TUNSETQUEUE is exercised:
 * pair 1's tap queue is detached until its rings run.
 *
 * Which tap queue a host frame takes is the kernel's choice: a flow goes
 * to the queue it was last sent from (tun's flow table; all frames of
 * ETHERTYPE are one flow), so each pair first sends, then receives. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bytes.h"
#include "net_ctrl.h"
#include "net_fixture.h"
#include "tfe.h"

#define MEM (16u << 20)
#define PAIRS 2

static void start_mq(struct tfe *f, struct tap *t)
{
	int fds[PAIRS];
	char list[32];
	tap_create_mq(t, fds, PAIRS);
	snprintf(list, sizeof(list), "%d,%d", fds[0], fds[1]);
	const char *argv[] = { net_bin(), "--tap-fd", list, "--num-queues", "4",
			       "--mac", "52:54:00:12:34:56", NULL };
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	for (int i = 0; i < PAIRS; i++)
		close(fds[i]);
	tap_bring_up(t);
	cr_assert_eq(tfe_negotiate(f, BIT_ULL(VIRTIO_NET_F_MQ)), 0);
}

/* A frame out of pair p's tx queue reaches the host; then a host frame
 * (the same flow) arrives on pair p's rx queue, and on no other. */
static void round_trip(struct tfe *f, struct tap *t, unsigned int p, uint8_t seed)
{
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, frame[60], got[2048];
	make_frame(frame, sizeof(frame), peer_mac, guest_mac, seed);
	wait_used(f, 2 * p + 1, post_tx_q(f, 2 * p + 1, hdr, frame, sizeof(frame)), 0);
	cr_assert_eq(host_recv(t, got, sizeof(got), 5000), (ssize_t)sizeof(frame),
		     "pair %u: the guest's frame reaches the host", p);
	cr_assert_arr_eq(got, frame, sizeof(frame));

	uint64_t buf = tfe_alloc(f, 2048);
	int head = post_rx_q(f, 2 * p, buf, 2048);
	host_send(t, 100, (uint8_t)(seed + 1));
	wait_used(f, 2 * p, head, NET_HDR_SIZE + 100);
	uint8_t want[100];
	make_frame(want, sizeof(want), guest_mac, peer_mac, (uint8_t)(seed + 1));
	cr_assert_arr_eq((uint8_t *)tfe_ptr(f, buf) + NET_HDR_SIZE, want, sizeof(want),
			 "pair %u: the host's frame reaches the guest", p);
}

Test(net_mq, two_pairs_carry_frames_both_ways)
{
	struct tfe f;
	struct tap t;
	start_mq(&f, &t);
	cr_assert(f.features & BIT_ULL(VIRTIO_NET_F_MQ), "MQ offered with 2 pairs");
	cr_assert(f.protocol_features & BIT_ULL(VHU_PROTOCOL_F_MQ));
	struct vhu_msg m = { .request = VHU_GET_QUEUE_NUM, .kind = VHU_P_NONE }, r;
	cr_assert_eq(tfe_call(&f, &m, NULL, 0, &r), 0);
	cr_assert_eq(r.u.u64, 2 * PAIRS, "GET_QUEUE_NUM: the data queues, no control queue");
	uint8_t pairs[2];
	cr_assert_eq(tfe_get_config(&f, 8, pairs, 2), 0);
	cr_assert_eq(get_le16(pairs), PAIRS, "max_virtqueue_pairs");
	for (unsigned int q = 0; q < 2 * PAIRS; q++)
		cr_assert_eq(tfe_setup_queue(&f, q, 64), 0);

	/* Pair 1, then pair 0, then pair 1 again: the flow follows its sender. */
	round_trip(&f, &t, 1, 0x10);
	round_trip(&f, &t, 0, 0x20);
	round_trip(&f, &t, 1, 0x30);
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, 0, 100, &id, &len), -ETIMEDOUT, "nothing else on pair 0");
	cr_assert_eq(tfe_wait_used(&f, 2, 100, &id, &len), -ETIMEDOUT, "nothing else on pair 1");
	finish_clean(&f, &t);
}

/* A pair whose rings stop has its tap queue detached: the flow it carried
 * comes in on pair 0, not into a queue nobody reads. */
Test(net_mq, stopped_pair_gives_its_flows_to_pair_0)
{
	struct tfe f;
	struct tap t;
	start_mq(&f, &t);
	for (unsigned int q = 0; q < 2 * PAIRS; q++)
		cr_assert_eq(tfe_setup_queue(&f, q, 64), 0);
	round_trip(&f, &t, 1, 0x60);
	uint16_t base;
	cr_assert_eq(tfe_stop_queue(&f, 2, &base), 0);
	cr_assert_eq(tfe_stop_queue(&f, 3, &base), 0);
	uint64_t buf = tfe_alloc(&f, 2048);
	int head = post_rx_q(&f, 0, buf, 2048);
	host_send(&t, 100, 0x70);
	wait_used(&f, 0, head, NET_HDR_SIZE + 100);
	finish_clean(&f, &t);
}

/* Run by hand, `--tap NAME --num-queues 4` opens two queues of NAME itself
 * (creating it as a multi-queue tap): what QEMU's queues=2 drives. */
Test(net_mq, tap_by_name_with_two_pairs)
{
	struct tfe f;
	struct tap t;
	/* Fails early where tap is unavailable, like the other tests. */
	close(tap_create(&t));
	tap_name(&t);
	const char *argv[] = { net_bin(), "--tap", t.name, "--num-queues", "4",
			       "--mac", "52:54:00:12:34:56", NULL };
	cr_assert_eq(tfe_start(&f, argv, MEM), 0);
	cr_assert_eq(tfe_negotiate(&f, BIT_ULL(VIRTIO_NET_F_MQ)), 0);
	tap_bring_up(&t);
	struct vhu_msg m = { .request = VHU_GET_QUEUE_NUM, .kind = VHU_P_NONE }, r;
	cr_assert_eq(tfe_call(&f, &m, NULL, 0, &r), 0);
	cr_assert_eq(r.u.u64, 2 * PAIRS);
	for (unsigned int q = 0; q < 2 * PAIRS; q++)
		cr_assert_eq(tfe_setup_queue(&f, q, 64), 0);
	round_trip(&f, &t, 1, 0x40);
	round_trip(&f, &t, 0, 0x50);
	finish_clean(&f, &t);
}

Test(net_mq, options_are_checked)
{
	const char *sp = "--socket-path /tmp/cellvm-net-unused.sock --tap x";
	char args[256];
	static const char *const bad[] = { "0", "1", "3", "18", "4x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(args, sizeof(args), "%s --num-queues %s", sp, bad[i]);
		cr_assert_eq(run_status(args), 1, "--num-queues %s", bad[i]);
	}
	/* Two pairs want two tap fds. */
	cr_assert_eq(run_status("--socket-path /tmp/cellvm-net-unused.sock --tap-fd 0 "
				"--num-queues 4 </dev/null"), 1);
	cr_assert_eq(run_status("--socket-path /tmp/cellvm-net-unused.sock --tap-fd 0,0 "
				"</dev/null"), 1, "one fd twice");
}
