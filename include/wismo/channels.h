/*
 * Notification channels: how one rendered message becomes a request.
 * Webhook and SMS build an HTTP request (struct httpreq) for the fetch
 * engine and classify its answer; e-mail goes over SMTP with libcurl's
 * easy interface on libuv's thread pool (the fetch engine only speaks
 * HTTP), so the loop never blocks on a mail server.
 */
#ifndef WISMO_CHANNELS_H
#define WISMO_CHANNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "wismo/httpreq.h"

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

/* The RFC 5322 message (CRLF lines, MIME multipart/alternative text+HTML,
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

#endif
