/* sd_notify(3) in a few lines: see sdnotify.h. */
#include "wismo/sdnotify.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wismo/log.h"
#include "wismo/wm.h"

static char sd_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
static size_t sd_len; /* bytes of sd_path in use; 0: no socket */

void sdnotify_init(void)
{
    const char *e = getenv("NOTIFY_SOCKET");
    size_t n = e != NULL ? strlen(e) : 0;

    sd_len = 0;
    if (n < 2 || n >= sizeof(sd_path) || (e[0] != '/' && e[0] != '@')) {
        if (n > 0)
            log_warn("msg=\"NOTIFY_SOCKET ignored: not a unix socket path\"");
        unsetenv("NOTIFY_SOCKET");
        return;
    }
    memcpy(sd_path, e, n);
    if (sd_path[0] == '@')
        sd_path[0] = '\0'; /* the abstract namespace */
    sd_len = n;
    unsetenv("NOTIFY_SOCKET");
}

int sdnotify(const char *state)
{
    struct sockaddr_un sa;
    socklen_t salen;
    ssize_t sent;
    int fd;

    if (sd_len == 0)
        return WM_ENOTFOUND;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, sd_path, sd_len);
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + sd_len +
                        (sd_path[0] != '\0' ? 1 : 0));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return WM_EIO;
    sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL,
                  (const struct sockaddr *)&sa, salen);
    close(fd);
    if (sent < 0) {
        log_warn("msg=\"cannot notify systemd\" state=%.20s", state);
        return WM_EIO;
    }
    return 0;
}

int sdnotify_reloading(void)
{
    struct timespec ts;
    char msg[96];

    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull +
                 (unsigned long long)ts.tv_nsec / 1000ull);
    return sdnotify(msg);
}
