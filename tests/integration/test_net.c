/* cellvm-net driven by the test frontend across a process boundary, over a
 * tap device the test creates and watches with an AF_PACKET socket. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "net_hdr.h"
#include "net_fixture.h"
#include "tfe.h"

#define MEM (16u << 20)
#define RXQ 0
#define TXQ 1

static void start_with(struct tfe *f, const char *const *argv, uint64_t features, uint16_t num)
{
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	cr_assert_eq(tfe_negotiate(f, features), 0);
	cr_assert_eq(tfe_setup_queue(f, RXQ, num), 0);
	cr_assert_eq(tfe_setup_queue(f, TXQ, num), 0);
}

/* Starts the backend on a fresh tap passed by fd, with extra options
 * (NULL-terminated, or NULL). */
static void start_extra(struct tfe *f, struct tap *t, uint64_t features, uint16_t num,
			const char *const *extra)
{
	char fdarg[16];
	int fd = tap_create(t);
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	const char *argv[12] = { net_bin(), "--tap-fd", fdarg, "--mac", "52:54:00:12:34:56" };
	for (size_t i = 0, n = 5; extra && extra[i]; i++)
		argv[n++] = extra[i];
	cr_assert_eq(tfe_start(f, argv, MEM), 0);
	/* The backend holds the tap now: the interface goes when it exits. */
	close(fd);
	tap_bring_up(t);
	cr_assert_eq(tfe_negotiate(f, features), 0);
	cr_assert_eq(tfe_setup_queue(f, RXQ, num), 0);
	cr_assert_eq(tfe_setup_queue(f, TXQ, num), 0);
}

static void start(struct tfe *f, struct tap *t, uint64_t features, uint16_t num)
{
	start_extra(f, t, features, num, NULL);
}

static uint16_t le16_at(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}




static int post_rx(struct tfe *f, uint64_t gpa, uint32_t len)
{
	return post_rx_q(f, RXQ, gpa, len);
}

static int post_tx(struct tfe *f, const uint8_t hdr[NET_HDR_SIZE], const uint8_t *frame,
		   uint32_t len)
{
	return post_tx_q(f, TXQ, hdr, frame, len);
}

Test(net, host_frame_reaches_guest)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, 0, 64);
	uint64_t buf = tfe_alloc(&f, 2048);
	int head = post_rx(&f, buf, 2048);
	host_send(&t, 100, 1);
	wait_used(&f, RXQ, head, NET_HDR_SIZE + 100);
	const uint8_t *p = tfe_ptr(&f, buf);
	cr_assert_eq(p[0], 0, "flags");
	cr_assert_eq(p[1], VIRTIO_NET_HDR_GSO_NONE);
	cr_assert_eq(le16_at(p + 10), 1, "num_buffers");
	uint8_t want[100];
	make_frame(want, sizeof(want), guest_mac, peer_mac, 1);
	cr_assert_arr_eq(p + NET_HDR_SIZE, want, sizeof(want));
	finish_clean(&f, &t);
}

Test(net, guest_frame_reaches_host)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, 0, 64);
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, frame[60], got[2048];
	make_frame(frame, sizeof(frame), peer_mac, guest_mac, 7);
	int head = post_tx(&f, hdr, frame, sizeof(frame));
	wait_used(&f, TXQ, head, 0);
	ssize_t n = host_recv(&t, got, sizeof(got), 5000);
	cr_assert_eq(n, (ssize_t)sizeof(frame), "got %zd bytes", n);
	cr_assert_arr_eq(got, frame, sizeof(frame), "the header went to tap as its vnet hdr");
	finish_clean(&f, &t);
}

Test(net, bad_transmit_chains_are_dropped_not_sent)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_CSUM), 64);
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, frame[60], got[2048];

	/* A TSO request that was not negotiated. */
	make_frame(frame, sizeof(frame), peer_mac, guest_mac, 0xbd);
	hdr[0] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr[1] = VIRTIO_NET_HDR_GSO_TCPV4;
	hdr[4] = 100;
	hdr[6] = 20;
	hdr[8] = 4;
	wait_used(&f, TXQ, post_tx(&f, hdr, frame, sizeof(frame)), 0);
	/* Shorter than a header. */
	uint64_t gpa = tfe_alloc(&f, 8);
	struct tfe_buf b = { gpa, 8, false };
	wait_used(&f, TXQ, tfe_post(&f, TXQ, &b, 1, false), 0);
	/* A writable part in a transmit chain. */
	memset(hdr, 0, sizeof(hdr));
	gpa = tfe_alloc(&f, NET_HDR_SIZE + sizeof(frame) + 16);
	memcpy(tfe_ptr(&f, gpa + NET_HDR_SIZE), frame, sizeof(frame));
	struct tfe_buf wb[2] = { { gpa, NET_HDR_SIZE + sizeof(frame), false },
				 { gpa + NET_HDR_SIZE + sizeof(frame), 16, true } };
	wait_used(&f, TXQ, tfe_post(&f, TXQ, wb, 2, false), 0);

	/* Then a good one: the first the host sees. */
	make_frame(frame, sizeof(frame), peer_mac, guest_mac, 0x60);
	wait_used(&f, TXQ, post_tx(&f, hdr, frame, sizeof(frame)), 0);
	ssize_t n = host_recv(&t, got, sizeof(got), 5000);
	cr_assert_eq(n, (ssize_t)sizeof(frame));
	cr_assert_arr_eq(got, frame, sizeof(frame));
	cr_assert_eq(host_recv(&t, got, sizeof(got), 200), -ETIMEDOUT);
	cr_assert(tfe_alive(&f));
	finish_clean(&f, &t);
}

Test(net, checksum_offload_frame_is_accepted)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_CSUM), 64);
	uint8_t hdr[NET_HDR_SIZE] = { VIRTIO_NET_HDR_F_NEEDS_CSUM }, frame[80], got[2048];
	make_frame(frame, sizeof(frame), peer_mac, guest_mac, 3);
	hdr[6] = 20; /* csum_start */
	hdr[8] = 6;  /* csum_offset */
	wait_used(&f, TXQ, post_tx(&f, hdr, frame, sizeof(frame)), 0);
	ssize_t n = host_recv(&t, got, sizeof(got), 5000);
	cr_assert_eq(n, (ssize_t)sizeof(frame));
	finish_clean(&f, &t);
}

Test(net, mergeable_buffers_take_a_large_frame)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), 64);
	enum { BUF = 1024, NBUF = 8, FRAME = 4000 };
	uint64_t gpa[NBUF];
	int heads[NBUF];
	for (int i = 0; i < NBUF; i++) {
		gpa[i] = tfe_alloc(&f, BUF);
		heads[i] = post_rx(&f, gpa[i], BUF);
	}
	host_send(&t, FRAME, 9);
	const uint32_t total = NET_HDR_SIZE + FRAME, used = (total + BUF - 1) / BUF;
	uint8_t *got = malloc(total);
	uint32_t off = 0;
	for (uint32_t i = 0; i < used; i++) {
		uint32_t want = total - off < BUF ? total - off : BUF;
		wait_used(&f, RXQ, heads[i], want);
		memcpy(got + off, tfe_ptr(&f, gpa[i]), want);
		off += want;
	}
	cr_assert_eq(le16_at(got + 10), used, "num_buffers");
	uint8_t *want = malloc(FRAME);
	make_frame(want, FRAME, guest_mac, peer_mac, 9);
	cr_assert_arr_eq(got + NET_HDR_SIZE, want, FRAME);
	free(want);
	free(got);
	/* The rest stay posted for the next frame. */
	host_send(&t, 60, 10);
	wait_used(&f, RXQ, heads[used], NET_HDR_SIZE + 60);
	cr_assert_eq(le16_at(tfe_ptr(&f, gpa[used]) + 10), 1);
	finish_clean(&f, &t);
}

Test(net, mergeable_frame_waits_for_enough_buffers)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), 64);
	uint64_t a = tfe_alloc(&f, 1024), b = tfe_alloc(&f, 2048);
	int ha = post_rx(&f, a, 1024);
	host_send(&t, 2000, 4);
	/* One buffer is not enough: none is used until the second arrives. */
	uint32_t id, len;
	cr_assert_eq(tfe_wait_used(&f, RXQ, 300, &id, &len), -ETIMEDOUT);
	int hb = post_rx(&f, b, 2048);
	wait_used(&f, RXQ, ha, 1024);
	wait_used(&f, RXQ, hb, NET_HDR_SIZE + 2000 - 1024);
	cr_assert_eq(le16_at((uint8_t *)tfe_ptr(&f, a) + 10), 2);
	finish_clean(&f, &t);
}

Test(net, without_mergeable_buffers_a_frame_too_large_is_dropped)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, 0, 64);
	uint64_t buf = tfe_alloc(&f, 256);
	int head = post_rx(&f, buf, 256);
	host_send(&t, 1000, 5);
	host_send(&t, 100, 6);
	/* The buffer is kept for the frame that fits. */
	wait_used(&f, RXQ, head, NET_HDR_SIZE + 100);
	uint8_t want[100];
	make_frame(want, sizeof(want), guest_mac, peer_mac, 6);
	cr_assert_arr_eq((uint8_t *)tfe_ptr(&f, buf) + NET_HDR_SIZE, want, sizeof(want));
	cr_assert(tfe_alive(&f));
	finish_clean(&f, &t);
}

Test(net, receive_buffer_shorter_than_a_header_is_skipped)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), 64);
	uint64_t small = tfe_alloc(&f, 16), big = tfe_alloc(&f, 2048);
	int hs = post_rx(&f, small, NET_HDR_SIZE - 1);
	int hb = post_rx(&f, big, 2048);
	host_send(&t, 60, 3);
	wait_used(&f, RXQ, hs, 0);
	wait_used(&f, RXQ, hb, NET_HDR_SIZE + 60);
	cr_assert_eq(le16_at((uint8_t *)tfe_ptr(&f, big) + 10), 1);
	finish_clean(&f, &t);
}

Test(net, mergeable_frame_larger_than_the_whole_ring_is_dropped)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), 4);
	uint64_t gpa[4];
	int heads[4];
	for (int i = 0; i < 4; i++) {
		gpa[i] = tfe_alloc(&f, 64);
		heads[i] = post_rx(&f, gpa[i], 64);
	}
	/* Four 64-byte buffers are all the ring can ever offer. */
	host_send(&t, 1000, 1);
	host_send(&t, 40, 2);
	wait_used(&f, RXQ, heads[0], NET_HDR_SIZE + 40);
	uint8_t want[40];
	make_frame(want, sizeof(want), guest_mac, peer_mac, 2);
	cr_assert_arr_eq((uint8_t *)tfe_ptr(&f, gpa[0]) + NET_HDR_SIZE, want, sizeof(want));
	finish_clean(&f, &t);
}

Test(net, frame_waits_for_a_buffer)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_F_INDIRECT_DESC), 64);
	host_send(&t, 200, 8);
	usleep(200 * 1000);
	uint64_t buf = tfe_alloc(&f, 2048);
	/* Split, in an indirect table, the header cut in two. */
	struct tfe_buf b[2] = { { buf, 7, true }, { buf + 7, 2041, true } };
	int head = tfe_post(&f, RXQ, b, 2, true);
	wait_used(&f, RXQ, head, NET_HDR_SIZE + 200);
	uint8_t want[200];
	make_frame(want, sizeof(want), guest_mac, peer_mac, 8);
	cr_assert_arr_eq((uint8_t *)tfe_ptr(&f, buf) + NET_HDR_SIZE, want, sizeof(want));
	finish_clean(&f, &t);
}

Test(net, many_frames_both_ways)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) | BIT_ULL(VIRTIO_F_EVENT_IDX), 256);
	enum { N = 100 };
	uint64_t gpa[N];
	int heads[N];
	for (int i = 0; i < N; i++) {
		gpa[i] = tfe_alloc(&f, 2048);
		heads[i] = post_rx(&f, gpa[i], 2048);
	}
	for (int i = 0; i < N; i++)
		host_send(&t, 60 + (size_t)i, (uint8_t)i);
	for (int i = 0; i < N; i++) {
		wait_used(&f, RXQ, heads[i], NET_HDR_SIZE + 60 + (uint32_t)i);
		cr_assert_eq(((uint8_t *)tfe_ptr(&f, gpa[i]))[NET_HDR_SIZE + 14],
			     (uint8_t)(14 * 13 + i), "frame %d out of order", i);
	}
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, frame[200], got[2048];
	for (int i = 0; i < 50; i++) {
		make_frame(frame, 60 + (size_t)i, peer_mac, guest_mac, (uint8_t)i);
		post_tx(&f, hdr, frame, 60 + (uint32_t)i);
	}
	for (int i = 0; i < 50; i++) {
		ssize_t n = host_recv(&t, got, sizeof(got), 5000);
		cr_assert_eq(n, 60 + i, "frame %d", i);
		cr_assert_eq(got[14], (uint8_t)(14 * 13 + i));
	}
	finish_clean(&f, &t);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 10 packets a second out, 3 in (buckets of 1, refill 100 and 300 ms): 8
 * frames for the guest take 2.1 s, every one of them in order, and
 * meanwhile, with receiving held back, transmitting and the socket go on;
 * 8 frames sent at once take 0.7 s to reach the host, all in order. */
Test(net, rate_limits_slow_frames_down_and_drop_none)
{
	struct tfe f;
	struct tap t;
	const char *extra[] = { "--tx-rate-limit", "ops.size=1,ops.refill_time=100",
				"--rx-rate-limit", "ops.size=1,ops.refill_time=300", NULL };
	start_extra(&f, &t, 0, 64, extra);
	enum { N = 8 };
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, frame[100], got[2048];
	uint64_t gpa[N];
	int heads[N];
	for (int i = 0; i < N; i++) {
		gpa[i] = tfe_alloc(&f, 2048);
		heads[i] = post_rx(&f, gpa[i], 2048);
	}
	double t0 = now_s();
	for (int i = 0; i < N; i++)
		host_send(&t, 60 + (size_t)i, (uint8_t)i);
	wait_used(&f, RXQ, heads[0], NET_HDR_SIZE + 60);
	/* Receiving is held back now; the other way is not, nor the socket. */
	double s0 = now_s();
	make_frame(frame, 99, peer_mac, guest_mac, 99);
	post_tx(&f, hdr, frame, 99);
	cr_assert_eq(host_recv(&t, got, sizeof(got), 2000), 99);
	uint8_t cfg[6];
	cr_assert_eq(tfe_get_config(&f, 0, cfg, sizeof(cfg)), 0);
	double other = now_s() - s0;
	cr_expect_lt(other, 0.2, "a frame out and GET_CONFIG took %.3f s", other);
	for (int i = 1; i < N; i++) {
		wait_used(&f, RXQ, heads[i], NET_HDR_SIZE + 60 + (uint32_t)i);
		cr_assert_eq(((uint8_t *)tfe_ptr(&f, gpa[i]))[NET_HDR_SIZE + 14],
			     (uint8_t)(14 * 13 + i), "frame %d out of order", i);
	}
	double rx = now_s() - t0;
	cr_expect_geq(rx, 1.6, "%d frames at 3 a second took %.3f s", N, rx);

	/* 8 at once: the first goes, the others one each 100 ms. */
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		make_frame(frame, 60 + (size_t)i, peer_mac, guest_mac, (uint8_t)i);
		post_tx(&f, hdr, frame, 60 + (uint32_t)i);
	}
	for (int i = 0; i < N; i++) {
		ssize_t n = host_recv(&t, got, sizeof(got), 2000);
		cr_assert_eq(n, 60 + i, "frame %d", i);
		cr_assert_eq(got[14], (uint8_t)(14 * 13 + i));
	}
	double tx = now_s() - t0;
	cr_expect_geq(tx, 0.55, "%d frames at 10 a second took %.3f s", N, tx);
	cr_log_info("rx %.3f s, the other way meanwhile %.3f s, tx %.3f s", rx, other, tx);
	finish_clean(&f, &t);
}

/* Receive reads tap straight into the buffers popped for the size it
 * expects (the last packets'): a larger packet spills over and is placed
 * from the bounce buffer, a smaller one gives back the buffers it does not
 * need. Each lands whole, in order, with its num_buffers. */
Test(net, mergeable_frames_of_changing_sizes_land_whole)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MRG_RXBUF) | BIT_ULL(VIRTIO_F_EVENT_IDX), 128);
	enum { BUF = 1024, NBUF = 100 };
	static const size_t sizes[] = { 60, 4000, 60, 4000, 8000, 100, 3000, 1012, 1013, 60 };
	enum { NF = sizeof(sizes) / sizeof(sizes[0]) };
	uint64_t gpa[NBUF];
	int heads[NBUF];
	for (int i = 0; i < NBUF; i++) {
		gpa[i] = tfe_alloc(&f, BUF);
		heads[i] = post_rx(&f, gpa[i], BUF);
	}
	for (int i = 0; i < NF; i++)
		host_send(&t, sizes[i], (uint8_t)(0x40 + i));
	uint8_t *got = malloc(NET_HDR_SIZE + 8000), *want = malloc(8000);
	int b = 0;
	for (int i = 0; i < NF; i++) {
		const uint32_t total = NET_HDR_SIZE + (uint32_t)sizes[i];
		const uint32_t used = (total + BUF - 1) / BUF;
		for (uint32_t off = 0, j = 0; j < used; j++, b++) {
			uint32_t len = total - off < BUF ? total - off : BUF;
			wait_used(&f, RXQ, heads[b], len);
			memcpy(got + off, tfe_ptr(&f, gpa[b]), len);
			off += len;
		}
		cr_assert_eq(le16_at(got + 10), used, "frame %d: num_buffers", i);
		make_frame(want, sizes[i], guest_mac, peer_mac, (uint8_t)(0x40 + i));
		cr_assert_arr_eq(got + NET_HDR_SIZE, want, sizes[i], "frame %d", i);
	}
	free(want);
	free(got);
	finish_clean(&f, &t);
}

/* A receive chain of 1024 parts is more than one readv takes beside the
 * bounce buffer: its packet goes the bounce way and still lands whole. */
Test(net, receive_chain_of_1024_parts_is_filled)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_F_INDIRECT_DESC) | BIT_ULL(VIRTIO_NET_F_MRG_RXBUF), 1024);
	enum { PARTS = 1024, PART = 64, STRIDE = 128, FRAME = 1000 };
	static struct tfe_buf b[PARTS];
	uint64_t gpa = tfe_alloc(&f, (uint64_t)PARTS * STRIDE);
	for (int i = 0; i < PARTS; i++)
		b[i] = (struct tfe_buf){ gpa + (uint64_t)i * STRIDE, PART, true };
	int head = tfe_post(&f, RXQ, b, PARTS, true);
	cr_assert_geq(head, 0);
	host_send(&t, FRAME, 0x2a);
	wait_used(&f, RXQ, head, NET_HDR_SIZE + FRAME);
	uint8_t got[NET_HDR_SIZE + FRAME], want[FRAME];
	for (uint32_t off = 0; off < sizeof(got); off += PART) {
		uint32_t n = sizeof(got) - off < PART ? (uint32_t)sizeof(got) - off : PART;
		memcpy(got + off, tfe_ptr(&f, gpa + (uint64_t)off / PART * STRIDE), n);
	}
	cr_assert_eq(le16_at(got + 10), 1, "num_buffers");
	make_frame(want, FRAME, guest_mac, peer_mac, 0x2a);
	cr_assert_arr_eq(got + NET_HDR_SIZE, want, FRAME);
	finish_clean(&f, &t);
}

/* n frames of len bytes published with a single kick, more than one round
 * sends (NET_TX_BUDGET frames, NET_TX_BUDGET_BYTES): the device comes back
 * for the rest by itself, and all go out in order. */
static void burst_goes_out_whole(unsigned int n, size_t len)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_F_EVENT_IDX), 1024);
	int big = 16 << 20;
	/* The burst must not overflow the watching socket. */
	cr_assert_eq(setsockopt(t.pkt, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)), 0);
	uint8_t *frame = malloc(len), *got = malloc(len + 1);
	int *heads = calloc(n, sizeof(*heads));
	for (unsigned int i = 0; i < n; i++) {
		make_frame(frame, len, peer_mac, guest_mac, (uint8_t)i);
		uint64_t gpa = tfe_alloc(&f, NET_HDR_SIZE + len);
		memcpy(tfe_ptr(&f, gpa + NET_HDR_SIZE), frame, len);
		struct tfe_buf bb = { gpa, NET_HDR_SIZE + (uint32_t)len, false };
		heads[i] = tfe_post_nokick(&f, TXQ, &bb, 1, false);
		cr_assert_geq(heads[i], 0);
	}
	tfe_kick(&f, TXQ);
	for (unsigned int i = 0; i < n; i++)
		wait_used(&f, TXQ, heads[i], 0);
	for (unsigned int i = 0; i < n; i++) {
		ssize_t got_len = host_recv(&t, got, len + 1, 5000);
		cr_assert_eq(got_len, (ssize_t)len, "frame %u", i);
		cr_assert_eq(got[14], (uint8_t)(14 * 13 + i), "frame %u out of order", i);
	}
	free(heads);
	free(got);
	free(frame);
	finish_clean(&f, &t);
}

Test(net, long_transmit_burst_goes_out_whole)
{
	burst_goes_out_whole(600, 64);
}

Test(net, transmit_burst_of_large_frames_goes_out_whole)
{
	/* 9000-byte frames (the tap's MTU here): 58 to a round. */
	burst_goes_out_whole(150, 9000);
}

/* tx-checksumming and TSO as the kernel reports them for the interface. */
static bool ethtool_get(const char *name, uint32_t cmd)
{
	struct ethtool_value ev = { .cmd = cmd };
	struct ifreq ifr = { .ifr_data = (char *)&ev };
	ifreq_ioctl(name, SIOCETHTOOL, &ifr);
	return ev.data;
}

Test(net, offloads_follow_the_driver)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_GUEST_CSUM) | BIT_ULL(VIRTIO_NET_F_GUEST_TSO4) |
		     BIT_ULL(VIRTIO_NET_F_GUEST_TSO6) | BIT_ULL(VIRTIO_NET_F_GUEST_ECN), 64);
	cr_assert(ethtool_get(t.name, ETHTOOL_GTXCSUM));
	cr_assert(ethtool_get(t.name, ETHTOOL_GTSO));
	finish_clean(&f, &t);

	start(&f, &t, 0, 64);
	cr_assert_not(ethtool_get(t.name, ETHTOOL_GTXCSUM));
	cr_assert_not(ethtool_get(t.name, ETHTOOL_GTSO));
	finish_clean(&f, &t);
}

Test(net, features_breaking_dependencies_are_refused)
{
	struct tfe f;
	char fdarg[16];
	struct tap t;
	int fd = tap_create(&t);
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	const char *argv[] = { net_bin(), "--tap-fd", fdarg, NULL };
	cr_assert_eq(tfe_start(&f, argv, MEM), 0);
	close(fd);
	cr_assert_eq(tfe_negotiate(&f, BIT_ULL(VIRTIO_NET_F_GUEST_TSO4)), -EIO);
	cr_assert(tfe_alive(&f));
	int status = tfe_finish(&f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x", status);
}

Test(net, config)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, BIT_ULL(VIRTIO_NET_F_MAC) | BIT_ULL(VIRTIO_NET_F_STATUS), 64);
	uint8_t cfg[NET_CONFIG_SIZE];
	cr_assert_eq(tfe_get_config(&f, 0, cfg, sizeof(cfg)), 0);
	cr_assert_arr_eq(cfg, guest_mac, 6);
	cr_assert_eq(le16_at(cfg + 6), VIRTIO_NET_S_LINK_UP);
	cr_assert_eq(le16_at(cfg + 8), 1);
	uint8_t st[2];
	cr_assert_eq(tfe_get_config(&f, 6, st, 2), 0);
	cr_assert_eq(le16_at(st), VIRTIO_NET_S_LINK_UP);
	cr_assert_neq(tfe_get_config(&f, NET_CONFIG_SIZE - 1, st, 2), 0);
	cr_assert(tfe_alive(&f));
	finish_clean(&f, &t);
}

Test(net, random_mac_is_local_unicast)
{
	struct tfe f;
	char fdarg[16];
	struct tap t;
	int fd = tap_create(&t);
	snprintf(fdarg, sizeof(fdarg), "%d", fd);
	const char *argv[] = { net_bin(), "--tap-fd", fdarg, NULL };
	start_with(&f, argv, 0, 16);
	close(fd);
	uint8_t mac[6];
	cr_assert_eq(tfe_get_config(&f, 0, mac, 6), 0);
	cr_assert_eq(mac[0] & 3, 2, "mac[0] = 0x%02x", mac[0]);
	int status = tfe_finish(&f);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(net, hostile_rings_break_only_their_ring)
{
	struct tfe f;
	struct tap t;
	start(&f, &t, 0, 16);
	/* The receive ring is read when a frame comes for it. */
	tfe_avail_publish(&f, RXQ, 16, 1);
	host_send(&t, 60, 1);
	cr_assert(tfe_wait_err(&f, RXQ, 5000), "head out of range");
	uint64_t gpa = tfe_alloc(&f, 64);
	*tfe_desc(&f, TXQ, 0) = (struct virtq_desc){ gpa, 32, VIRTQ_DESC_F_NEXT, 1 };
	*tfe_desc(&f, TXQ, 1) = (struct virtq_desc){ gpa + 32, 32, VIRTQ_DESC_F_NEXT, 0 };
	tfe_avail_publish(&f, TXQ, 0, 1);
	cr_assert(tfe_wait_err(&f, TXQ, 5000), "descriptor loop");
	/* More frames for a broken ring do not bother the backend. */
	host_send(&t, 60, 2);
	usleep(100 * 1000);
	cr_assert(tfe_alive(&f));
	finish_clean(&f, &t);
}

Test(net, tap_by_name)
{
	struct tfe f;
	struct tap t;
	/* Fails early where tap is unavailable, like the other tests. */
	close(tap_create(&t));
	tap_name(&t);
	const char *argv[] = { net_bin(), "--tap", t.name, NULL };
	start_with(&f, argv, 0, 64);
	/* The backend created the interface: it exists once negotiation ran. */
	tap_bring_up(&t);
	uint8_t hdr[NET_HDR_SIZE] = { 0 }, frame[64], got[2048];
	make_frame(frame, sizeof(frame), peer_mac, guest_mac, 2);
	wait_used(&f, TXQ, post_tx(&f, hdr, frame, sizeof(frame)), 0);
	cr_assert_eq(host_recv(&t, got, sizeof(got), 5000), (ssize_t)sizeof(frame));
	cr_assert_arr_eq(got, frame, sizeof(frame));
	finish_clean(&f, &t);
	cr_assert_eq(if_nametoindex(t.name), 0u, "the backend's tap goes with it");
}

Test(net, options_are_checked)
{
	const char *sp = "--socket-path /tmp/cellvm-net-unused.sock";
	char args[256];
	cr_assert_eq(run_status(sp), 1, "no tap");
	snprintf(args, sizeof(args), "%s --tap x --tap-fd 0", sp);
	cr_assert_eq(run_status(args), 1, "two taps");
	snprintf(args, sizeof(args), "%s --tap-fd 0 </dev/null", sp);
	cr_assert_eq(run_status(args), 1, "not a tap");
	snprintf(args, sizeof(args), "%s --tap-fd 0 --mac 01:00:5e:00:00:01", sp);
	cr_assert_eq(run_status(args), 1, "multicast MAC");
	snprintf(args, sizeof(args), "%s --tap 0123456789abcdefg", sp);
	cr_assert_eq(run_status(args), 1, "name too long");
	cr_assert_eq(run_status("--print-capabilities >/dev/null"), 0);
}
