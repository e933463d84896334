/*
 * netaddr: IP addresses, CIDR sets, and who the client of a request is.
 *
 * The client is the TCP peer, unless the peer is in the trusted proxy set:
 * then the proxy's forwarding header (X-Forwarded-For, or RFC 7239
 * Forwarded) is read from the right, each trusted hop skipped, and the
 * first address that is not trusted is the client (the rightmost untrusted
 * address: everything left of it was written by the client itself and is
 * never believed). Nobody else's forwarding header is read at all.
 */
#ifndef WISMO_NETADDR_H
#define WISMO_NETADDR_H

#include <stdbool.h>
#include <stddef.h>

/* Room for any address this module prints, and its NUL. */
#define NETADDR_STRLEN 48

/* An address: IPv4 (4 bytes) or IPv6 (16); IPv4-mapped IPv6 is IPv4. */
struct netaddr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char b[16];
};

/* Parses s[0, n) as a bare IPv4 or IPv6 address. 0 or WM_EINVAL. */
int netaddr_parse(const char *s, size_t n, struct netaddr *a);
/* Writes a as text (RFC 5952 for IPv6) into out (NETADDR_STRLEN). */
void netaddr_format(const struct netaddr *a, char *out);

/* A set of CIDR blocks ("10.0.0.0/8", "::1/128", a bare address). */
struct netaddr_set;
/*
 * Parses a list separated by commas and/or spaces into *out (NULL for an
 * empty or NULL list). 0, or WM_EINVAL with the first bad item named in
 * err (errlen bytes). A block with host bits set is refused: it is
 * almost always a typo.
 */
int netaddr_set_parse(const char *list, struct netaddr_set **out, char *err,
                      size_t errlen);
void netaddr_set_free(struct netaddr_set *s); /* NULL-safe */
/* True when a is in one of the blocks (never for a NULL set). */
bool netaddr_set_has(const struct netaddr_set *s, const struct netaddr *a);

enum netaddr_header {
    NETADDR_XFF,       /* X-Forwarded-For: "client, proxy1, proxy2" */
    NETADDR_FORWARDED, /* Forwarded: for=client, for="[v6]:port" */
};

/*
 * The client of a request whose TCP peer is peer (text), given the
 * forwarding header's value (all its lines joined with ", "; NULL when
 * absent) and the trusted set. Writes the client's address as text into
 * out (NETADDR_STRLEN). An entry that is not an address ("unknown", an
 * obfuscated Forwarded name, garbage) ends the walk: the last trusted hop
 * is then the client.
 */
void netaddr_client(const struct netaddr_set *trusted, const char *peer,
                    const char *chain, enum netaddr_header kind, char *out);

/*
 * The key a per-client counter uses for addr (text): the IPv4 address, or
 * the /64 of an IPv6 address ("2001:db8:1:2::/64"), since one subscriber
 * usually holds a whole /64. Anything else is copied as it is. out has
 * NETADDR_STRLEN bytes.
 */
void netaddr_client_key(const char *addr, char *out);

#endif
