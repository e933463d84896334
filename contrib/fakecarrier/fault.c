/*
 * Fault specs: parsing and per-request decisions (see fault.h).
 */
#include "fault.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"

void fc_faults_init(struct fc_faults *f)
{
    memset(f, 0, sizeof(*f));
}

void fc_faults_clear(struct fc_faults *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].spec);
    fc_faults_init(f);
}

static bool fc_parse_uint(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    unsigned long v;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

static const struct {
    const char *name;
    enum fc_fault_kind kind;
} fc_kinds[] = {
    {"latency", FC_FAULT_LATENCY}, {"429", FC_FAULT_429},
    {"500", FC_FAULT_500},         {"garbage", FC_FAULT_GARBAGE},
    {"hang", FC_FAULT_HANG},       {"reset", FC_FAULT_RESET},
};

int fc_faults_add(struct fc_faults *f, const char *spec, char *err,
                  size_t errlen)
{
    struct fc_fault ft = {.carrier = -1,
                          .kind = FC_FAULT_NONE,
                          .rate = 1.0,
                          .ms = 1000,
                          .retry_after = 1,
                          .on = FC_ON_TRACK};
    bool rate_set = false;
    char *copy, *save = NULL, *item;
    int rc = -1;

    if (f->n == FC_MAX_FAULTS) {
        snprintf(err, errlen, "more than %d faults", FC_MAX_FAULTS);
        return -1;
    }
    if (strlen(spec) > 512) {
        snprintf(err, errlen, "fault spec too long");
        return -1;
    }
    copy = fc_xstrdup(spec);
    for (item = strtok_r(copy, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '='), *val;
        unsigned long u;

        if (eq == NULL) {
            snprintf(err, errlen, "'%s': expected key=value", item);
            goto out;
        }
        *eq = '\0';
        val = eq + 1;
        if (strcmp(item, "carrier") == 0) {
            const struct fc_carrier *c = fc_carrier_find(val);

            if (strcmp(val, "*") == 0) {
                ft.carrier = -1;
            } else if (c != NULL) {
                ft.carrier = (int)c->id;
            } else {
                snprintf(err, errlen, "unknown carrier '%s'", val);
                goto out;
            }
        } else if (strcmp(item, "kind") == 0) {
            ft.kind = FC_FAULT_NONE;
            for (size_t i = 0; i < FC_ARRAY_LEN(fc_kinds); i++)
                if (strcmp(val, fc_kinds[i].name) == 0)
                    ft.kind = fc_kinds[i].kind;
            if (ft.kind == FC_FAULT_NONE) {
                snprintf(err, errlen, "unknown kind '%s'", val);
                goto out;
            }
        } else if (strcmp(item, "rate") == 0) {
            char *end;

            errno = 0;
            ft.rate = strtod(val, &end);
            if (errno != 0 || end == val || *end != '\0' || !(ft.rate >= 0) ||
                ft.rate > 1) {
                snprintf(err, errlen, "rate must be in [0,1]");
                goto out;
            }
            rate_set = true;
        } else if (strcmp(item, "every") == 0) {
            if (!fc_parse_uint(val, 1000000, &u) || u == 0) {
                snprintf(err, errlen, "every must be 1..1000000");
                goto out;
            }
            ft.every = (unsigned)u;
        } else if (strcmp(item, "ms") == 0) {
            if (!fc_parse_uint(val, 600000, &u)) {
                snprintf(err, errlen, "ms must be 0..600000");
                goto out;
            }
            ft.ms = (unsigned)u;
        } else if (strcmp(item, "retry_after") == 0) {
            if (!fc_parse_uint(val, 86400, &u)) {
                snprintf(err, errlen, "retry_after must be 0..86400");
                goto out;
            }
            ft.retry_after = (int)u;
        } else if (strcmp(item, "on") == 0) {
            if (strcmp(val, "track") == 0) {
                ft.on = FC_ON_TRACK;
            } else if (strcmp(val, "token") == 0) {
                ft.on = FC_ON_TOKEN;
            } else if (strcmp(val, "feed") == 0) {
                ft.on = FC_ON_FEED;
            } else if (strcmp(val, "all") == 0) {
                ft.on = FC_ON_ALL;
            } else {
                snprintf(err, errlen, "on must be track, token, feed or all");
                goto out;
            }
        } else {
            snprintf(err, errlen, "unknown key '%s'", item);
            goto out;
        }
    }
    if (ft.kind == FC_FAULT_NONE) {
        snprintf(err, errlen, "kind is missing");
        goto out;
    }
    if (ft.every > 0 && rate_set) {
        snprintf(err, errlen, "every and rate exclude each other");
        goto out;
    }
    ft.spec = fc_xstrdup(spec);
    f->v[f->n++] = ft;
    rc = 0;
out:
    free(copy);
    return rc;
}

json_t *fc_faults_json(const struct fc_faults *f)
{
    json_t *a = json_array();

    for (size_t i = 0; i < f->n; i++)
        json_array_append_new(a, json_string(f->v[i].spec));
    return a;
}

const struct fc_fault *fc_faults_decide(struct fc_faults *f, struct fc_rng *rng,
                                        int carrier, unsigned on,
                                        unsigned *delay_ms)
{
    const struct fc_fault *hit = NULL;

    *delay_ms = 0;
    for (size_t i = 0; i < f->n; i++) {
        struct fc_fault *ft = &f->v[i];

        if ((ft->carrier >= 0 && ft->carrier != carrier) || (ft->on & on) == 0)
            continue;
        if (ft->every > 0) {
            if (++ft->matched % ft->every != 0)
                continue;
        } else if (ft->rate < 1.0 && fc_rng_unit(rng) >= ft->rate) {
            continue;
        }
        if (ft->kind == FC_FAULT_LATENCY)
            *delay_ms += ft->ms;
        else if (hit == NULL)
            hit = ft;
    }
    return hit;
}
