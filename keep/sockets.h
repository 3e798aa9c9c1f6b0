/* The sockets assay-keep hands to a module: ones it listens on itself
 * (--listen) and ones systemd passed (socket activation). The module
 * finds them after its preopened directories and uses them with WASI's
 * sock_accept, sock_recv, sock_send and sock_shutdown. */
#ifndef ASSAY_KEEP_SOCKETS_H
#define ASSAY_KEEP_SOCKETS_H

#include <stddef.h>

/* A listening TCP socket on spec, "HOST:PORT" or "[IPV6]:PORT" (HOST a
 * numeric address or a name; PORT 1-65535). The fd, or -1 with err. */
int keep_listen(const char *spec, char *err, size_t errlen);

/* systemd socket activation: when LISTEN_PID is this process, the
 * LISTEN_FDS sockets from fd 3 on (each checked to be a socket; the
 * variables are then unset so the module does not see them). 0 with
 * *fds (malloc'd) and *n, *n = 0 when not activated; -1 with err. */
int keep_inherited(int **fds, size_t *n, char *err, size_t errlen);

#endif
