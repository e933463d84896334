/*
 * Notification channels (see wismo/chan.h): webhook signing, SMS
 * provider requests, e-mail formatting and SMTP on the thread pool.
 */
#include "wismo/chan.h"

#include <ctype.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "wismo/carrier.h"
#include "wismo/fetch.h"
#include "wismo/ntmpl.h"
#include "wismo/outbox.h"
#include "wismo/registration.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

bool chan_e164_valid(const char *p)
{
    return registration_e164_valid(p); /* the one rule */
}

void chan_webhook_sign(const char *secret, long long ts, const char *body,
                       size_t len, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    char head[32];
    int hl = snprintf(head, sizeof(head), "%lld.", ts);
    unsigned char *msg = wm_xmalloc((size_t)hl + len + 1);

    memcpy(msg, head, (size_t)hl);
    memcpy(msg + hl, body, len);
    HMAC(EVP_sha256(), secret != NULL ? secret : "",
         (int)(secret != NULL ? strlen(secret) : 0), msg, (size_t)hl + len, mac,
         &maclen);
    free(msg);
    for (unsigned int i = 0; i < maclen && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
    out[64] = '\0';
}

int chan_webhook_request(const char *url, const char *secret, long long ts,
                         const char *idem_key, const char *body,
                         struct httpreq *req)
{
    char sig[65], hv[80], tsb[24];

    if (url == NULL || url[0] == '\0')
        return WM_EINVAL;
    httpreq_init(req);
    req->method = "POST";
    req->url = wm_xstrdup(url);
    chan_webhook_sign(secret, ts, body, strlen(body), sig);
    snprintf(hv, sizeof(hv), "v1=%s", sig);
    snprintf(tsb, sizeof(tsb), "%lld", ts);
    httpreq_header(req, "Content-Type", "application/json");
    httpreq_header(req, "Wismo-Timestamp", tsb);
    httpreq_header(req, "Wismo-Signature", hv);
    httpreq_header(req, "Wismo-Idempotency-Key", idem_key);
    httpreq_body(req, wm_xstrdup(body));
    return 0;
}

static char *form_escape(const char *s)
{
    char *e = httpreq_url_escape(s);

    return e != NULL ? e : wm_xstrdup("");
}

int chan_sms_request(const char *provider, const char *base_url,
                     const char *account, const char *token, const char *from,
                     const char *to, const char *text, const char *idem_key,
                     struct httpreq *req)
{
    char *url = NULL, *body = NULL;
    size_t ul;

    if (provider == NULL || base_url == NULL || !chan_e164_valid(to) ||
        token == NULL || from == NULL)
        return WM_EINVAL;
    ul = strlen(base_url);
    while (ul > 0 && base_url[ul - 1] == '/')
        ul--;
    httpreq_init(req);
    req->method = "POST";
    if (strcmp(provider, "twilio") == 0) {
        char *acc, *a, *b, *c, *auth;
        size_t n;

        if (account == NULL || account[0] == '\0')
            return WM_EINVAL;
        acc = form_escape(account);
        n = ul + strlen(acc) + 64;
        url = wm_xmalloc(n);
        snprintf(url, n, "%.*s/2010-04-01/Accounts/%s/Messages.json", (int)ul,
                 base_url, acc);
        free(acc);
        a = form_escape(to);
        b = form_escape(from);
        c = form_escape(text);
        n = strlen(a) + strlen(b) + strlen(c) + 32;
        body = wm_xmalloc(n);
        snprintf(body, n, "To=%s&From=%s&Body=%s", a, b, c);
        free(a);
        free(b);
        free(c);
        auth = httpreq_basic_auth(account, token);
        httpreq_header(req, "Authorization", auth);
        free(auth);
        httpreq_header(req, "Content-Type",
                       "application/x-www-form-urlencoded");
    } else if (strcmp(provider, "messagebird") == 0) {
        json_t *o = json_pack("{s:s, s:[s], s:s}", "originator", from,
                              "recipients", to, "body", text);
        char auth[512];

        if (o == NULL)
            return WM_EINVAL;
        body = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(o);
        url = wm_xmalloc(ul + 16);
        snprintf(url, ul + 16, "%.*s/messages", (int)ul, base_url);
        snprintf(auth, sizeof(auth), "AccessKey %s", token);
        httpreq_header(req, "Authorization", auth);
        httpreq_header(req, "Content-Type", "application/json");
    } else {
        return WM_EINVAL;
    }
    req->url = url;
    httpreq_header(req, "Idempotency-Key", idem_key);
    httpreq_body(req, body);
    return 0;
}

enum chan_verdict chan_http_verdict(int error, long st)
{
    if (error != 0 || st == 0)
        return CHAN_RETRY;
    if (st >= 200 && st < 300)
        return CHAN_SENT;
    if (st == 408 || st == 409 || st == 425 || st == 429 || st >= 500)
        return CHAN_RETRY;
    return CHAN_PERMANENT;
}

/* --- e-mail --- */

char *chan_mail_addr(const char *from)
{
    const char *lt = strchr(from, '<'), *gt;

    if (lt != NULL && (gt = strchr(lt, '>')) != NULL)
        return wm_xstrndup(lt + 1, (size_t)(gt - lt - 1));
    return wm_xstrdup(from);
}

char *chan_mail_name(const char *from)
{
    const char *lt = strchr(from, '<');
    size_t n;

    if (lt == NULL)
        return NULL;
    n = (size_t)(lt - from);
    while (n > 0 && from[n - 1] == ' ')
        n--;
    while (n > 0 && (*from == ' ' || *from == '"')) {
        from++;
        n--;
    }
    if (n > 0 && from[n - 1] == '"')
        n--;
    return n > 0 ? wm_xstrndup(from, n) : NULL;
}

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* base64 of s into a new string, lines of 76 with CRLF when wrap. */
static char *base64(const unsigned char *s, size_t n, bool wrap)
{
    size_t cap = (n + 2) / 3 * 4 + (n / 57 + 2) * 2 + 1, o = 0, col = 0;
    char *out = wm_xmalloc(cap);

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
        col += 4;
        if (wrap && col >= 76) {
            out[o++] = '\r';
            out[o++] = '\n';
            col = 0;
        }
    }
    if (wrap && col > 0) {
        out[o++] = '\r';
        out[o++] = '\n';
    }
    out[o] = '\0';
    return out;
}

/* Encoded words are "=?UTF-8?B?" base64 "?=": 12 characters around the
 * base64, which carries 3 bytes in 4 characters. */
#define CHAN_EW_OVERHEAD 12
#define CHAN_EW_MAX      75 /* RFC 2047: an encoded word's length */
#define CHAN_LINE_MAX    76 /* RFC 2047: a line holding encoded words */

/*
 * The value of header name for s (owned): s itself when it is printable
 * ASCII; else RFC 2047 encoded words, each at most 75 characters and
 * split between characters (never inside one), folded (CRLF and a space)
 * so that no line, the "Name: " of the first included, is over 76.
 */
static char *header_value(const char *name, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), col = strlen(name) + 2, at = 0, o = 0, cap;
    bool ascii = true;
    char *out;

    for (size_t i = 0; i < n; i++)
        if (u[i] >= 0x80 || u[i] < 0x20 || u[i] == 0x7f)
            ascii = false;
    if (ascii)
        return wm_xstrdup(s);
    /* each word carries at least one byte: at most n words of < 80 */
    cap = n * 80 + 1;
    out = wm_xmalloc(cap);
    while (at < n) {
        size_t room = CHAN_EW_MAX, take;
        char *e;

        if (col + room > CHAN_LINE_MAX)
            room = CHAN_LINE_MAX - col;
        take = (room - CHAN_EW_OVERHEAD) / 4 * 3;
        if (take > n - at)
            take = n - at;
        /* end before a continuation byte: whole characters only */
        while (take > 1 && at + take < n && (u[at + take] & 0xC0) == 0x80)
            take--;
        e = base64(u + at, take, false);
        o += (size_t)snprintf(out + o, cap - o,
                              "%s=?UTF-8?B?%s?=", at > 0 ? "\r\n " : "", e);
        free(e);
        at += take;
        col = 1; /* the folded line's leading space */
    }
    out[o] = '\0';
    return out;
}

/* Plain text with CRLF line ends (owned). */
static char *crlf(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = wm_xmalloc(2 * n + 3);

    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r'))
            out[o++] = '\r';
        out[o++] = s[i];
    }
    out[o++] = '\r';
    out[o++] = '\n';
    out[o] = '\0';
    return out;
}

char *chan_mail_format(const struct chan_mail *m)
{
    char *addr = chan_mail_addr(m->from), *dom, *subj, *t, *h, *tb, *hb;
    char date[64], mid[128], *out;
    unsigned char dg[SHA256_DIGEST_LENGTH];
    char hex[33];
    time_t now = (time_t)m->now;
    struct tm tm;
    size_t n;

    dom = strchr(addr, '@');
    dom = dom != NULL ? dom + 1 : "localhost";
    SHA256((const unsigned char *)m->idem_key, strlen(m->idem_key), dg);
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    snprintf(mid, sizeof(mid), "<%s.wismo@%.40s>", hex, dom);
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    subj = header_value("Subject", m->subject);
    t = crlf(m->text);
    h = ntmpl_html(m->text);
    tb = base64((const unsigned char *)t, strlen(t), true);
    hb = base64((const unsigned char *)h, strlen(h), true);
    n = strlen(tb) + strlen(hb) + strlen(subj) + strlen(m->from) +
        strlen(m->to) + 3 * strlen(m->idem_key) + strlen(addr) + 1024;
    out = wm_xmalloc(n);
    snprintf(out, n,
             "Date: %s\r\n"
             "From: %s\r\n"
             "To: <%s>\r\n"
             "Subject: %s\r\n"
             "Message-ID: %s\r\n"
             "Wismo-Idempotency-Key: %s\r\n"
             "List-Unsubscribe: <mailto:%s?subject=unsubscribe%%20%s>\r\n"
             "Auto-Submitted: auto-generated\r\n"
             "MIME-Version: 1.0\r\n"
             "Content-Type: multipart/alternative; "
             "boundary=\"=_wismo_%s\"\r\n"
             "\r\n"
             "--=_wismo_%s\r\n"
             "Content-Type: text/plain; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n"
             "\r\n%s"
             "--=_wismo_%s\r\n"
             "Content-Type: text/html; charset=utf-8\r\n"
             "Content-Transfer-Encoding: base64\r\n"
             "\r\n%s"
             "--=_wismo_%s--\r\n",
             date, m->from, m->to, subj, mid, m->idem_key, addr, m->idem_key,
             hex, hex, tb, hex, hb, hex);
    free(addr);
    free(subj);
    free(t);
    free(h);
    free(tb);
    free(hb);
    return out;
}

/* --- SMTP on the thread pool --- */

struct chan_smtp_job {
    uv_work_t work;
    char *url, *user, *pass, *from, *rcpt, *msg;
    size_t msg_len, off;
    long timeout_ms;
    int insecure;
    atomic_int abort;
    chan_smtp_cb *cb;
    void *arg;
    /* results, written by the worker */
    CURLcode res;
    long code;
    char err[CURL_ERROR_SIZE];
};

static size_t smtp_read(char *buf, size_t size, size_t nmemb, void *arg)
{
    struct chan_smtp_job *j = arg;
    size_t n = size * nmemb, left = j->msg_len - j->off;

    if (n > left)
        n = left;
    memcpy(buf, j->msg + j->off, n);
    j->off += n;
    return n;
}

static int smtp_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
                         curl_off_t d)
{
    struct chan_smtp_job *j = arg;

    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return atomic_load(&j->abort) ? 1 : 0;
}

static void smtp_work(uv_work_t *w)
{
    struct chan_smtp_job *j = w->data;
    struct curl_slist *rc = NULL;
    CURL *e = curl_easy_init();

    if (e == NULL) {
        j->res = CURLE_OUT_OF_MEMORY;
        return;
    }
    rc = curl_slist_append(rc, j->rcpt);
    curl_easy_setopt(e, CURLOPT_URL, j->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, j->from);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, rc);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, smtp_read);
    curl_easy_setopt(e, CURLOPT_READDATA, j);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)j->msg_len);
    curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, j->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, smtp_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, j);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, j->err);
    if (j->insecure) {
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (j->user != NULL) {
        curl_easy_setopt(e, CURLOPT_USERNAME, j->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, j->pass ? j->pass : "");
    }
    j->res = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &j->code);
    curl_easy_cleanup(e);
    curl_slist_free_all(rc);
}

static void smtp_after(uv_work_t *w, int status)
{
    struct chan_smtp_job *j = w->data;
    enum chan_verdict v;
    char detail[160];

    if (status == UV_ECANCELED) {
        v = CHAN_RETRY;
        snprintf(detail, sizeof(detail), "canceled");
    } else if (j->res == CURLE_OK) {
        v = CHAN_SENT;
        snprintf(detail, sizeof(detail), "smtp %ld", j->code);
    } else {
        /* 5xx on RCPT or DATA: permanent; the rest is worth a retry */
        v = (j->code >= 500 && j->code < 600 &&
             (j->res == CURLE_SEND_ERROR || j->res == CURLE_RECV_ERROR ||
              j->res == CURLE_LOGIN_DENIED || j->res == CURLE_UPLOAD_FAILED ||
              j->res == CURLE_QUOTE_ERROR))
                ? CHAN_PERMANENT
                : CHAN_RETRY;
        snprintf(detail, sizeof(detail), "smtp %ld: %.100s", j->code,
                 j->err[0] != '\0' ? j->err : curl_easy_strerror(j->res));
    }
    j->cb(j->arg, v, detail);
    free(j->url);
    free(j->user);
    free(j->pass);
    free(j->from);
    free(j->rcpt);
    free(j->msg);
    free(j);
}

struct chan_smtp_job *chan_smtp_send(uv_loop_t *loop,
                                     const struct chan_smtp_opts *o,
                                     const char *mail_from, const char *rcpt,
                                     const char *message, chan_smtp_cb *cb,
                                     void *arg)
{
    struct chan_smtp_job *j;
    char *r;

    if (o->url == NULL || mail_from == NULL || rcpt == NULL ||
        strchr(rcpt, '@') == NULL || strpbrk(rcpt, "\r\n<>") != NULL)
        return NULL;
    j = wm_xcalloc(1, sizeof(*j));
    j->work.data = j;
    j->url = wm_xstrdup(o->url);
    j->user = wm_xstrdup_or_null(o->username);
    j->pass = wm_xstrdup_or_null(o->password);
    j->from = wm_xmalloc(strlen(mail_from) + 3);
    sprintf(j->from, "<%s>", mail_from);
    r = wm_xmalloc(strlen(rcpt) + 3);
    sprintf(r, "<%s>", rcpt);
    j->rcpt = r;
    j->msg = wm_xstrdup(message);
    j->msg_len = strlen(message);
    j->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
    j->insecure = o->insecure;
    atomic_init(&j->abort, 0);
    j->cb = cb;
    j->arg = arg;
    if (uv_queue_work(loop, &j->work, smtp_work, smtp_after) != 0) {
        free(j->url);
        free(j->user);
        free(j->pass);
        free(j->from);
        free(j->rcpt);
        free(j->msg);
        free(j);
        return NULL;
    }
    return j;
}

void chan_smtp_abort(struct chan_smtp_job *job)
{
    if (job != NULL)
        atomic_store(&job->abort, 1);
}

/* --- settings --- */

void chan_conf_clear(struct chan_conf *c)
{
    char **f[] = {&c->smtp_url,    &c->smtp_from,      &c->smtp_user,
                  &c->smtp_pass,   &c->sms_provider,   &c->sms_base,
                  &c->sms_account, &c->sms_token,      &c->sms_from,
                  &c->webhook_url, &c->webhook_secret, &c->shop};

    for (size_t i = 0; i < WM_ARRAY_LEN(f); i++) {
        char **slot = f[i]; /* free(*f[i]) reads to cppcheck as a declaration */
        free(*slot);
        *slot = NULL;
    }
}

static char *dup_set(const char *s)
{
    return s != NULL && s[0] != '\0' ? wm_xstrdup(s) : NULL;
}

void chan_conf_load(struct chan_conf *c, const struct cfg *cfg,
                    const char *shop)
{
    chan_conf_clear(c);
    c->smtp_url = dup_set(cfg->smtp_url);
    c->smtp_from = dup_set(cfg->smtp_from);
    c->smtp_user = dup_set(cfg->smtp_username);
    c->smtp_pass = dup_set(cfg->smtp_password);
    c->sms_provider = dup_set(cfg->sms_provider);
    c->sms_base = dup_set(cfg->sms_base_url);
    c->sms_account = dup_set(cfg->sms_account);
    c->sms_token = dup_set(cfg->sms_token);
    c->sms_from = dup_set(cfg->sms_from);
    c->webhook_url = dup_set(cfg->webhook_url);
    c->webhook_secret = dup_set(cfg->webhook_secret);
    if (shop != NULL)
        c->shop = wm_xstrdup(shop);
    else if (c->smtp_from != NULL)
        c->shop = chan_mail_name(c->smtp_from);
    if (c->shop == NULL)
        c->shop = wm_xstrdup("");
}

/* --- sends --- */

struct chan_send {
    const struct chan_env *env;
    chan_done_cb *cb;
    void *arg;
    struct chan_smtp_job *job; /* e-mail in flight */
    bool abandoned;            /* HTTP: the callback is not wanted */
    char *subject, *text;      /* what was sent (owned), or NULL */
};

static void send_free(struct chan_send *s)
{
    free(s->subject);
    free(s->text);
    free(s);
}

/* Calls the send's callback with its text, then frees it. */
static void send_done(struct chan_send *s, enum chan_verdict v,
                      const char *detail)
{
    struct chan_text t = {s->subject, s->text};

    s->cb(s->arg, v, detail, &t);
    send_free(s);
}

/* A date in the recipient's zone, written the locale's way. */
static void local_date(const char *iso, const char *zone, const char *lang,
                       char *buf, size_t size)
{
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
                                         "May", "Jun", "Jul", "Aug",
                                         "Sep", "Oct", "Nov", "Dec"};
    struct wmtime_civil cv;
    int64_t t;
    int off = 0;

    buf[0] = '\0';
    if (iso[0] == '\0' || wmtime_parse_iso(iso, zone, &t) != 0)
        return;
    wmtime_zone_offset(zone, t, &off);
    wmtime_to_civil(t + off, &cv);
    if (strncmp(lang, "nl", 2) == 0)
        snprintf(buf, size, "%02d-%02d-%04d", cv.day, cv.month, cv.year);
    else if (strncmp(lang, "de", 2) == 0)
        snprintf(buf, size, "%02d.%02d.%04d", cv.day, cv.month, cv.year);
    else if (strncmp(lang, "fr", 2) == 0)
        snprintf(buf, size, "%02d/%02d/%04d", cv.day, cv.month, cv.year);
    else
        snprintf(buf, size, "%d %s %04d", cv.day, months[(cv.month + 11) % 12],
                 cv.year);
}

/* Template variables from a message's snapshot (new reference). */
static json_t *render_vars(const struct chan_conf *conf,
                           const struct outbox_ctx *ctx)
{
    const struct carrier *c = carrier_find(ctx->carrier);
    const char *zone = ctx->zone[0] != '\0' ? ctx->zone : "UTC";
    char eta[32], promised[32];
    json_t *v;

    local_date(ctx->estimated_delivery, zone, ctx->locale, eta, sizeof(eta));
    local_date(ctx->promised_delivery, zone, ctx->locale, promised,
               sizeof(promised));
    v = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "shop", conf->shop,
                  "order_id", ctx->order_id, "carrier",
                  c != NULL && c->display_name != NULL ? c->display_name
                                                       : ctx->carrier,
                  "tracking_number", ctx->tracking_number, "tracking_url",
                  ctx->tracking_url, "pickup_point", ctx->pickup_point,
                  "status", ctx->status);
    if (eta[0] != '\0')
        json_object_set_new(v, "eta", json_string(eta));
    if (promised[0] != '\0')
        json_object_set_new(v, "promised", json_string(promised));
    return v;
}

/* The text of m for channel ("sms" or "email"); *subject for e-mail. */
static char *render(const struct chan_send *s, const struct outbox_msg *m,
                    const char *channel, char **subject)
{
    json_t *vars = render_vars(s->env->conf, &m->ctx);
    char *text = ntmpl_render(s->env->tm, nrules_reason_name(m->reason),
                              channel, m->ctx.locale, vars, subject);

    json_decref(vars);
    return text;
}

static void on_http_done(void *arg, const struct fetch_result *res)
{
    struct chan_send *s = arg;
    char detail[160];

    if (!s->abandoned) {
        snprintf(detail, sizeof(detail), "http %ld%s%s", res->http_status,
                 res->error != 0 ? " " : "",
                 res->error != 0 ? res->errmsg : "");
        send_done(s, chan_http_verdict(res->error, res->http_status), detail);
        return;
    }
    send_free(s);
}

/* Submits req (cleared here). 0 or WM_EIO. */
static int submit(struct chan_send *s, struct httpreq *req)
{
    int rv;

    req->timeout_ms = s->env->timeout_ms;
    rv = fetch_submit(s->env->fe, req, on_http_done, s);
    httpreq_clear(req);
    return rv == 0 ? 0 : WM_EIO;
}

static bool webhook_ready(const struct chan_conf *c)
{
    return c->webhook_url != NULL;
}

static char *webhook_body(const struct outbox_msg *m)
{
    const struct outbox_ctx *c = &m->ctx;
    const char *eta = c->estimated_delivery, *prom = c->promised_delivery;
    json_t *b = json_pack(
        "{s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s}", "id", m->key,
        "reason", nrules_reason_name(m->reason), "episode",
        (json_int_t)m->episode, "shipment_id", m->id, "order_id", c->order_id,
        "carrier", c->carrier, "tracking_number", c->tracking_number, "status",
        c->status, "estimated_delivery",
        eta[0] ? json_string(eta) : json_null(), "promised_delivery",
        prom[0] ? json_string(prom) : json_null(), "created_at", m->created_at);
    char *body =
        b != NULL ? json_dumps(b, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

    json_decref(b);
    return body;
}

static int webhook_start(struct chan_send *s, const struct outbox_msg *m,
                         int64_t now_ms, const char **why)
{
    const struct chan_conf *c = s->env->conf;
    struct httpreq req;
    char *body = webhook_body(m);
    int rv = WM_EINVAL;

    httpreq_init(&req);
    if (body != NULL)
        rv = chan_webhook_request(c->webhook_url, c->webhook_secret,
                                  (long long)(now_ms / 1000), m->key, body,
                                  &req);
    s->subject = wm_xstrdup(nrules_reason_name(m->reason));
    s->text = body;
    if (rv != 0) {
        httpreq_clear(&req);
        *why = "bad_request";
        return WM_EINVAL;
    }
    return submit(s, &req);
}

static bool sms_ready(const struct chan_conf *c)
{
    return c->sms_provider != NULL;
}

static int sms_start(struct chan_send *s, const struct outbox_msg *m,
                     int64_t now_ms, const char **why)
{
    const struct chan_conf *c = s->env->conf;
    struct httpreq req;
    char *text = render(s, m, "sms", NULL);
    int rv;

    (void)now_ms;
    httpreq_init(&req);
    rv = chan_sms_request(c->sms_provider, c->sms_base, c->sms_account,
                          c->sms_token, c->sms_from, m->to, text, m->key, &req);
    s->text = text;
    if (rv != 0) {
        httpreq_clear(&req);
        *why = "invalid_sms";
        return WM_EINVAL;
    }
    return submit(s, &req);
}

static bool email_ready(const struct chan_conf *c)
{
    return c->smtp_url != NULL;
}

static void on_smtp_done(void *arg, enum chan_verdict v, const char *detail)
{
    struct chan_send *s = arg;

    s->job = NULL;
    send_done(s, v, detail);
}

static int email_start(struct chan_send *s, const struct outbox_msg *m,
                       int64_t now_ms, const char **why)
{
    const struct chan_conf *c = s->env->conf;
    struct chan_smtp_opts so = {0};
    struct chan_mail mail = {0};
    char *subject = NULL, *text, *message, *from;

    if (c->smtp_url == NULL || c->smtp_from == NULL) {
        *why = "channel_unconfigured";
        return WM_EINVAL;
    }
    text = render(s, m, "email", &subject);
    mail.from = c->smtp_from;
    mail.to = m->to;
    mail.subject = subject;
    mail.text = text;
    mail.idem_key = m->key;
    mail.now = now_ms / 1000;
    message = chan_mail_format(&mail);
    so.url = c->smtp_url;
    so.username = c->smtp_user;
    so.password = c->smtp_pass;
    so.timeout_ms = s->env->timeout_ms;
    so.insecure = s->env->smtp_insecure;
    from = chan_mail_addr(c->smtp_from);
    s->job = chan_smtp_send(s->env->loop, &so, from, m->to, message,
                            on_smtp_done, s);
    free(from);
    free(message);
    s->subject = subject;
    s->text = text;
    if (s->job == NULL)
        *why = "invalid_recipient";
    return s->job != NULL ? 0 : WM_EINVAL;
}

static const struct chan chan_email = {
    .name = "email",
    .kind = NRULES_EMAIL,
    .ready = email_ready,
    .start = email_start,
};

static const struct chan chan_sms = {
    .name = "sms",
    .kind = NRULES_SMS,
    .ready = sms_ready,
    .start = sms_start,
};

static const struct chan chan_webhook = {
    .name = "webhook",
    .kind = NRULES_WEBHOOK,
    .ready = webhook_ready,
    .start = webhook_start,
};

const struct chan *const chan_table[NRULES_NCHANNELS] = {
    [NRULES_EMAIL] = &chan_email,
    [NRULES_SMS] = &chan_sms,
    [NRULES_WEBHOOK] = &chan_webhook,
};

unsigned chan_ready(const struct chan_conf *conf)
{
    unsigned ready = 0;

    for (int c = 0; c < NRULES_NCHANNELS; c++)
        if (chan_table[c]->ready(conf))
            ready |= 1u << c;
    return ready;
}

int chan_send(const struct chan_env *env, const struct outbox_msg *m,
              int64_t now_ms, chan_done_cb *cb, void *arg,
              struct chan_send **out, enum chan_verdict *v, const char **why)
{
    const struct chan *ch = chan_table[m->channel];
    struct chan_send *s;
    int rv;

    *out = NULL;
    *why = NULL;
    if (!ch->ready(env->conf)) {
        *v = CHAN_PERMANENT;
        *why = "channel_unconfigured";
        return WM_EINVAL;
    }
    s = wm_xcalloc(1, sizeof(*s));
    s->env = env;
    s->cb = cb;
    s->arg = arg;
    if ((rv = ch->start(s, m, now_ms, why)) != 0) {
        send_free(s);
        *v = rv == WM_EIO ? CHAN_RETRY : CHAN_PERMANENT;
        if (*why == NULL)
            *why = "submit_failed";
        return rv;
    }
    *out = s;
    return 0;
}

bool chan_abandon(struct chan_send *s)
{
    if (s->job != NULL) {
        chan_smtp_abort(s->job); /* its callback hands it back */
        return true;
    }
    s->abandoned = true;
    return false;
}
