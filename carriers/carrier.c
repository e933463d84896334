/*
 * Helpers shared by the carrier adapters: request URLs, OAuth2 client
 * credentials, HTTP status classification and JSON access. Pure functions: no
 * I/O, no clock.
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "wismo/norm.h"
#include "wismo/num.h"

/* A token lifetime beyond a year is nonsense: treated as none given. */
#define CARRIER_MAX_TOKEN_LIFE (366LL * 86400)
#include "wismo/wm.h"

void carrier_req_url(struct httpreq *req, const struct carrier_conf *conf,
                     const char *default_base, const char *path)
{
    const char *base =
        conf != NULL && conf->base_url != NULL && conf->base_url[0] != '\0'
            ? conf->base_url
            : default_base;
    size_t blen = strlen(base);

    while (blen > 0 && base[blen - 1] == '/') /* "host/" + "/path" */
        blen--;
    free(req->url);
    req->url = wm_xmalloc(blen + strlen(path) + 1);
    memcpy(req->url, base, blen);
    strcpy(req->url + blen, path);
}

void carrier_token_clear(struct carrier_token *tok)
{
    free(tok->access_token);
    tok->access_token = NULL;
    tok->expires_in = 0;
}

static bool have(const char *s)
{
    return s != NULL && s[0] != '\0';
}

int carrier_oauth2_request(const struct carrier_conf *conf,
                           const char *default_base, const char *default_path,
                           bool in_body, const char *extra, struct httpreq *req)
{
    char *id = NULL, *secret = NULL, *body = NULL, *auth = NULL;
    size_t len;
    int rc = WM_EINVAL;

    if (!have(conf->client_id) || !have(conf->client_secret))
        goto out;
    req->method = "POST";
    if (have(conf->token_url)) {
        free(req->url);
        req->url = wm_xstrdup(conf->token_url);
    } else {
        carrier_req_url(req, conf, default_base, default_path);
    }
    id = httpreq_url_escape(conf->client_id);
    secret = httpreq_url_escape(conf->client_secret);
    len = strlen(id) + strlen(secret) + (extra ? strlen(extra) : 0) + 80;
    body = wm_xmalloc(len);
    if (in_body)
        snprintf(body, len,
                 "grant_type=client_credentials&client_id=%s&client_secret=%s"
                 "%s%s",
                 id, secret, extra ? "&" : "", extra ? extra : "");
    else
        snprintf(body, len, "grant_type=client_credentials%s%s",
                 extra ? "&" : "", extra ? extra : "");
    httpreq_body(req, body);
    body = NULL;
    httpreq_header(req, "Content-Type", "application/x-www-form-urlencoded");
    httpreq_header(req, "Accept", "application/json");
    if (!in_body) {
        auth = httpreq_basic_auth(conf->client_id, conf->client_secret);
        httpreq_header(req, "Authorization", auth);
    }
    rc = 0;
out:
    free(id);
    free(secret);
    free(body);
    free(auth);
    return rc;
}

int carrier_oauth2_parse(const struct carrier_resp *resp,
                         struct carrier_token *tok)
{
    json_t *root = NULL, *exp;
    int64_t life;
    const char *token;
    int rc = WM_EPROTO;

    memset(tok, 0, sizeof(*tok));
    if (resp->http_status == 400 || resp->http_status == 401 ||
        resp->http_status == 403) {
        rc = WM_EINVAL; /* the credentials were refused */
        goto out;
    }
    if (resp->http_status < 200 || resp->http_status > 299 ||
        resp->body == NULL)
        goto out;
    root = json_loadb(resp->body, resp->body_len, 0, NULL);
    token = json_string_value(json_object_get(root, "access_token"));
    if (token == NULL || token[0] == '\0')
        goto out;
    exp = json_object_get(root, "expires_in");
    if (json_is_integer(exp) && json_integer_value(exp) > 0 &&
        json_integer_value(exp) <= CARRIER_MAX_TOKEN_LIFE)
        tok->expires_in = (long)json_integer_value(exp);
    else if (json_is_string(exp) && num_i64(json_string_value(exp), 0,
                                            CARRIER_MAX_TOKEN_LIFE, &life) == 0)
        tok->expires_in = (long)life;
    if (tok->expires_in < 0)
        tok->expires_in = 0;
    tok->access_token = wm_xstrdup(token);
    rc = 0;
out:
    json_decref(root);
    return rc;
}

bool carrier_same_number(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return false;
    for (;;) {
        while (isspace((unsigned char)*a))
            a++;
        while (isspace((unsigned char)*b))
            b++;
        if (*a == '\0' || *b == '\0')
            return *a == *b;
        if (toupper((unsigned char)*a) != toupper((unsigned char)*b))
            return false;
        a++;
        b++;
    }
}

int carrier_retry_after(const char *value)
{
    int64_t v;
    const char *end;
    size_t n;

    if (value == NULL)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    for (end = value; isdigit((unsigned char)*end); end++)
        ;
    n = (size_t)(end - value);
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || num_i64n(value, n, 0, 86400 * 7, &v) != 0)
        return -1;
    return (int)v;
}

int carrier_http_error(long status)
{
    if (status >= 200 && status <= 299)
        return -1;
    switch (status) {
    case 400:
        return MODEL_ERR_INVALID;
    case 401:
    case 403:
        return MODEL_ERR_AUTH;
    case 404:
        return MODEL_ERR_NOT_FOUND;
    case 429:
        return MODEL_ERR_RATE_LIMITED;
    default:
        return MODEL_ERR_CARRIER;
    }
}

int carrier_fail_all(const struct carrier_resp *resp, struct model_result *out,
                     enum model_error err)
{
    model_result_fail_all(out, resp->numbers, resp->n_numbers, err);
    if (err == MODEL_ERR_RATE_LIMITED)
        out->retry_after = carrier_retry_after(resp->retry_after);
    return 0;
}

int carrier_problem(struct model_result *out, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out->problem, sizeof(out->problem), fmt, ap);
    va_end(ap);
    return WM_EPROTO;
}

json_t *carrier_json_load(const struct carrier_resp *resp,
                          struct model_result *out)
{
    json_error_t jerr;
    json_t *root;

    if (resp->body == NULL || resp->body_len == 0) {
        carrier_problem(out, "empty body");
        return NULL;
    }
    root = json_loadb(resp->body, resp->body_len, 0, &jerr);
    if (root == NULL) {
        carrier_problem(out, "bad JSON at line %d column %d: %s", jerr.line,
                        jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_object(root) && !json_is_array(root)) {
        carrier_problem(out, "JSON body is not an object or array");
        json_decref(root);
        return NULL;
    }
    return root;
}

json_t *carrier_jget(json_t *obj, const char *path)
{
    char key[64];

    while (obj != NULL && *path != '\0') {
        size_t n = strcspn(path, ".");

        if (n == 0 || n >= sizeof(key))
            return NULL;
        memcpy(key, path, n);
        key[n] = '\0';
        obj = json_object_get(obj, key);
        path += n;
        if (*path == '.')
            path++;
    }
    return obj;
}

const char *carrier_jstr(json_t *obj, const char *path)
{
    return json_string_value(carrier_jget(obj, path));
}

bool carrier_number_ascii(const char *s, size_t max)
{
    size_t n = 0;

    if (s == NULL)
        return false;
    for (; s[n] != '\0'; n++)
        if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] >= 0x7f)
            return false;
    return n >= 1 && n <= max;
}

const char *carrier_jtext(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));

    return norm_blank(s) ? NULL : s;
}

const char *carrier_jleaf(json_t *obj, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(obj, key);

    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    }
    return NULL;
}

size_t carrier_jcount(json_t *v)
{
    if (json_is_array(v))
        return json_array_size(v);
    return json_is_object(v) ? 1 : 0;
}

json_t *carrier_jat(json_t *v, size_t i)
{
    return json_is_array(v) ? json_array_get(v, i) : v;
}

/* --- push --- */

void carrier_push_init(struct carrier_push *p)
{
    memset(p, 0, sizeof(*p));
    model_result_init(&p->result);
}

void carrier_push_clear(struct carrier_push *p)
{
    model_result_clear(&p->result);
    free(p->scope);
    free(p->ref);
    free(p->self);
    free(p->hook_secret);
    free(p->answer_body);
    carrier_push_init(p);
}

void carrier_feed_init(struct carrier_feed *f)
{
    memset(f, 0, sizeof(*f));
    f->error = -1;
    f->retry_after = -1;
}

void carrier_feed_clear(struct carrier_feed *f)
{
    for (size_t i = 0; i < f->n_numbers; i++)
        free(f->numbers[i]);
    free(f->numbers);
    free(f->problem);
    carrier_feed_init(f);
}

void carrier_subscribed_clear(struct carrier_subscribed *s)
{
    free(s->id);
    for (size_t i = 0; i < s->n_refused; i++)
        free(s->refused[i]);
    free(s->refused);
    memset(s, 0, sizeof(*s));
}

bool carrier_secret_eq(const char *a, const char *b)
{
    size_t la, lb;

    if (a == NULL || b == NULL)
        return false;
    la = strlen(a);
    lb = strlen(b);
    /* Lengths may leak (they are not the secret); the bytes may not. */
    return la == lb && CRYPTO_memcmp(a, b, la) == 0;
}

/* base64 of the HMAC-SHA256 of m1 m2 under key into out (>= 45 bytes). */
static bool carrier_hmac(const char *key, const char *m1, size_t l1,
                         const char *m2, size_t l2, char out[48])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mlen = 0;
    unsigned char *msg = wm_xmalloc(l1 + l2 + 1);
    bool ok;

    if (l1 > 0)
        memcpy(msg, m1, l1);
    if (m2 != NULL && l2 > 0)
        memcpy(msg + l1, m2, l2);
    ok = HMAC(EVP_sha256(), key, (int)strlen(key), msg,
              l1 + (m2 != NULL ? l2 : 0), mac, &mlen) != NULL &&
         mlen == 32;
    free(msg);
    if (ok)
        EVP_EncodeBlock((unsigned char *)out, mac, (int)mlen);
    return ok;
}

bool carrier_hmac_ok(const char *key, const char *m1, size_t l1, const char *m2,
                     size_t l2, const char *sig)
{
    char want[48];

    if (key == NULL || key[0] == '\0' || sig == NULL)
        return false;
    while (isspace((unsigned char)*sig))
        sig++;
    if (!carrier_hmac(key, m1, l1, m2, l2, want))
        return false;
    /* A trailing blank from a sloppy proxy is no reason to refuse. */
    {
        size_t n = strlen(sig), wl = strlen(want);

        while (n > 0 && isspace((unsigned char)sig[n - 1]))
            n--;
        return n == wl && CRYPTO_memcmp(sig, want, wl) == 0;
    }
}

char *carrier_hmac_b64(const char *key, const char *m, size_t len)
{
    char out[48];

    if (key == NULL || !carrier_hmac(key, m, len, NULL, 0, out))
        return NULL;
    return wm_xstrdup(out);
}

static int carrier_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

char *carrier_form_get(const char *form, size_t len, const char *name)
{
    size_t nl = strlen(name), i = 0;

    if (form == NULL)
        return NULL;
    while (i < len) {
        size_t end = i, eq;
        char *out, *o;

        while (end < len && form[end] != '&')
            end++;
        for (eq = i; eq < end && form[eq] != '='; eq++)
            ;
        if (eq - i != nl || memcmp(form + i, name, nl) != 0) {
            i = end + 1;
            continue;
        }
        o = out = wm_xmalloc(end - eq + 1);
        for (size_t k = eq + 1; k < end; k++) {
            if (form[k] == '+') {
                *o++ = ' ';
            } else if (form[k] == '%') {
                int hi = k + 2 < end ? carrier_hexval(form[k + 1]) : -1;
                int lo = k + 2 < end ? carrier_hexval(form[k + 2]) : -1;

                if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
                    free(out);
                    return NULL;
                }
                *o++ = (char)(hi << 4 | lo);
                k += 2;
            } else {
                *o++ = form[k];
            }
        }
        *o = '\0';
        return out;
    }
    return NULL;
}
