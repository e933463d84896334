/*
 * Helpers shared by the carrier adapters: request assembly, URL and Basic
 * auth encoding, OAuth2 client credentials, HTTP status classification and
 * JSON access. Pure functions: no I/O, no clock.
 */
#include "wismo/carrier.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/wm.h"

void carrier_req_init(struct carrier_req *req)
{
    memset(req, 0, sizeof(*req));
    req->method = "GET";
}

void carrier_req_clear(struct carrier_req *req)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->url);
    free(req->body);
    carrier_req_init(req);
}

void carrier_req_url(struct carrier_req *req, const struct carrier_conf *conf,
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

int carrier_req_header(struct carrier_req *req, const char *name,
                       const char *value)
{
    if (req->n_headers == CARRIER_MAX_HEADERS)
        return WM_EINVAL;
    req->headers[req->n_headers].name = wm_xstrdup(name);
    req->headers[req->n_headers].value = wm_xstrdup(value);
    req->n_headers++;
    return 0;
}

void carrier_req_body(struct carrier_req *req, char *body)
{
    free(req->body);
    req->body = body;
    req->body_len = body != NULL ? strlen(body) : 0;
}

const char *carrier_req_find_header(const struct carrier_req *req,
                                    const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

char *carrier_url_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s);
    char *out = wm_xmalloc(3 * n + 1), *o = out;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
            *o++ = (char)*p;
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static char *base64(const unsigned char *in, size_t n)
{
    static const char tab[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = wm_xmalloc((n + 2) / 3 * 4 + 1), *o = out;

    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)in[i + 1] << 8;
        if (i + 2 < n)
            v |= in[i + 2];
        *o++ = tab[v >> 18 & 63];
        *o++ = tab[v >> 12 & 63];
        *o++ = i + 1 < n ? tab[v >> 6 & 63] : '=';
        *o++ = i + 2 < n ? tab[v & 63] : '=';
    }
    *o = '\0';
    return out;
}

char *carrier_basic_auth(const char *user, const char *pass)
{
    size_t ul = strlen(user), pl = strlen(pass);
    char *plain = wm_xmalloc(ul + pl + 2), *b64, *out;

    memcpy(plain, user, ul);
    plain[ul] = ':';
    memcpy(plain + ul + 1, pass, pl + 1);
    b64 = base64((const unsigned char *)plain, ul + pl + 1);
    out = wm_xmalloc(strlen(b64) + 7);
    strcpy(out, "Basic ");
    strcat(out, b64);
    free(b64);
    /* The plain credentials must not linger in freed memory. */
    memset(plain, 0, ul + pl + 1);
    free(plain);
    return out;
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
                           bool in_body, const char *extra,
                           struct carrier_req *req)
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
    id = carrier_url_escape(conf->client_id);
    secret = carrier_url_escape(conf->client_secret);
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
    carrier_req_body(req, body);
    body = NULL;
    carrier_req_header(req, "Content-Type",
                       "application/x-www-form-urlencoded");
    carrier_req_header(req, "Accept", "application/json");
    if (!in_body) {
        auth = carrier_basic_auth(conf->client_id, conf->client_secret);
        carrier_req_header(req, "Authorization", auth);
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
    if (json_is_integer(exp) && json_integer_value(exp) > 0)
        tok->expires_in = (long)json_integer_value(exp);
    else if (json_is_string(exp))
        tok->expires_in = strtol(json_string_value(exp), NULL, 10);
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
    long v;
    char *end;

    if (value == NULL)
        return -1;
    while (isspace((unsigned char)*value))
        value++;
    if (!isdigit((unsigned char)*value))
        return -1;
    v = strtol(value, &end, 10);
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0' || v < 0 || v > 86400 * 7)
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
