/*
 * The private redis-server (see redisproc.h). The child is forked here, not
 * with uv_spawn, because it must set PR_SET_PDEATHSIG between fork and
 * exec; its exit arrives as SIGCHLD on a uv_signal_t and is reaped with
 * waitpid. Nothing else in wismod spawns processes.
 */
#include "wismo/redisproc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "wismo/log.h"
#include "wismo/wm.h"

#define RP_PROBE_MS    20    /* PING every this while it boots */
#define RP_SLOW_MS     10000 /* then say it is slow */
#define RP_RESTART_MS  500   /* after an unexpected death */
#define RP_KILL_MS     2000  /* SIGTERM, then SIGKILL after this */
#define RP_LEFTOVER_MS 10000 /* a leftover gets this long to stop */

struct redisproc {
    uv_loop_t *loop;
    char *binary, *dir;
    char sock[PATH_MAX], pidfile[PATH_MAX], logfile[PATH_MAX];
    int lock_fd;     /* held while we own dir; -1: not taken */
    pid_t pid;       /* the running child; 0: none */
    int64_t started; /* ms, of the current start */
    bool waiting;    /* not answered PING yet since the start */
    bool slow_said;
    bool stopping;
    uv_signal_t sigchld;
    uv_timer_t probe, restart, kill;
    int open_handles;
    redisproc_ready_cb *ready;
    void *ready_arg;
    redisproc_stopped_cb *stopped;
    void *stopped_arg;
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A synchronous probe of the socket: 1 when it answers PING with PONG, 0
 * when nobody (or a server still loading) answers. With pid != NULL,
 * *pid gets the server's process_id from INFO server. */
static int probe(const char *sock, pid_t *pid)
{
    struct timeval tv = {0, 200 * 1000};
    redisContext *c = redisConnectUnixWithTimeout(sock, tv);
    redisReply *r;
    int up = 0;

    if (c == NULL || c->err != 0) {
        redisFree(c);
        return 0;
    }
    redisSetTimeout(c, tv);
    r = redisCommand(c, "PING");
    up = r != NULL && r->type == REDIS_REPLY_STATUS &&
         strcmp(r->str, "PONG") == 0;
    freeReplyObject(r);
    if (up && pid != NULL) {
        const char *p;
        *pid = 0;
        r = redisCommand(c, "INFO server");
        if (r != NULL && r->type == REDIS_REPLY_STRING &&
            (p = strstr(r->str, "process_id:")) != NULL)
            *pid = (pid_t)strtol(p + 11, NULL, 10);
        freeReplyObject(r);
    }
    redisFree(c);
    return up;
}

/* True when pid is a redis-server whose working directory is dir (Redis
 * changes into --dir): ours to stop, not some other program that reused
 * the pid. */
static bool is_our_redis(pid_t pid, const char *dir)
{
    char path[64], comm[64] = "";
    struct stat cwd, want;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return false;
    if (fgets(comm, sizeof(comm), f) == NULL)
        comm[0] = '\0';
    fclose(f);
    if (strncmp(comm, "redis-server", 12) != 0)
        return false;
    snprintf(path, sizeof(path), "/proc/%d/cwd", (int)pid);
    if (stat(path, &cwd) != 0 || stat(dir, &want) != 0)
        return false;
    return cwd.st_dev == want.st_dev && cwd.st_ino == want.st_ino;
}

static bool alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

/* Stops a leftover server: SIGTERM (it writes its AOF), SIGKILL if it
 * takes too long. Synchronous: this runs before the loop does. */
static int stop_leftover(struct redisproc *rp, pid_t pid, const char *how)
{
    int64_t deadline = mono_ms() + RP_LEFTOVER_MS;
    struct timespec nap = {0, 20 * 1000 * 1000};

    log_warn("msg=\"stopping a leftover private redis-server (its wismod "
             "died)\" pid=%d found_by=%s dir=%s",
             (int)pid, how, rp->dir);
    if (kill(pid, SIGTERM) != 0 && errno != ESRCH)
        return WM_EIO;
    while (alive(pid) && mono_ms() < deadline)
        nanosleep(&nap, NULL);
    if (alive(pid)) {
        log_warn("msg=\"leftover redis-server slow to stop; killing it\" "
                 "pid=%d",
                 (int)pid);
        kill(pid, SIGKILL);
        deadline = mono_ms() + 2000;
        while (alive(pid) && mono_ms() < deadline)
            nanosleep(&nap, NULL);
    }
    if (alive(pid)) {
        log_error("msg=\"cannot stop the leftover redis-server\" pid=%d",
                  (int)pid);
        return WM_EIO;
    }
    return 0;
}

/* With the lock held, whatever serves our socket or is named by our pid
 * file is a leftover. */
static int clear_leftovers(struct redisproc *rp)
{
    pid_t pid = 0;
    FILE *f = fopen(rp->pidfile, "r");
    int rc;

    if (f != NULL) {
        long v;
        if (fscanf(f, "%ld", &v) == 1 && v > 1 && v < INT_MAX)
            pid = (pid_t)v;
        fclose(f);
    }
    if (pid > 0 && pid != getpid() && alive(pid) &&
        is_our_redis(pid, rp->dir)) {
        if ((rc = stop_leftover(rp, pid, "pidfile")) != 0)
            return rc;
    }
    pid = 0;
    if (probe(rp->sock, &pid)) {
        if (pid <= 0 || !is_our_redis(pid, rp->dir)) {
            log_error("msg=\"another redis-server serves the private "
                      "socket\" socket=%s pid=%d",
                      rp->sock, (int)pid);
            return WM_EIO;
        }
        if ((rc = stop_leftover(rp, pid, "socket")) != 0)
            return rc;
    }
    unlink(rp->pidfile);
    return 0;
}

static int take_lock(struct redisproc *rp)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/wismod.lock", rp->dir);
    rp->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (rp->lock_fd < 0) {
        log_error("msg=\"cannot open the data_dir lock\" path=%s error=\"%s\"",
                  path, strerror(errno));
        return WM_EIO;
    }
    if (flock(rp->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int busy = errno == EWOULDBLOCK;
        log_error("msg=\"%s\" path=%s",
                  busy ? "another wismod uses this data_dir"
                       : "cannot lock data_dir",
                  path);
        close(rp->lock_fd);
        rp->lock_fd = -1;
        return busy ? WM_EBUSY : WM_EIO;
    }
    return 0;
}

/* The child, between fork and exec: only async-signal-safe calls. */
static void child(struct redisproc *rp, char *const argv[], pid_t parent,
                  int devnull, int max_fd)
{
    /* Die with wismod, even when it is killed with SIGKILL: Redis gets
     * SIGTERM and writes its append-only file. */
    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
        _exit(127); /* the parent died before prctl: nobody to serve */
    dup2(devnull, STDIN_FILENO);
    dup2(devnull, STDOUT_FILENO);
    if (devnull > STDERR_FILENO)
        close(devnull);
    /* Redis must not keep wismod's sockets or the lock open. */
    for (int fd = 3; fd < max_fd; fd++)
        close(fd);
    execv(rp->binary, argv);
    execvp(rp->binary, argv);
    _exit(127);
}

static void on_probe(uv_timer_t *t);

static int spawn(struct redisproc *rp)
{
    char *argv[] = {rp->binary,  "--port",
                    "0",         "--unixsocket",
                    rp->sock,    "--unixsocketperm",
                    "700",       "--dir",
                    rp->dir,     "--pidfile",
                    rp->pidfile, "--appendonly",
                    "yes",       "--appendfsync",
                    "everysec",  "--save",
                    "",          "--logfile",
                    rp->logfile, "--daemonize",
                    "no",        NULL};
    pid_t parent = getpid(), pid;
    long open_max = sysconf(_SC_OPEN_MAX);
    int max_fd = open_max > 0 && open_max < 65536 ? (int)open_max : 65536;
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);

    if (devnull < 0) {
        log_error("msg=\"cannot open /dev/null\" error=\"%s\"",
                  strerror(errno));
        return WM_EIO;
    }
    pid = fork();
    if (pid == 0)
        child(rp, argv, parent, devnull, max_fd);
    close(devnull);
    if (pid < 0) {
        log_error("msg=\"cannot start redis-server\" error=\"%s\"",
                  strerror(errno));
        return WM_EIO;
    }
    rp->pid = pid;
    rp->started = mono_ms();
    rp->waiting = true;
    rp->slow_said = false;
    log_info("msg=\"started a private redis-server (no [redis] url "
             "configured)\" pid=%d socket=%s dir=%s",
             (int)pid, rp->sock, rp->dir);
    uv_timer_start(&rp->probe, on_probe, RP_PROBE_MS, RP_PROBE_MS);
    return 0;
}

/* Quietly waits for the new server to answer PING, so that the Redis
 * link never logs a failed connect for a server that is still booting. */
static void on_probe(uv_timer_t *t)
{
    struct redisproc *rp = t->data;

    if (rp->pid == 0 || !rp->waiting) {
        uv_timer_stop(t);
        return;
    }
    if (probe(rp->sock, NULL)) {
        rp->waiting = false;
        uv_timer_stop(t);
        log_debug("msg=\"private redis-server answers\" pid=%d ms=%lld",
                  (int)rp->pid, (long long)(mono_ms() - rp->started));
        if (rp->ready != NULL)
            rp->ready(rp->ready_arg);
        return;
    }
    if (!rp->slow_said && mono_ms() - rp->started > RP_SLOW_MS) {
        rp->slow_said = true;
        log_warn("msg=\"private redis-server does not answer yet\" pid=%d "
                 "log=%s",
                 (int)rp->pid, rp->logfile);
    }
}

static void on_restart(uv_timer_t *t)
{
    struct redisproc *rp = t->data;

    if (!rp->stopping && rp->pid == 0 && spawn(rp) != 0)
        uv_timer_start(&rp->restart, on_restart, RP_RESTART_MS * 4, 0);
}

static void on_sigchld(uv_signal_t *s, int signum)
{
    struct redisproc *rp = s->data;
    int status = 0;
    pid_t got;

    (void)signum;
    if (rp->pid == 0)
        return;
    got = waitpid(rp->pid, &status, WNOHANG);
    if (got != rp->pid)
        return;
    rp->pid = 0;
    rp->waiting = false;
    uv_timer_stop(&rp->probe);
    if (rp->stopping) {
        uv_timer_stop(&rp->kill);
        log_info("msg=\"private redis-server stopped\" status=%d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        if (rp->stopped != NULL) {
            redisproc_stopped_cb *cb = rp->stopped;
            rp->stopped = NULL;
            cb(rp->stopped_arg);
        }
        return;
    }
    log_error("msg=\"private redis-server died; restarting\" status=%d "
              "signal=%d",
              WIFEXITED(status) ? WEXITSTATUS(status) : -1,
              WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    uv_timer_start(&rp->restart, on_restart, RP_RESTART_MS, 0);
}

static void on_kill(uv_timer_t *t)
{
    struct redisproc *rp = t->data;

    if (rp->pid != 0) {
        log_warn("msg=\"private redis-server slow to stop; killing it\"");
        kill(rp->pid, SIGKILL);
    }
}

struct redisproc *redisproc_new(uv_loop_t *loop, const char *binary,
                                const char *dir)
{
    struct redisproc *rp = wm_xcalloc(1, sizeof(*rp));

    rp->loop = loop;
    rp->binary = wm_xstrdup(binary);
    rp->dir = wm_xstrdup(dir);
    rp->lock_fd = -1;
    snprintf(rp->sock, sizeof(rp->sock), "%s/redis.sock", dir);
    snprintf(rp->pidfile, sizeof(rp->pidfile), "%s/redis.pid", dir);
    snprintf(rp->logfile, sizeof(rp->logfile), "%s/redis.log", dir);
    uv_signal_init(loop, &rp->sigchld);
    uv_timer_init(loop, &rp->probe);
    uv_timer_init(loop, &rp->restart);
    uv_timer_init(loop, &rp->kill);
    rp->sigchld.data = rp->probe.data = rp->restart.data = rp->kill.data = rp;
    rp->open_handles = 4;
    return rp;
}

int redisproc_start(struct redisproc *rp, redisproc_ready_cb *ready, void *arg)
{
    int rc;

    if ((rc = take_lock(rp)) != 0)
        return rc;
    if ((rc = clear_leftovers(rp)) != 0)
        return rc;
    rp->ready = ready;
    rp->ready_arg = arg;
    if (uv_signal_start(&rp->sigchld, on_sigchld, SIGCHLD) != 0)
        return WM_EIO;
    return spawn(rp);
}

void redisproc_stop(struct redisproc *rp, redisproc_stopped_cb *stopped,
                    void *arg)
{
    rp->stopping = true;
    uv_timer_stop(&rp->restart);
    uv_timer_stop(&rp->probe);
    if (rp->pid == 0) {
        if (stopped != NULL)
            stopped(arg);
        return;
    }
    rp->stopped = stopped;
    rp->stopped_arg = arg;
    kill(rp->pid, SIGTERM); /* Redis writes its append-only file first */
    uv_timer_start(&rp->kill, on_kill, RP_KILL_MS, 0);
}

void redisproc_kill(struct redisproc *rp)
{
    if (rp != NULL && rp->pid != 0)
        kill(rp->pid, SIGKILL);
}

static void on_closed(uv_handle_t *h)
{
    struct redisproc *rp = h->data;

    if (--rp->open_handles > 0)
        return;
    free(rp->binary);
    free(rp->dir);
    free(rp);
}

void redisproc_free(struct redisproc *rp)
{
    if (rp == NULL)
        return;
    if (rp->lock_fd >= 0)
        close(rp->lock_fd);
    rp->lock_fd = -1;
    rp->ready = NULL;
    rp->stopped = NULL;
    uv_close((uv_handle_t *)&rp->sigchld, on_closed);
    uv_close((uv_handle_t *)&rp->probe, on_closed);
    uv_close((uv_handle_t *)&rp->restart, on_closed);
    uv_close((uv_handle_t *)&rp->kill, on_closed);
}

const char *redisproc_socket(const struct redisproc *rp)
{
    return rp->sock;
}

int redisproc_pid(const struct redisproc *rp)
{
    return (int)rp->pid;
}
