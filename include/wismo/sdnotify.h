/*
 * systemd's service notification protocol (sd_notify(3)), without
 * libsystemd: one datagram of "KEY=value" lines to the unix socket named by
 * $NOTIFY_SOCKET (a path, or "@name" in the abstract namespace). wismod
 * sends READY=1 once Redis is connected and the HTTP port is open,
 * RELOADING=1 then READY=1 around a SIGHUP reload, and STOPPING=1 when it
 * begins to shut down. Without $NOTIFY_SOCKET every call does nothing.
 */
#ifndef WISMO_SDNOTIFY_H
#define WISMO_SDNOTIFY_H

/* Reads $NOTIFY_SOCKET once and removes it from the environment, so that
 * no child (the private redis-server) inherits it. */
void sdnotify_init(void);
/* Sends state ("READY=1", "STATUS=..."; several lines joined by '\n').
 * 0, WM_ENOTFOUND without a socket, WM_EIO when the send failed. */
int sdnotify(const char *state);
/* RELOADING=1 with the MONOTONIC_USEC systemd 253 asks for. */
int sdnotify_reloading(void);

#endif
