/*
 * Benchmark (not a test): per carrier, µs per payload for our whole
 * normalisation (parse_response, which includes the parse) beside µs for
 * the bare parse of the same payloads (jansson json_loadb + decref, or
 * libxml2 xmlReadMemory + xmlFreeDoc) in the same run. Each measurement is
 * bounded in time. Target: normalisation / bare parse <= 1.30.
 * Usage: bench_normalize [SECONDS-PER-MEASUREMENT]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <libxml/parser.h>

#include "wismo/carrier.h"
#include "wismo/model.h"
#include "wismo/wmtime.h"

#define MAX_PAYLOADS 32

struct payload {
    char *body;
    size_t len;
    const char *numbers[8];
    size_t n_numbers;
    int is_xml;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n)
        n = 0;
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void bare_parse(const struct payload *p)
{
    if (p->is_xml) {
        xmlDoc *d = xmlReadMemory(p->body, (int)p->len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR |
                                      XML_PARSE_NOWARNING);
        xmlFreeDoc(d);
    } else {
        json_decref(json_loadb(p->body, p->len, 0, NULL));
    }
}

static void normalise(const struct carrier *c, const struct payload *p)
{
    struct carrier_resp resp = {.http_status = 200,
                                .body = p->body,
                                .body_len = p->len,
                                .numbers = p->numbers,
                                .n_numbers = p->n_numbers};
    struct model_result res;

    model_result_init(&res);
    if (c->parse_response(&resp, &res) != 0)
        abort();
    model_result_clear(&res);
}

/* Runs all payloads round after round for secs; returns µs per payload. */
static double measure(const struct carrier *c, struct payload *ps, size_t n,
                      double secs, int bare)
{
    double t0 = now(), t;
    long rounds = 0;

    do {
        for (size_t i = 0; i < n; i++) {
            if (bare)
                bare_parse(&ps[i]);
            else
                normalise(c, &ps[i]);
        }
        rounds++;
    } while ((t = now()) - t0 < secs);
    return (t - t0) * 1e6 / (double)(rounds * (long)n);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 1.0;
    char path[1024];
    json_t *requests;
    int worst_over = 0;

    xmlInitParser();
    snprintf(path, sizeof(path), "%s/carriers/requests.json", WISMO_FIXTURES);
    requests = json_load_file(path, 0, NULL);
    if (requests == NULL) {
        fprintf(stderr, "bench: cannot read %s\n", path);
        return 1;
    }
    printf("%-11s %8s %8s %12s %12s %7s\n", "carrier", "payloads", "avg KB",
           "normalise µs", "bare parse µs", "ratio");
    for (const struct carrier *const *cp = carrier_all(); *cp; cp++) {
        const struct carrier *c = *cp;
        struct payload ps[MAX_PAYLOADS];
        size_t n = 0, bytes = 0;
        const char *key;
        json_t *nums;

        json_object_foreach(requests, key, nums)
        {
            size_t cl = strlen(c->name);
            if (strncmp(key, c->name, cl) != 0 || key[cl] != '/' ||
                n == MAX_PAYLOADS)
                continue;
            snprintf(path, sizeof(path), "%s/carriers/%s", WISMO_FIXTURES, key);
            ps[n].body = slurp(path, &ps[n].len);
            if (ps[n].body == NULL)
                continue;
            ps[n].is_xml = strstr(key, ".xml") != NULL;
            ps[n].n_numbers = 0;
            for (size_t i = 0; i < json_array_size(nums) && i < 8; i++)
                ps[n].numbers[ps[n].n_numbers++] =
                    json_string_value(json_array_get(nums, i));
            bytes += ps[n].len;
            n++;
        }
        if (n == 0)
            continue;
        measure(c, ps, n, secs / 5, 0); /* warm caches and zone files */
        double bare = measure(c, ps, n, secs, 1);
        double norm = measure(c, ps, n, secs, 0);
        double ratio = norm / bare;
        printf("%-11s %8zu %8.1f %12.2f %12.2f %7.2f%s\n", c->name, n,
               (double)bytes / (double)n / 1024.0, norm, bare, ratio,
               ratio > 1.30 ? "  over target" : "");
        worst_over |= ratio > 1.30;
        for (size_t i = 0; i < n; i++)
            free(ps[i].body);
    }
    json_decref(requests);
    wmtime_cleanup();
    xmlCleanupParser();
    printf("target: normalise <= 1.30 x bare parse: %s\n",
           worst_over ? "MISSED for some carriers" : "met");
    return 0;
}
