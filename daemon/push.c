/*
 * Carrier push receivers (see push.h). A request runs through: the route
 * (carrier, push = on, path secret), the size limit, the adapter's
 * push_auth, its push_parse, then one store lookup and one store merge per
 * pushed shipment, in order, before the answer: merges take milliseconds,
 * far inside the five seconds carriers allow, and answering after them
 * lets a store failure say 503 so that carriers that retry do.
 */
#include "wismo/push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/carrier.h"
#include "wismo/log.h"
#include "wismo/metrics.h"
#include "wismo/policy.h"
#include "wismo/wm.h"

#define JSON_TYPE "application/json"
#define OK_BODY   "{\"status\":\"ok\"}"

static const char *const outcome_names[PUSH_OUTCOMES] = {
    "accepted",  "duplicate", "unknown",    "unauthorised",
    "malformed", "notice",    "activation", "store_error"};

#define PUSH_LAT_BUCKETS 8
static const double push_lat_bounds[PUSH_LAT_BUCKETS] = {
    0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5};

/* One pushing carrier's counters. */
struct pcarrier {
    const struct carrier *c;
    uint64_t n[PUSH_OUTCOMES];
    struct metrics_hist lat; /* arrival to answer, seconds */
};

struct job;
struct activation;

struct push {
    uv_loop_t *loop;
    const struct cfg *cfg;
    struct store *st;
    struct fetch_engine *fe;
    struct pcarrier *pc;
    size_t n_pc;
    struct job *jobs;               /* merging */
    struct activation *activations; /* DHL activations in flight */
    push_merged_cb *merged_cb;
    void *merged_arg;
};

/* A push being merged: its shipments one after the other. */
struct job {
    struct push *p; /* NULL once the receiver is gone */
    struct pcarrier *pc;
    const struct cfg_carrier *cc;
    struct carrier_push parsed;
    size_t next; /* the shipment being merged */
    uint64_t t0; /* uv_hrtime at arrival */
    bool failed; /* a store error: 503 */
    char *id;    /* the shipment being merged, owned */
    push_answer_cb *cb;
    void *arg;
    struct job *next_job, *prev_job;
};

struct activation {
    struct push *p;
    struct pcarrier *pc;
    struct activation *next, *prev;
};

const char *push_outcome_name(enum push_outcome o)
{
    return o < PUSH_OUTCOMES ? outcome_names[o] : "?";
}

static struct pcarrier *pc_find(const struct push *p, const char *name)
{
    for (size_t i = 0; i < p->n_pc; i++)
        if (strcmp(p->pc[i].c->name, name) == 0)
            return &p->pc[i];
    return NULL;
}

uint64_t push_count(const struct push *p, const char *carrier,
                    enum push_outcome o)
{
    const struct pcarrier *pc = pc_find(p, carrier);

    return pc != NULL && o < PUSH_OUTCOMES ? pc->n[o] : 0;
}

/* --- answers --- */

static void answer(struct pcarrier *pc, uint64_t t0, push_answer_cb *cb,
                   void *arg, int status, const char *type, const char *body,
                   const char *headers)
{
    if (pc != NULL)
        metrics_hist_observe(&pc->lat, push_lat_bounds, PUSH_LAT_BUCKETS,
                             (double)(uv_hrtime() - t0) / 1e9);
    cb(arg, status, type, body, body != NULL ? strlen(body) : 0, headers);
}

static void answer_error(struct pcarrier *pc, uint64_t t0, push_answer_cb *cb,
                         void *arg, int status, const char *error,
                         const char *message, const char *headers)
{
    char body[256];

    snprintf(body, sizeof(body), "{\"error\":\"%s\",\"message\":\"%s\"}", error,
             message);
    answer(pc, t0, cb, arg, status, JSON_TYPE, body, headers);
}

/* The carrier's own acknowledgement when it wants one (DPD), else ours. */
static void answer_parsed(struct pcarrier *pc, uint64_t t0, push_answer_cb *cb,
                          void *arg, const struct carrier_push *parsed)
{
    if (parsed->answer_body != NULL)
        answer(pc, t0, cb, arg,
               parsed->answer_status ? parsed->answer_status : 200,
               parsed->answer_type, parsed->answer_body, NULL);
    else
        answer(pc, t0, cb, arg, 200, JSON_TYPE, OK_BODY, NULL);
}

/* --- merging --- */

static void job_unlink(struct job *j)
{
    if (j->p == NULL)
        return;
    if (j->prev_job != NULL)
        j->prev_job->next_job = j->next_job;
    else
        j->p->jobs = j->next_job;
    if (j->next_job != NULL)
        j->next_job->prev_job = j->prev_job;
}

static void job_free(struct job *j)
{
    carrier_push_clear(&j->parsed);
    free(j->id);
    free(j);
}

/* Everything merged (or a store error): answer, then free. */
static void job_finish(struct job *j)
{
    job_unlink(j);
    if (j->p != NULL) {
        if (j->failed) {
            j->pc->n[PUSH_STORE_ERROR]++;
            answer_error(j->pc, j->t0, j->cb, j->arg, 503, "unavailable",
                         "the store is not reachable: retry",
                         "Retry-After: 5\r\n");
        } else {
            answer_parsed(j->pc, j->t0, j->cb, j->arg, &j->parsed);
        }
    }
    job_free(j);
}

static void job_step(struct job *j);

static void on_ended(void *arg, int err)
{
    (void)arg;
    (void)err; /* a lost release: the subscription lapses or stays */
}

static void on_merged(void *arg, int err, const struct store_merge_out *out)
{
    struct job *j = arg;

    if (j->p == NULL) {
        job_free(j);
        return;
    }
    if (err != 0) {
        log_warn("msg=\"push merge failed\" carrier=%s error=\"%s\"",
                 j->pc->c->name, wm_strerror(err));
        j->failed = true;
        job_finish(j);
        return;
    }
    if (out->gone) { /* erased between the lookup and the merge */
        j->pc->n[PUSH_UNKNOWN]++;
    } else if (out->added > 0 || out->changed) {
        j->pc->n[PUSH_ACCEPTED]++;
        log_info("msg=\"push merged\" carrier=%s id=%s events_added=%d "
                 "status=%s",
                 j->pc->c->name, j->id, out->added,
                 model_status_name(out->status));
    } else {
        j->pc->n[PUSH_DUPLICATE]++;
        log_debug("msg=\"push brought nothing new\" carrier=%s id=%s",
                  j->pc->c->name, j->id);
    }
    if (!out->gone && j->p->merged_cb != NULL)
        j->p->merged_cb(j->p->merged_arg, j->id, out->changed);
    /* Final: its subscription is released (queued for unsubscribing when
     * nobody shares it). */
    if (!out->gone && model_status_is_terminal(out->status))
        (void)store_push_end(j->p->st, j->id, on_ended, NULL);
    j->next++;
    job_step(j);
}

static void on_lookup(void *arg, int err, const char *id)
{
    struct job *j = arg;
    const struct model_shipment *s;
    struct store_merge_in in = {0};
    struct policy_push pp = {0};
    int64_t now = wm_now_ms();

    if (j->p == NULL) {
        job_free(j);
        return;
    }
    if (err != 0) {
        log_warn("msg=\"push lookup failed\" carrier=%s error=\"%s\"",
                 j->pc->c->name, wm_strerror(err));
        j->failed = true;
        job_finish(j);
        return;
    }
    if (id == NULL) {
        /* Not ours: acknowledged, counted, never created. */
        j->pc->n[PUSH_UNKNOWN]++;
        log_info("msg=\"push for a number wismo does not track\" carrier=%s",
                 j->pc->c->name);
        j->next++;
        job_step(j);
        return;
    }
    s = &j->parsed.result.shipments[j->next];
    free(j->id);
    j->id = wm_xstrdup(id);
    pp.live = true;
    pp.last_push = now;
    in.id = j->id;
    in.push = true;
    in.now_ms = now;
    in.ship = s;
    in.error = -1;
    in.next_due_ms =
        policy_push_due(j->p->cfg, j->cc, s->status, &pp, now, 0.5);
    in.expire_after_ms = j->p->cfg->expire_after_ms;
    in.not_found_expire_ms = j->p->cfg->not_found_expire_ms;
    in.digest = store_shipment_digest(s);
    if (store_merge(j->p->st, &in, on_merged, j) != 0) {
        j->failed = true;
        job_finish(j);
    }
}

/* Merges the next pushed shipment, or finishes. */
static void job_step(struct job *j)
{
    const struct model_result *r = &j->parsed.result;

    if (j->next >= r->n_shipments) {
        job_finish(j);
        return;
    }
    if (store_lookup(j->p->st, j->pc->c->name,
                     r->shipments[j->next].tracking_number, on_lookup,
                     j) != 0) {
        j->failed = true;
        job_finish(j);
    }
}

/* --- DHL activation --- */

static void on_activated(void *arg, const struct fetch_result *res)
{
    struct activation *a = arg;

    if (a->p == NULL) { /* the receiver is gone */
        free(a);
        return;
    }
    {
        if (a->prev != NULL)
            a->prev->next = a->next;
        else
            a->p->activations = a->next;
        if (a->next != NULL)
            a->next->prev = a->prev;
    }
    if (res->error == WM_ECANCELED)
        ;
    else if (res->error != 0 || res->http_status < 200 ||
             res->http_status > 299)
        log_warn("msg=\"push activation failed\" carrier=%s http=%ld "
                 "error=\"%s\"",
                 a->pc->c->name, res->http_status,
                 res->error ? wm_strerror(res->error) : "");
    else
        log_info("msg=\"push subscription activated\" carrier=%s http=%ld",
                 a->pc->c->name, res->http_status);
    free(a);
}

/* Confirms a validated subscription with the temporary secret (never
 * logged) at its self URL, which build_activate keeps on the carrier's
 * host. */
static void activate(struct push *p, struct pcarrier *pc,
                     const struct cfg_carrier *cc,
                     const struct carrier_push *parsed)
{
    struct carrier_conf conf = {0};
    struct httpreq req;
    struct activation *a;

    if (pc->c->build_activate == NULL)
        return;
    conf.base_url = cc->base_url;
    conf.api_key = cc->api_key;
    httpreq_init(&req);
    if (pc->c->build_activate(&conf, parsed->self, parsed->hook_secret, &req) !=
        0) {
        log_warn("msg=\"push activation refused: no API key, or self is "
                 "not on the carrier's host\" carrier=%s",
                 pc->c->name);
        httpreq_clear(&req);
        return;
    }
    req.timeout_ms = (long)cc->timeout_ms;
    a = wm_xcalloc(1, sizeof(*a));
    a->p = p;
    a->pc = pc;
    if (fetch_submit(p->fe, &req, on_activated, a) != 0) {
        log_warn("msg=\"push activation not sent\" carrier=%s", pc->c->name);
        free(a);
    } else {
        a->next = p->activations;
        if (p->activations != NULL)
            p->activations->prev = a;
        p->activations = a;
    }
    httpreq_clear(&req);
}

/* --- requests --- */

void push_handle(struct push *p, struct httpd_req *req, const char *carrier,
                 const char *path, push_answer_cb *cb, void *arg)
{
    uint64_t t0 = uv_hrtime();
    struct pcarrier *pc = p != NULL ? pc_find(p, carrier) : NULL;
    const struct cfg_carrier *cc =
        pc != NULL ? cfg_carrier(p->cfg, carrier) : NULL;
    const char *method = httpd_req_method(req);
    struct carrier_push_req in = {0};
    struct job *j;
    char qbuf[96];

    /* A carrier without push, push off, or a wrong path: no such route,
     * like any other (the path is a secret too). */
    if (cc == NULL || !cc->push || cc->push_path == NULL ||
        !carrier_secret_eq(path, cc->push_path)) {
        answer_error(NULL, t0, cb, arg, 404, "not_found", "no such route",
                     NULL);
        return;
    }
    if (strcmp(method, "POST") != 0 &&
        !(strcmp(method, "GET") == 0 && (pc->c->caps & CARRIER_CAP_PUSH_GET))) {
        answer_error(
            pc, t0, cb, arg, 405, "method_not_allowed", "method not allowed",
            (pc->c->caps & CARRIER_CAP_PUSH_GET) ? "Allow: GET, POST\r\n"
                                                 : "Allow: POST\r\n");
        return;
    }
    in.method = method;
    in.query = httpd_req_query(req);
    in.content_type = httpd_req_header(req, "Content-Type");
    in.body = httpd_req_body(req, &in.body_len);
    if (in.body_len > PUSH_MAX_BODY) {
        pc->n[PUSH_MALFORMED]++;
        answer_error(pc, t0, cb, arg, 413, "too_large",
                     "a push body is limited to 256 KiB", NULL);
        return;
    }
    if (strlen(in.query) > PUSH_MAX_BODY) {
        pc->n[PUSH_MALFORMED]++;
        answer_error(pc, t0, cb, arg, 414, "too_large", "query too long", NULL);
        return;
    }
    in.auth_value = pc->c->push_auth_header != NULL
                        ? httpd_req_header(req, pc->c->push_auth_header)
                        : NULL;
    in.secret = cc->push_secret;
    /* Authenticated before anything in it is read. */
    if (!pc->c->push_auth(&in)) {
        pc->n[PUSH_UNAUTHORISED]++;
        log_warn("msg=\"push refused: wrong or missing credentials\" "
                 "carrier=%s client=%s",
                 pc->c->name,
                 log_quote(httpd_req_client(req), qbuf, sizeof(qbuf)));
        answer_error(pc, t0, cb, arg, 401, "unauthorised",
                     "wrong or missing credentials", NULL);
        return;
    }
    j = wm_xcalloc(1, sizeof(*j));
    j->pc = pc;
    j->cc = cc;
    j->t0 = t0;
    j->cb = cb;
    j->arg = arg;
    carrier_push_init(&j->parsed);
    if (pc->c->push_parse(&in, &j->parsed) != 0) {
        pc->n[PUSH_MALFORMED]++;
        log_warn("msg=\"push unreadable; nothing stored\" carrier=%s "
                 "why=%s",
                 pc->c->name,
                 log_quote(j->parsed.result.problem, qbuf, sizeof(qbuf)));
        answer_error(pc, t0, cb, arg, 400, "malformed",
                     "the push could not be read", NULL);
        job_free(j);
        return;
    }
    switch (j->parsed.kind) {
    case CARRIER_PUSH_VALIDATE:
        pc->n[PUSH_ACTIVATION]++;
        log_info("msg=\"push subscription validating\" carrier=%s",
                 pc->c->name);
        answer_parsed(pc, t0, cb, arg, &j->parsed);
        activate(p, pc, cc, &j->parsed);
        job_free(j);
        return;
    case CARRIER_PUSH_NOTICE:
        pc->n[PUSH_NOTICE]++;
        log_info("msg=\"push notice\" carrier=%s scope=%s", pc->c->name,
                 log_quote(j->parsed.scope ? j->parsed.scope : "", qbuf,
                           sizeof(qbuf)));
        answer_parsed(pc, t0, cb, arg, &j->parsed);
        job_free(j);
        return;
    case CARRIER_PUSH_EVENTS:
        break;
    }
    j->p = p;
    j->next_job = p->jobs;
    if (p->jobs != NULL)
        p->jobs->prev_job = j;
    p->jobs = j;
    job_step(j);
}

/* --- life cycle and metrics --- */

struct push *push_new(uv_loop_t *loop, const struct cfg *cfg, struct store *st,
                      struct fetch_engine *fe)
{
    const struct carrier *const *all = carrier_all();
    struct push *p = wm_xcalloc(1, sizeof(*p));
    size_t n = 0;

    p->loop = loop;
    p->cfg = cfg;
    p->st = st;
    p->fe = fe;
    for (size_t i = 0; all[i] != NULL; i++)
        n += all[i]->push_parse != NULL;
    p->pc = wm_xcalloc(n ? n : 1, sizeof(*p->pc));
    for (size_t i = 0; all[i] != NULL; i++)
        if (all[i]->push_parse != NULL)
            p->pc[p->n_pc++].c = all[i];
    return p;
}

void push_reload(struct push *p, const struct cfg *cfg)
{
    p->cfg = cfg;
    for (struct job *j = p->jobs; j != NULL; j = j->next_job)
        j->cc = cfg_carrier(cfg, j->pc->c->name);
}

void push_set_merged_cb(struct push *p, push_merged_cb *cb, void *arg)
{
    p->merged_cb = cb;
    p->merged_arg = arg;
}

void push_metrics(const struct push *p, struct metrics_buf *out)
{
    metrics_head(out, "wismo_push_total", "counter",
                 "Carrier pushes, by carrier and outcome (shipments for "
                 "accepted, duplicate and unknown; requests otherwise).");
    for (size_t i = 0; i < p->n_pc; i++)
        for (int o = 0; o < PUSH_OUTCOMES; o++)
            metrics_printf(out,
                           "wismo_push_total{carrier=\"%s\",outcome=\"%s\"} "
                           "%llu\n",
                           p->pc[i].c->name, outcome_names[o],
                           (unsigned long long)p->pc[i].n[o]);
    metrics_head(out, "wismo_push_answer_seconds", "histogram",
                 "Time from a push's arrival to its answer (merged).");
    for (size_t i = 0; i < p->n_pc; i++)
        metrics_histogram(out, "wismo_push_answer_seconds", "carrier",
                          p->pc[i].c->name, push_lat_bounds, PUSH_LAT_BUCKETS,
                          p->pc[i].lat.le, p->pc[i].lat.sum,
                          p->pc[i].lat.count);
}

void push_free(struct push *p)
{
    if (p == NULL)
        return;
    /* Pushes still merging: answered now; their store callbacks only free
     * them. */
    while (p->jobs != NULL) {
        struct job *j = p->jobs;

        p->jobs = j->next_job;
        j->p = NULL;
        answer_error(j->pc, j->t0, j->cb, j->arg, 503, "unavailable",
                     "shutting down: retry", "Retry-After: 5\r\n");
    }
    while (p->activations != NULL) {
        struct activation *a = p->activations;

        p->activations = a->next;
        a->p = NULL; /* the fetch engine's cancel frees it */
    }
    free(p->pc);
    free(p);
}
