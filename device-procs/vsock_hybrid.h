/* Firecracker's hybrid vsock handshake on the host side: a host program
 * connects to the device's Unix socket, writes "CONNECT <port>\n" and
 * reads "OK <host port>\n" once the guest accepted, then has a byte
 * stream to the guest's listener on <port>. Pure: bytes in, bytes out. */
#ifndef CELLVM_VSOCK_HYBRID_H
#define CELLVM_VSOCK_HYBRID_H

#include <stddef.h>
#include <stdint.h>

/* The longest line: "CONNECT 4294967295\n". */
#define VSOCK_CONNECT_MAX 19u
/* "OK 4294967295\n" and a NUL. */
#define VSOCK_OK_MAX 15u

/* Parses the first n bytes of what a host client sent: the line's length
 * (with its '\n', <= VSOCK_CONNECT_MAX) and the port in *port; 0 if more
 * bytes are needed (no '\n' yet in fewer than VSOCK_CONNECT_MAX bytes);
 * -EINVAL if the bytes cannot become a line "CONNECT " + a decimal port
 * (1 to 10 digits, no sign, no leading zero but "0", at most 2^32 - 1)
 * + "\n". Bytes past the line are the client's first data. */
int vsock_connect_parse(const uint8_t *buf, size_t n, uint32_t *port);

/* Writes "OK <port>\n" into out; returns its length. */
size_t vsock_ok_format(uint32_t port, char out[VSOCK_OK_MAX]);

#endif
