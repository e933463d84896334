/*
 * wismoctl: the command-line tool. Offline commands work on files and
 * arguments alone:
 *   wismoctl normalize --carrier C [--number N]... [--http-status S] FILE
 *   wismoctl detect NUMBER...
 *   wismoctl [-c FILE] add | show | refresh | stats   (a daemon's Redis)
 * Exit statuses follow sysexits(3): 64 usage, 65 bad data, 66 no input,
 * 69 Redis unavailable, 78 bad configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libxml/parser.h>

#include "ctl.h"
#include "wismo/carrier.h"
#include "wismo/detect.h"
#include "wismo/model.h"
#include "wismo/num.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

#define EX_OK      0
#define EX_USAGE   64
#define EX_DATAERR 65
#define EX_NOINPUT 66

#define CTL_MAX_INPUT   (64u << 20) /* payloads over 64 MiB are refused */
#define CTL_MAX_NUMBERS 1024

static void usage(FILE *f)
{
    fputs("usage: wismoctl normalize --carrier C [--number N]... "
          "[--http-status S] FILE\n"
          "       wismoctl detect NUMBER...\n"
          "       wismoctl [-c FILE] add --carrier C --number N [--order O]\n"
          "                [--postcode P] [--email E] [--phone T] "
          "[--locale L]\n"
          "                [--promised DATE]\n"
          "       wismoctl [-c FILE] add -     (lines: carrier number "
          "[order_id [postcode\n"
          "                [email [phone]]]], tab-separated if a tab is "
          "present)\n"
          "       wismoctl [-c FILE] show S | refresh S | stats   (S: id, "
          "order id or\n"
          "                tracking number)\n"
          "       wismoctl [-c FILE] list [--limit N] [--cursor C]\n"
          "       wismoctl [-c FILE] watch [--count N] [--from-start]\n"
          "       wismoctl [-c FILE] opt-out | opt-in email|sms ADDRESS\n"
          "       wismoctl [-c FILE] import FILE   (CSV, a header line naming "
          "the columns:\n"
          "                tracking_number carrier order_id postcode email "
          "phone locale\n"
          "                promised_delivery, in any order; - for stdin)\n"
          "       wismoctl [-c FILE] export --email E | --phone P | --order O\n"
          "                (one customer's shipments with events and "
          "notifications)\n"
          "       wismoctl [-c FILE] dead-letters [--limit N]\n"
          "       wismoctl [-c FILE] replay ENTRY... | --all   (dead letters "
          "back into\n"
          "                the outbox)\n"
          "\n"
          "the commands with -c talk to the Redis of the wismod that reads\n"
          "the same configuration FILE (default: every default applies)\n"
          "\n"
          "normalize  print a carrier response body (FILE, or - for stdin)\n"
          "           as wismo's canonical JSON; exit 65 when it cannot be\n"
          "           parsed\n"
          "detect     print the carriers whose format and check digit match\n"
          "           each number, best first; exit 1 when one matched none\n",
          f);
}

/* Reads all of path ("-": stdin). 0, WM_EIO or WM_ETOOBIG. */
static int read_input(const char *path, char **out, size_t *len)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    size_t cap = 64 * 1024, n = 0;
    char *buf;
    int rc = 0;

    if (f == NULL)
        return WM_EIO;
    buf = wm_xmalloc(cap + 1);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f))
                rc = WM_EIO;
            break;
        }
        if (cap >= CTL_MAX_INPUT) {
            rc = WM_ETOOBIG;
            break;
        }
        cap *= 2;
        buf = wm_xrealloc(buf, cap + 1);
    }
    if (f != stdin)
        fclose(f);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static int cmd_normalize(int argc, char **argv)
{
    const char *carrier_name = NULL, *file = NULL;
    const char *numbers[CTL_MAX_NUMBERS];
    size_t n_numbers = 0;
    long http_status = 200;
    const struct carrier *c;
    struct carrier_resp resp = {0};
    struct model_result res;
    char *body = NULL, *text = NULL;
    size_t len = 0;
    json_t *json = NULL;
    int rc, status = EX_DATAERR;

    model_result_init(&res);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;

        /* argv[i] is not NULL for i < argc (C11 5.1.2.2.1); the analyzer
         * loses that once main() has shifted argv. */
        // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker)
        if (strcmp(a, "--carrier") == 0 && v != NULL) {
            carrier_name = v;
            i++;
        } else if (strcmp(a, "--number") == 0 && v != NULL) {
            if (n_numbers == CTL_MAX_NUMBERS) {
                fprintf(stderr, "wismoctl: too many --number options\n");
                return EX_USAGE;
            }
            numbers[n_numbers++] = v;
            i++;
        } else if (strcmp(a, "--http-status") == 0 && v != NULL) {
            int64_t st;
            if (num_i64(v, 100, 599, &st) != 0) {
                fprintf(stderr, "wismoctl: bad --http-status '%s'\n", v);
                return EX_USAGE;
            }
            http_status = (long)st;
            i++;
        } else if (a[0] == '-' && a[1] == '-') {
            fprintf(stderr, "wismoctl: unknown or incomplete option '%s'\n", a);
            usage(stderr);
            return EX_USAGE;
        } else if (file == NULL) {
            file = a;
        } else {
            fprintf(stderr, "wismoctl: one FILE only\n");
            return EX_USAGE;
        }
    }
    if (carrier_name == NULL || file == NULL) {
        usage(stderr);
        return EX_USAGE;
    }
    if ((c = carrier_find(carrier_name)) == NULL) {
        fprintf(stderr, "wismoctl: unknown carrier '%s'; known:", carrier_name);
        for (const struct carrier *const *p = carrier_all(); *p; p++)
            fprintf(stderr, " %s", (*p)->name);
        fputc('\n', stderr);
        return EX_USAGE;
    }
    if ((rc = read_input(file, &body, &len)) != 0) {
        if (rc == WM_ETOOBIG)
            fprintf(stderr, "wismoctl: %s: cannot parse: larger than 64 MiB\n",
                    file);
        else
            fprintf(stderr, "wismoctl: %s: %s\n", file, strerror(errno));
        return rc == WM_ETOOBIG ? EX_DATAERR : EX_NOINPUT;
    }
    resp.http_status = http_status;
    resp.body = body;
    resp.body_len = len;
    resp.numbers = numbers;
    resp.n_numbers = n_numbers;
    rc = c->parse_response(&resp, &res);
    if (rc != 0) {
        fprintf(stderr, "wismoctl: %s: cannot parse %s response: %s\n", file,
                c->name, res.problem[0] ? res.problem : wm_strerror(rc));
        goto out;
    }
    json = model_result_to_json(&res);
    text = json_dumps(json, JSON_INDENT(2));
    if (text == NULL) {
        fprintf(stderr, "wismoctl: cannot encode the result\n");
        goto out;
    }
    puts(text);
    status = EX_OK;
out:
    free(text);
    json_decref(json);
    model_result_clear(&res);
    free(body);
    return status;
}

static int cmd_detect(int argc, char **argv)
{
    int status = EX_OK;

    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    if (detect_init() != 0) {
        fprintf(stderr, "wismoctl: cannot initialise detection\n");
        return 70;
    }
    for (int i = 1; i < argc; i++) {
        struct detect_match m[DETECT_MAX];
        int n = detect_number(argv[i], m, DETECT_MAX);
        json_t *o = json_object(), *arr = json_array();
        json_t *num = json_string(argv[i]);
        char *line;

        for (int k = 0; k < n; k++)
            json_array_append_new(arr, json_string(m[k].carrier));
        /* A number that is not valid UTF-8 is echoed as null. */
        json_object_set_new(o, "tracking_number",
                            num != NULL ? num : json_null());
        json_object_set_new(o, "carriers", arr);
        line = json_dumps(o, JSON_COMPACT);
        if (line != NULL)
            puts(line);
        free(line);
        json_decref(o);
        if (n <= 0)
            status = 1;
    }
    detect_cleanup();
    return status;
}

int main(int argc, char **argv)
{
    const char *cfg_path = NULL;
    int status;

    if (argc >= 3 && strcmp(argv[1], "-c") == 0) {
        cfg_path = argv[2];
        argc -= 2;
        argv += 2;
    }
    if (argc < 2) {
        usage(stderr);
        return EX_USAGE;
    }
    xmlInitParser();
    if (strcmp(argv[1], "add") == 0) {
        status = ctl_cmd_add(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "show") == 0 ||
               strcmp(argv[1], "refresh") == 0 ||
               strcmp(argv[1], "stats") == 0) {
        status = ctl_cmd_store(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "list") == 0) {
        status = ctl_cmd_list(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "watch") == 0) {
        status = ctl_cmd_watch(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "opt-out") == 0 ||
               strcmp(argv[1], "opt-in") == 0) {
        status = ctl_cmd_optout(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "import") == 0) {
        status = ctl_cmd_import(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "export") == 0) {
        status = ctl_cmd_export(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "dead-letters") == 0) {
        status = ctl_cmd_dead_letters(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "replay") == 0) {
        status = ctl_cmd_replay(cfg_path, argc - 1, argv + 1);
    } else if (strcmp(argv[1], "normalize") == 0) {
        status = cmd_normalize(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "detect") == 0) {
        status = cmd_detect(argc - 1, argv + 1);
    } else if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
               strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        status = EX_OK;
    } else {
        fprintf(stderr, "wismoctl: unknown command '%s'\n", argv[1]);
        usage(stderr);
        status = EX_USAGE;
    }
    wmtime_cleanup();
    xmlCleanupParser();
    return status;
}
