/*
 * netaddr: addresses, CIDR sets and the client of a request behind
 * trusted proxies (see wismo/netaddr.h).
 */
#include "wismo/netaddr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "wismo/wm.h"

struct netaddr_block {
    struct netaddr net;
    int bits;
};

struct netaddr_set {
    struct netaddr_block *v; /* owned */
    size_t n, cap;
};

static const unsigned char v4_mapped[12] = {0, 0, 0, 0, 0,    0,
                                            0, 0, 0, 0, 0xff, 0xff};

int netaddr_parse(const char *s, size_t n, struct netaddr *a)
{
    char buf[NETADDR_STRLEN];

    if (n == 0 || n >= sizeof(buf))
        return WM_EINVAL;
    memcpy(buf, s, n);
    buf[n] = '\0';
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, buf, a->b) == 1) {
        a->family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, buf, a->b) != 1)
        return WM_EINVAL;
    a->family = AF_INET6;
    if (memcmp(a->b, v4_mapped, sizeof(v4_mapped)) == 0) {
        memmove(a->b, a->b + 12, 4);
        memset(a->b + 4, 0, 12);
        a->family = AF_INET;
    }
    return 0;
}

void netaddr_format(const struct netaddr *a, char *out)
{
    if (a->family == AF_INET) {
        /* By hand: glibc's inet_ntop sprintf()s, and every public lookup
         * formats its client's address (the rate limit's key). */
        for (int i = 0; i < 4; i++) {
            unsigned v = a->b[i];

            if (v >= 100)
                *out++ = (char)('0' + v / 100);
            if (v >= 10)
                *out++ = (char)('0' + v / 10 % 10);
            *out++ = (char)('0' + v % 10);
            *out++ = i < 3 ? '.' : '\0';
        }
        return;
    }
    if (inet_ntop(a->family, a->b, out, NETADDR_STRLEN) == NULL)
        snprintf(out, NETADDR_STRLEN, "?");
}

/* --- sets ----------------------------------------------------------------- */

static bool block_has(const struct netaddr_block *k, const struct netaddr *a)
{
    int full = k->bits / 8, rest = k->bits % 8;

    if (k->net.family != a->family)
        return false;
    if (memcmp(k->net.b, a->b, (size_t)full) != 0)
        return false;
    if (rest == 0)
        return true;
    return ((k->net.b[full] ^ a->b[full]) & (0xff00 >> rest)) == 0;
}

/* One "addr[/bits]" item. */
static int block_parse(const char *s, size_t n, struct netaddr_block *k)
{
    const char *slash = memchr(s, '/', n);
    size_t alen = slash != NULL ? (size_t)(slash - s) : n;
    int max, bits;

    if (netaddr_parse(s, alen, &k->net) != 0)
        return WM_EINVAL;
    max = k->net.family == AF_INET ? 32 : 128;
    bits = max;
    if (slash != NULL) {
        size_t dl = n - alen - 1;

        if (dl == 0 || dl > 3 || strspn(slash + 1, "0123456789") < dl)
            return WM_EINVAL;
        bits = 0;
        for (size_t i = 0; i < dl; i++)
            bits = bits * 10 + (slash[1 + i] - '0');
        /* "::ffff:10.0.0.0/104" is the IPv4 block 10.0.0.0/8 */
        if (k->net.family == AF_INET && memchr(s, ':', alen) != NULL) {
            if (bits < 96)
                return WM_EINVAL;
            bits -= 96;
        }
        if (bits > max)
            return WM_EINVAL;
    }
    k->bits = bits;
    /* host bits set: refuse ("10.0.0.1/8" means something else) */
    for (int i = bits; i < max; i++)
        if (k->net.b[i / 8] & (0x80 >> (i % 8)))
            return WM_EINVAL;
    return 0;
}

int netaddr_set_parse(const char *list, struct netaddr_set **out, char *err,
                      size_t errlen)
{
    struct netaddr_set *set = NULL;
    const char *p = list;

    *out = NULL;
    if (list == NULL)
        return 0;
    for (;;) {
        struct netaddr_block k;
        size_t n;

        p += strspn(p, ", \t");
        if (*p == '\0')
            break;
        n = strcspn(p, ", \t");
        if (block_parse(p, n, &k) != 0) {
            snprintf(err, errlen,
                     "'%.*s' is not an address or CIDR block (host bits "
                     "must be zero)",
                     (int)(n > 60 ? 60 : n), p);
            netaddr_set_free(set);
            return WM_EINVAL;
        }
        if (set == NULL)
            set = wm_xcalloc(1, sizeof(*set));
        wm_grow((void **)&set->v, &set->cap, set->n + 1, sizeof(*set->v));
        set->v[set->n++] = k;
        p += n;
    }
    *out = set;
    return 0;
}

void netaddr_set_free(struct netaddr_set *s)
{
    if (s == NULL)
        return;
    free(s->v);
    free(s);
}

bool netaddr_set_has(const struct netaddr_set *s, const struct netaddr *a)
{
    if (s == NULL)
        return false;
    for (size_t i = 0; i < s->n; i++)
        if (block_has(&s->v[i], a))
            return true;
    return false;
}

/* --- the client ----------------------------------------------------------- */

/* An address with an optional port: "1.2.3.4", "1.2.3.4:80", "::1",
 * "[::1]", "[::1]:80" (quotes already removed). */
static int hop_parse(const char *s, size_t n, struct netaddr *a)
{
    const char *colon;

    while (n > 0 && (*s == ' ' || *s == '\t'))
        s++, n--;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);

        if (close == NULL)
            return WM_EINVAL;
        return netaddr_parse(s + 1, (size_t)(close - s - 1), a);
    }
    if (netaddr_parse(s, n, a) == 0)
        return 0;
    /* IPv4 with a port: exactly one colon */
    colon = memchr(s, ':', n);
    if (colon != NULL &&
        memchr(colon + 1, ':', n - (size_t)(colon - s) - 1) == NULL)
        return netaddr_parse(s, (size_t)(colon - s), a);
    return WM_EINVAL;
}

/* The address in one Forwarded element ("for=...;proto=..."), or
 * WM_EINVAL when it has none or not an address. */
static int forwarded_for(const char *s, size_t n, struct netaddr *a)
{
    const char *end = s + n;

    while (s < end) {
        const char *semi = memchr(s, ';', (size_t)(end - s));
        const char *pe = semi != NULL ? semi : end;

        while (s < pe && (*s == ' ' || *s == '\t'))
            s++;
        /* cppcheck-suppress knownConditionTrueFalse ; s < pe is possible */
        if (pe - s > 4 && strncasecmp(s, "for=", 4) == 0) {
            const char *v = s + 4;
            size_t vl = (size_t)(pe - v);

            while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
                vl--;
            if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
                v++;
                vl -= 2;
            }
            return hop_parse(v, vl, a);
        }
        s = semi != NULL ? semi + 1 : end;
    }
    return WM_EINVAL;
}

void netaddr_client(const struct netaddr_set *trusted, const char *peer,
                    const char *chain, enum netaddr_header kind, char *out)
{
    struct netaddr cur, hop;
    size_t end;

    if (netaddr_parse(peer, strlen(peer), &cur) != 0) {
        snprintf(out, NETADDR_STRLEN, "%s", peer);
        return;
    }
    end = chain != NULL ? strlen(chain) : 0;
    /* cur is trusted: believe the hop it names, from the right */
    while (netaddr_set_has(trusted, &cur) && end > 0) {
        size_t start = end;
        int rc;

        while (start > 0 && chain[start - 1] != ',')
            start--;
        rc = kind == NETADDR_XFF
                 ? hop_parse(chain + start, end - start, &hop)
                 : forwarded_for(chain + start, end - start, &hop);
        if (rc != 0) {
            /* an empty element (", ,") is skipped; anything else ends */
            if (strspn(chain + start, " \t") == end - start && start > 0) {
                end = start - 1;
                continue;
            }
            break;
        }
        cur = hop;
        end = start > 0 ? start - 1 : 0;
    }
    netaddr_format(&cur, out);
}

void netaddr_client_key(const char *addr, char *out)
{
    struct netaddr a;

    if (netaddr_parse(addr, strlen(addr), &a) != 0) {
        snprintf(out, NETADDR_STRLEN, "%s", addr);
        return;
    }
    if (a.family == AF_INET6) {
        size_t n;

        memset(a.b + 8, 0, 8);
        netaddr_format(&a, out);
        n = strlen(out);
        snprintf(out + n, NETADDR_STRLEN - n, "/64");
        return;
    }
    netaddr_format(&a, out);
}
