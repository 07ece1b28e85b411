/* Firecracker's hybrid vsock handshake on the host side: a host program
 * connects to the device's Unix socket, writes "CONNECT <port>\n" and
 * reads "OK <host port>\n" once the guest accepted, then has a byte
 * stream to the guest's listener on <port>. cellvm-vsock reads the
 * CONNECT line and writes the OK line; cellvmd (HostVsockConnect) writes
 * the one and reads the other. Pure: bytes in, bytes out.
 *
 * Both lines are a word, a space, a decimal port (1 to 10 digits, no sign,
 * no leading zero but "0", at most 2^32 - 1) and "\n". A parser returns
 * the line's length (with its '\n') and the port in *port; 0 if more
 * bytes are needed (no '\n' yet, and the bytes so far can still become a
 * line); -EINVAL as soon as they cannot. Bytes past the line are the
 * stream's first data. */
#ifndef CELLVM_VSOCK_HYBRID_H
#define CELLVM_VSOCK_HYBRID_H

#include <stddef.h>
#include <stdint.h>

/* The longest line: "CONNECT 4294967295\n". */
#define VSOCK_CONNECT_MAX 19u
/* "OK 4294967295\n" and a NUL. */
#define VSOCK_OK_MAX 15u

/* What a host client sent: "CONNECT <port>\n". */
int vsock_connect_parse(const uint8_t *buf, size_t n, uint32_t *port);
/* What the device answered: "OK <port>\n". */
int vsock_ok_parse(const uint8_t *buf, size_t n, uint32_t *port);

/* Write the lines into out (NUL-terminated); return their length. */
size_t vsock_connect_format(uint32_t port, char out[VSOCK_CONNECT_MAX + 1]);
size_t vsock_ok_format(uint32_t port, char out[VSOCK_OK_MAX]);

#endif
