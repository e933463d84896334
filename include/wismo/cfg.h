/*
 * wismod's configuration: one INI file (DESIGN.md "Configuration"), every
 * key optional. Secrets may also come from the environment
 * (WISMO_<SECTION>_<KEY>, e.g. WISMO_CARRIER_UPS_CLIENT_SECRET) or from a
 * file named by "<key>_file"; the environment wins. Unknown sections and
 * keys and bad values are refused with file:line.
 */
#ifndef WISMO_CFG_H
#define WISMO_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wismo/log.h"
#include "wismo/model.h"

struct cfg_carrier {
    char *name;     /* owned; a registered carrier */
    char *base_url; /* owned, NULL: the adapter's default */
    char *token_url;
    char *api_key;
    char *client_id;
    char *client_secret;
    char *username;
    char *password;
    double rate;             /* requests per second; 0: unlimited */
    long per_day;            /* requests per UTC day; 0: unlimited */
    int concurrency;         /* requests in flight */
    int64_t timeout_ms;      /* per request */
    int breaker_failures;    /* consecutive failures that open the circuit */
    int64_t breaker_open_ms; /* how long it stays open */
    int64_t stall_after_ms;  /* [notify.<carrier>] overrides, -1: global */
    int64_t eta_slip_ms;
    /* push (PUSH.md) */
    int push;           /* push = on: subscribe, and accept its pushes */
    char *push_path;    /* the receiver's random URL segment (a secret) */
    char *push_secret;  /* what the carrier sends back or signs with */
    char *push_service; /* DHL: the subscriptions' service (parcel-nl) */
    char *push_email;   /* USPS: adminNotification address, or NULL */
    int64_t push_safety_poll_ms; /* the slowest poll while push is live */
    int64_t push_lifetime_ms;    /* a subscription's life; 0: the adapter's */
    /* change feed (PUSH.md, PostNL) */
    char *customer_number;    /* owned, NULL: no feed */
    char *customer_code;      /* owned: the barcodes the feed covers */
    int64_t feed_interval_ms; /* one feed call per interval */
};

struct cfg {
    char *path; /* owned, NULL when built from defaults */
    /* [daemon] */
    char *data_dir; /* embedded Redis and state */
    enum log_level log_level;
    int log_time;              /* 1: time= on every log line; 0 for journald */
    int max_inflight;          /* carrier requests in flight, all carriers */
    int64_t lease_ms;          /* how long a claimed shipment stays ours */
    int64_t claim_interval_ms; /* how often due work is claimed */
    char *redis_server;        /* binary for the embedded Redis */
    /* [redis] */
    char *redis_url; /* NULL: start a private redis-server */
    char *redis_prefix;
    char *redis_sentinels;         /* "host:port, ..."; with redis_master */
    char *redis_master;            /* Sentinel's name of the primary */
    int redis_wait_replicas;       /* a registration waits for this many */
    int64_t redis_wait_timeout_ms; /* ... at most this long (WAIT) */
    /* [http] */
    char *http_listen;
    size_t http_max_body;
    char *http_cors;          /* origins allowed to call the lookup, "," list */
    int lookup_failures;      /* failed lookups per client ... */
    int64_t lookup_window_ms; /* ... per window before 429 */
    int lookup_clients;       /* clients the rate limit tracks at most */
    char *http_trusted_proxies; /* CIDR list whose forwarding header is
                                   believed; NULL: nobody's */
    int http_proxy_header;      /* enum netaddr_header */
    int64_t cache_ttl_ms;       /* lookup answers cached at most this long */
    int cache_entries;          /* ... and at most this many orders (LRU) */
    size_t cache_bytes;         /* ... holding at most this many bytes */
    int64_t lookup_miss_ms;     /* a lookup 404 leaves no sooner than this */
    int http_max_conns;
    int http_max_streams;           /* open event streams (503 over it) */
    int64_t http_header_timeout_ms; /* a request head must arrive in this */
    int64_t http_idle_timeout_ms;   /* idle keep-alive connections close */
    /* [tokens] */
    char *token_shop, *token_agent, *token_admin;
    /* [schedule] */
    int64_t interval_ms[MODEL_STATUS_COUNT]; /* 0: not polled */
    int64_t expire_after_ms;                 /* no news this long: expired */
    int64_t not_found_expire_ms;             /* not found this long: expired */
    int64_t retry_min_ms, retry_max_ms;      /* carrier error back-off */
    int jitter_pct;                          /* +- percent on every interval */
    int night_start_min, night_end_min;      /* quiet polling, local minutes */
    int64_t night_interval_ms; /* the shortest interval at night */
    int adaptive; /* polls where news is likely (policy_likely_due) */
    /* [notify] */
    int64_t stall_after_ms, eta_slip_ms, notify_tick_ms;
    char *quiet_hours;
    int daily_cap;
    char *positive;
    char *templates_dir; /* [notify] templates; NULL: the notifier's default */
    /* [retention] (0: off) */
    int64_t retention_erase_ms; /* erase a shipment this long after final */
    int64_t retention_pii_ms;   /* erase its contact data this long after */
    int retention_batch;        /* shipments per step on the loop */
    /* [smtp] [sms] [webhook] */
    char *smtp_url, *smtp_from, *smtp_username, *smtp_password;
    char *sms_provider, *sms_base_url, *sms_account, *sms_token, *sms_from;
    char *webhook_url, *webhook_secret;
    /* [web] */
    char *web_shop_name; /* shown on the pages */
    char *web_logo;      /* the logo file's bytes (read at load), or NULL */
    size_t web_logo_len;
    char *web_accent;           /* "#rgb" or "#rrggbb" */
    char *web_default_lang;     /* nl, en, de or fr */
    char *web_default_country;  /* ISO 3166 alpha-2, upper case */
    char *web_frame_ancestors;  /* origins that may frame /track?embed=1 */
    char *web_public_url;       /* how the world reaches wismod */
    int64_t web_session_ttl_ms; /* console sign-in lasts this long */
    /* [carrier.<name>] */
    struct cfg_carrier *carriers;
    size_t n_carriers;
    /* where each key and section was set (cfg_line) */
    struct cfg_where *where; /* owned */
    size_t n_where;
};

/* Fills cfg with every default, then reads path (NULL: defaults only),
 * then the environment. 0, or WM_EINVAL / WM_EIO with a message
 * "file:line: why" in err. */
int cfg_load(struct cfg *cfg, const char *path, char *err, size_t errlen);
/* The same from a string; name stands for the file in messages. */
int cfg_load_string(struct cfg *cfg, const char *text, const char *name,
                    char *err, size_t errlen);
void cfg_clear(struct cfg *cfg);

/* The settings of carrier name (defaults when it has no section). */
const struct cfg_carrier *cfg_carrier(const struct cfg *cfg, const char *name);

/* The line of the file where key was set in section ("carrier.ups"), or
 * with key NULL where the section starts; 0 when it was not in the file. */
int cfg_line(const struct cfg *cfg, const char *section, const char *key);

/* "90s", "20m", "3h", "2d", "250ms", "0" into milliseconds. */
int cfg_parse_duration(const char *s, int64_t *ms);

#endif
