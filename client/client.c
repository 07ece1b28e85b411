#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "lifecycle.h"
#include "rpc_conn.h"
#include "unix_sock.h"

int client_connect(const char *path, char *err, size_t errlen)
{
	int fd = unix_connect(path, 0);
	if (fd == -ENAMETOOLONG)
		snprintf(err, errlen, "%s: path too long", path);
	else if (fd < 0)
		snprintf(err, errlen, "%s: %s (is cellvmd running?)", path, strerror(-fd));
	return fd;
}

int client_send(int sock, uint32_t id, enum rpc_method m, const char *params, const int *fds,
		size_t nfds, char *err, size_t errlen)
{
	static uint8_t frame[4 + RPC_MAX_BODY];
	int len = rpc_encode_request(id, m, params, frame, sizeof(frame));
	if (len < 0) {
		snprintf(err, errlen, "%s: %s", rpc_method_name(m),
			 len == -EMSGSIZE ? "the request is larger than 64 KiB"
					  : "the parameters are not one JSON object");
		return len;
	}
	int r = rpc_send_frame(sock, frame, (size_t)len, fds, nfds);
	if (r < 0)
		snprintf(err, errlen, "sending %s: %s", rpc_method_name(m), strerror(-r));
	return r;
}

int client_recv(int sock, struct rpc_reply *reply, int *fd, char *err, size_t errlen)
{
	char *body;
	size_t len, nfds;
	int fds[1];
	int r = rpc_recv_frame(sock, &body, &len, fds, 1, &nfds);
	if (r < 0) {
		snprintf(err, errlen, "%s",
			 r == -ECONNRESET ? "the controller closed the connection"
					  : "reading the controller's reply failed");
		if (r != -ECONNRESET)
			snprintf(err + strlen(err), errlen - strlen(err), ": %s", strerror(-r));
		return r;
	}
	char why[256];
	r = rpc_parse_reply(body, len, reply, why, sizeof(why));
	free(body);
	if (r < 0) {
		snprintf(err, errlen, "the controller's reply is malformed: %s", why);
		if (nfds)
			close(fds[0]);
		return r;
	}
	*fd = nfds ? fds[0] : -1;
	return 0;
}

int client_call(int sock, uint32_t id, enum rpc_method m, const char *params, const int *fds,
		size_t nfds, struct rpc_reply *reply, int *fd, char *err, size_t errlen)
{
	int r = client_send(sock, id, m, params, fds, nfds, err, errlen);
	if (r < 0)
		return r;
	if ((r = client_recv(sock, reply, fd, err, errlen)) < 0)
		return r;
	if (reply->epitaph || reply->id != id) {
		snprintf(err, errlen, "%s: the controller answered something else",
			 rpc_method_name(m));
		rpc_reply_free(reply);
		if (*fd >= 0)
			close(*fd);
		return -EPROTO;
	}
	return 0;
}

int client_bind(int sock, char *err, size_t errlen)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		int e = errno;
		snprintf(err, errlen, "socketpair: %s", strerror(e));
		return -e;
	}
	/* Bind has no reply: a refused Bind shows as the channel closing. */
	int r = client_send(sock, 0, RPC_BIND, NULL, &sv[1], 1, err, errlen);
	close(sv[1]);
	if (r < 0) {
		close(sv[0]);
		return r;
	}
	return sv[0];
}

int client_open_stream(int sock, int console, int *code, char *err, size_t errlen)
{
	*code = 0;
	int guest = client_bind(sock, err, errlen);
	if (guest < 0)
		return guest;
	struct rpc_reply reply = { 0 };
	int fd = -1;
	int r = client_call(guest, 1, console ? RPC_GET_CONSOLE : RPC_GET_SERIAL, NULL, NULL, 0,
			    &reply, &fd, err, errlen);
	close(guest);
	if (r == -ECONNRESET)
		snprintf(err, errlen, "no VM to attach to: Create one first");
	if (r < 0)
		return r;
	if (!reply.ok) {
		*code = reply.code;
		snprintf(err, errlen, "%s: %s", lifecycle_error_name(reply.code), reply.message);
		rpc_reply_free(&reply);
		return -ENODEV;
	}
	rpc_reply_free(&reply);
	if (fd < 0) {
		snprintf(err, errlen, "the controller sent no stream");
		return -EPROTO;
	}
	return fd;
}
