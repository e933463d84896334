/*
 * The neutral HTTP request type: assembly and release. Pure: no I/O.
 */
#include "wismo/httpreq.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wismo/wm.h"

void httpreq_init(struct httpreq *req)
{
    memset(req, 0, sizeof(*req));
    req->method = "GET";
}

void httpreq_clear(struct httpreq *req)
{
    for (size_t i = 0; i < req->n_headers; i++) {
        free(req->headers[i].name);
        free(req->headers[i].value);
    }
    free(req->url);
    free(req->body);
    httpreq_init(req);
}

int httpreq_header(struct httpreq *req, const char *name, const char *value)
{
    if (req->n_headers == HTTPREQ_MAX_HEADERS)
        return WM_EINVAL;
    req->headers[req->n_headers].name = wm_xstrdup(name);
    req->headers[req->n_headers].value = wm_xstrdup(value);
    req->n_headers++;
    return 0;
}

void httpreq_body(struct httpreq *req, char *body)
{
    free(req->body);
    req->body = body;
    req->body_len = body != NULL ? strlen(body) : 0;
}

const char *httpreq_find_header(const struct httpreq *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

char *httpreq_url_escape(const char *s)
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

char *httpreq_basic_auth(const char *user, const char *pass)
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
