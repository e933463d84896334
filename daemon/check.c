/*
 * wismod -t beyond syntax: the host's side of the configuration. Every
 * problem is reported with the file and line that caused it (the line of
 * the key, else of its section), the way nginx -t does.
 */
#include "wismo/check.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "wismo/httpd.h"
#include "wismo/wm.h"

struct report {
    const struct cfg *cfg;
    FILE *err;
    int problems;
};

static void problem(struct report *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct report *r, int line, const char *fmt, ...)
{
    va_list ap;
    const char *file = r->cfg->path != NULL ? r->cfg->path : "(defaults)";

    if (line > 0)
        fprintf(r->err, "wismod: %s:%d: ", file, line);
    else
        fprintf(r->err, "wismod: %s: ", file);
    va_start(ap, fmt);
    vfprintf(r->err, fmt, ap);
    va_end(ap);
    fputc('\n', r->err);
    r->problems++;
}

/* The line of key in section, else of the section, else 0. */
static int where(const struct cfg *cfg, const char *section, const char *key)
{
    int line = key != NULL ? cfg_line(cfg, section, key) : 0;

    return line > 0 ? line : cfg_line(cfg, section, NULL);
}

const char *const *check_carrier_credentials(const char *carrier)
{
    static const char *const api_key[] = {"api_key", NULL};
    static const char *const oauth[] = {"client_id", "client_secret", NULL};
    static const char *const login[] = {"username", "password", NULL};
    static const char *const none[] = {NULL};
    static const struct {
        const char *name;
        const char *const *keys;
    } table[] = {
        {"dhl", api_key}, {"postnl", api_key},   {"ups", oauth},
        {"fedex", oauth}, {"usps", oauth},       {"gls", oauth},
        {"dpd", login},   {"canadapost", login}, {"bpost", login},
    };

    for (size_t i = 0; i < WM_ARRAY_LEN(table); i++)
        if (strcmp(table[i].name, carrier) == 0)
            return table[i].keys;
    return none;
}

static const char *credential(const struct cfg_carrier *c, const char *key)
{
    if (strcmp(key, "api_key") == 0)
        return c->api_key;
    if (strcmp(key, "client_id") == 0)
        return c->client_id;
    if (strcmp(key, "client_secret") == 0)
        return c->client_secret;
    if (strcmp(key, "username") == 0)
        return c->username;
    if (strcmp(key, "password") == 0)
        return c->password;
    return NULL;
}

/* A carrier is configured when the file has its section or one of its
 * credentials is set (from the file, a _file or the environment). */
static void check_carriers(struct report *r)
{
    const struct cfg *cfg = r->cfg;

    for (size_t i = 0; i < cfg->n_carriers; i++) {
        const struct cfg_carrier *c = &cfg->carriers[i];
        const char *const *keys = check_carrier_credentials(c->name);
        char section[64];
        bool configured;

        snprintf(section, sizeof(section), "carrier.%s", c->name);
        configured = cfg_line(cfg, section, NULL) > 0;
        for (size_t k = 0; keys[k] != NULL; k++) {
            const char *v = credential(c, keys[k]);
            configured |= v != NULL && v[0] != '\0';
        }
        if (!configured)
            continue;
        for (size_t k = 0; keys[k] != NULL; k++) {
            const char *v = credential(c, keys[k]);
            char env[96];

            if (v != NULL && v[0] != '\0')
                continue;
            snprintf(env, sizeof(env), "WISMO_CARRIER_%s_%s", c->name, keys[k]);
            for (char *p = env; *p != '\0'; p++)
                if (*p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 'a' + 'A');
            problem(r, where(cfg, section, NULL),
                    "[%s]: %s missing: %s cannot authenticate without it "
                    "(set %s, %s_file or %s)",
                    section, keys[k], c->name, keys[k], keys[k], env);
        }
    }
}

/* The private Redis: data_dir must exist or be creatable, and
 * redis_server must be a program we can run. */
static void check_private_redis(struct report *r)
{
    const struct cfg *cfg = r->cfg;
    const char *dir = cfg->data_dir, *bin = cfg->redis_server;
    struct stat st;
    int line = where(cfg, "daemon", "data_dir");

    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            problem(r, line, "data_dir %s is not a directory", dir);
        else if (access(dir, W_OK | X_OK) != 0)
            problem(r, line, "data_dir %s is not writable: %s", dir,
                    strerror(errno));
    } else {
        char *parent = wm_xstrdup(dir);
        char *slash = strrchr(parent, '/');

        if (slash == parent)
            slash[1] = '\0';
        else if (slash != NULL)
            *slash = '\0';
        else
            strcpy(parent, ".");
        if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
            problem(r, line,
                    "data_dir %s cannot be created: its parent %s does not "
                    "exist",
                    dir, parent);
        else if (access(parent, W_OK | X_OK) != 0)
            problem(r, line, "data_dir %s cannot be created in %s: %s", dir,
                    parent, strerror(errno));
        free(parent);
    }
    line = where(cfg, "daemon", "redis_server");
    if (strchr(bin, '/') != NULL) {
        if (access(bin, X_OK) != 0)
            problem(r, line, "redis_server %s cannot be run: %s", bin,
                    strerror(errno));
    } else {
        const char *path = getenv("PATH");
        bool found = false;
        char *copy = wm_xstrdup(path != NULL ? path : "/usr/bin:/bin");
        char *save = NULL;

        for (char *d = strtok_r(copy, ":", &save); d != NULL && !found;
             d = strtok_r(NULL, ":", &save)) {
            char full[4096];
            snprintf(full, sizeof(full), "%s/%s", d, bin);
            found = access(full, X_OK) == 0;
        }
        free(copy);
        if (!found)
            problem(r, line,
                    "redis_server %s is not in PATH (no [redis] url: wismod "
                    "starts a private redis-server; apt-get install "
                    "redis-server)",
                    bin);
    }
}

/* The listen address must be bindable here. In use is fine: it is most
 * likely the running wismod this configuration is meant to replace. */
static void check_listen(struct report *r, FILE *out)
{
    const struct cfg *cfg = r->cfg;
    struct sockaddr_storage ss;
    int fd, one = 1, line = where(cfg, "http", "listen");
    socklen_t len;

    if (httpd_parse_listen(cfg->http_listen, &ss) != 0) {
        problem(r, line, "listen: want host:port, not '%s'", cfg->http_listen);
        return;
    }
    len = ss.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                   : sizeof(struct sockaddr_in);
    fd = socket(ss.ss_family, SOCK_STREAM, 0);
    if (fd < 0) {
        problem(r, line, "listen %s: %s", cfg->http_listen, strerror(errno));
        return;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        if (errno == EADDRINUSE)
            fprintf(out,
                    "wismod: note: listen %s is in use now (by a running "
                    "wismod?)\n",
                    cfg->http_listen);
        else
            problem(r, line, "listen %s cannot be bound: %s", cfg->http_listen,
                    strerror(errno));
    }
    close(fd);
}

/* A configured templates folder must hold <locale>.sms or .email files. */
static void check_templates(struct report *r)
{
    const struct cfg *cfg = r->cfg;
    const char *dir = cfg->templates_dir;
    int line = where(cfg, "notify", "templates");
    size_t found = 0;
    struct dirent *e;
    DIR *d;

    if (dir == NULL || dir[0] == '\0')
        return;
    if ((d = opendir(dir)) == NULL) {
        problem(r, line, "templates %s: %s", dir, strerror(errno));
        return;
    }
    /* cppcheck-suppress readdirCalled ; readdir_r is deprecated (glibc) */
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        if (dot != NULL && dot != e->d_name &&
            (strcmp(dot, ".sms") == 0 || strcmp(dot, ".email") == 0))
            found++;
    }
    closedir(d);
    if (found == 0)
        problem(r, line,
                "templates %s holds no <locale>.sms or <locale>.email file",
                dir);
}

int check_config(const struct cfg *cfg, FILE *out, FILE *err)
{
    struct report r = {cfg, err, 0};

    if (cfg->redis_url == NULL)
        check_private_redis(&r);
    check_listen(&r, out);
    check_templates(&r);
    check_carriers(&r);
    return r.problems;
}
