/*
 * Notification channels: how an outbox message reaches a customer or the
 * shop. One const table (chan_table) holds e-mail, SMS and webhook behind
 * one interface, as carriers/ holds the carriers: each entry says whether
 * the settings make it usable and starts a send. Below the table, the
 * pieces they are built from: webhook and SMS build an HTTP request
 * (struct httpreq) for the fetch engine and classify its answer;
 * e-mail goes over SMTP with libcurl's easy interface on libuv's thread
 * pool (the fetch engine only speaks HTTP), so the loop never blocks on a
 * mail server. Texts come from the templates (wismo/ntmpl.h).
 */
#ifndef WISMO_CHAN_H
#define WISMO_CHAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/httpreq.h"
#include "wismo/cfg.h"
#include "wismo/nrules.h"

struct fetch_engine;
struct ntmpl;
struct outbox_msg;

/* The outcome of one send attempt. */
enum chan_verdict {
    CHAN_SENT,      /* delivered to the provider */
    CHAN_RETRY,     /* transient: transport, timeout, 408, 429, 5xx */
    CHAN_PERMANENT, /* the provider refused it: other 4xx, bad recipient */
};

/* True for "+" and 8-15 digits, the first not 0 (E.164). */
bool chan_e164_valid(const char *phone);

/* Lower-case hex HMAC-SHA256 of "<ts>.<body>" with secret into out
 * (65 bytes). */
void chan_webhook_sign(const char *secret, long long ts, const char *body,
                       size_t len, char out[65]);
/* A signed webhook POST of body (copied) to url. 0 or WM_EINVAL. */
int chan_webhook_request(const char *url, const char *secret, long long ts,
                         const char *idem_key, const char *body,
                         struct httpreq *req);

/* An SMS request for provider "twilio" or "messagebird". 0, or WM_EINVAL
 * (unknown provider, missing setting, invalid number). */
int chan_sms_request(const char *provider, const char *base_url,
                     const char *account, const char *token, const char *from,
                     const char *to, const char *text, const char *idem_key,
                     struct httpreq *req);

/* Maps an HTTP answer (status 0: transport error) to a verdict. */
enum chan_verdict chan_http_verdict(int error, long http_status);

/* --- e-mail --- */
struct chan_mail {
    const char *from;    /* "Shop <noreply@shop.example>" */
    const char *to;      /* an address */
    const char *subject; /* UTF-8 */
    const char *text;    /* UTF-8 plain text */
    const char *idem_key;
    int64_t now; /* Unix seconds, for the Date header */
};

/* The RFC 5322 message (CRLF lines; a Subject that is not ASCII in RFC 2047
 * encoded words of at most 75 characters, folded to lines of at most 76;
 * MIME multipart/alternative text+HTML,
 * base64 parts, Message-ID derived from idem_key, Wismo-Idempotency-Key,
 * List-Unsubscribe). Owned result. */
char *chan_mail_format(const struct chan_mail *m);
/* The address inside "Name <addr>" or addr itself (owned). */
char *chan_mail_addr(const char *from);
/* The display name of "Name <addr>" (owned), or NULL. */
char *chan_mail_name(const char *from);

struct chan_smtp_opts {
    const char *url; /* smtp:// (STARTTLS when offered) or smtps:// */
    const char *username, *password; /* or NULL */
    long timeout_ms;                 /* 0: 30000 */
    int insecure;                    /* skip TLS verification (tests) */
};

/* Called on the loop once per accepted send. detail: a short reason. */
typedef void chan_smtp_cb(void *arg, enum chan_verdict v, const char *detail);
struct chan_smtp_job;

/* Sends message (copied) to rcpt on loop's thread pool. NULL on bad
 * arguments (cb then never runs). */
struct chan_smtp_job *chan_smtp_send(uv_loop_t *loop,
                                     const struct chan_smtp_opts *o,
                                     const char *mail_from, const char *rcpt,
                                     const char *message, chan_smtp_cb *cb,
                                     void *arg);
/* Asks a running job to give up soon (its callback still runs, with
 * CHAN_RETRY). */
void chan_smtp_abort(struct chan_smtp_job *job);

/* --- the channel table --- */

/* The channels' settings from [smtp], [sms] and [webhook] (a copy). */
struct chan_conf {
    char *smtp_url, *smtp_from, *smtp_user, *smtp_pass;
    char *sms_provider, *sms_base, *sms_account, *sms_token, *sms_from;
    char *webhook_url, *webhook_secret;
    char *shop; /* {{shop}}: the given name, else the [smtp] from name */
};

/* Copies cfg's settings (conf is cleared first); shop may be NULL. */
void chan_conf_load(struct chan_conf *c, const struct cfg *cfg,
                    const char *shop);
void chan_conf_clear(struct chan_conf *c);

/* What every send borrows; must outlive the sends started with it. */
struct chan_env {
    uv_loop_t *loop;
    struct fetch_engine *fe; /* webhooks and SMS */
    const struct chan_conf *conf;
    const struct ntmpl *tm;
    long timeout_ms; /* per send */
    int smtp_insecure;
};

/* What a send handed the provider, as the customer (or the shop) got it:
 * e-mail: the subject and the plain-text body; SMS: the text (subject
 * NULL); webhook: the event name (the reason) and the JSON body. */
struct chan_text {
    const char *subject; /* or NULL */
    const char *text;    /* or NULL */
};

/* A send's end, on the loop. detail: a short reason without personal
 * data ("http 503", "smtp 250", "canceled"). t: the rendered message
 * (never NULL; its strings live during the call only). */
typedef void chan_done_cb(void *arg, enum chan_verdict v, const char *detail,
                          const struct chan_text *t);

struct chan_send; /* one send in flight */

struct chan {
    const char *name;
    enum nrules_channel kind;
    /* True when conf has what this channel needs. */
    bool (*ready)(const struct chan_conf *conf);
    /* Starts the send of m; 0, or a short reason why it cannot start
     * (the send is then refused permanently). */
    int (*start)(struct chan_send *s, const struct outbox_msg *m,
                 int64_t now_ms, const char **why);
};

/* Indexed by enum nrules_channel. */
extern const struct chan *const chan_table[NRULES_NCHANNELS];

/* 1u << channel for each channel ready under conf. */
unsigned chan_ready(const struct chan_conf *conf);

/* Sends m (borrowed: only read during the call) through its channel. 0:
 * cb runs exactly once, later, and *out is the send until then. Else the
 * send did not start: *v and *why say what to record (cb never runs). */
int chan_send(const struct chan_env *env, const struct outbox_msg *m,
              int64_t now_ms, chan_done_cb *cb, void *arg,
              struct chan_send **out, enum chan_verdict *v, const char **why);
/* Gives a send up at shutdown. true: its callback still runs soon (with
 * CHAN_RETRY); false: it never runs (the transport frees the send). */
bool chan_abandon(struct chan_send *s);

#endif
