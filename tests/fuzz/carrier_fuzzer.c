/*
 * libFuzzer target: one carrier's parse_response on arbitrary bytes, under
 * every HTTP status class, and its change-feed parser (parse_feed) where it
 * has one (PostNL). Built once per carrier as fuzz_normalize_<name> with
 * FUZZ_CARRIER naming it. The first input byte picks the status.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>

#include "wismo/carrier.h"
#include "wismo/model.h"
#include "wismo/wm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    xmlInitParser();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const long statuses[] = {200, 200, 200, 200, 400,
                                    401, 404, 429, 500, 503};
    static const char *const numbers[] = {"00340434163456789012",
                                          "1Z4E96F70312345678", "X"};
    const struct carrier *c = carrier_find(FUZZ_CARRIER);
    struct carrier_resp resp = {0};
    struct model_result res;
    char *body;
    json_t *j;

    if (c == NULL)
        abort();
    resp.http_status = size > 0 ? statuses[data[0] % 10] : 200;
    /* A copy of exactly size bytes: ASan catches reads past the end. */
    body = malloc(size ? size : 1);
    memcpy(body, data, size);
    resp.body = body;
    resp.body_len = size;
    resp.numbers = numbers;
    resp.n_numbers = 3;
    model_result_init(&res);
    if (c->parse_response(&resp, &res) == 0) {
        j = model_result_to_json(&res);
        json_decref(j);
    }
    model_result_clear(&res);
    if (c->parse_feed != NULL) {
        struct carrier_feed feed;
        int rc;

        carrier_feed_init(&feed);
        rc = c->parse_feed(&resp, "10452233", &feed);
        /* Numbers only on success, a problem only with WM_EPROTO. */
        if ((rc != 0 && feed.n_numbers != 0) ||
            (rc == WM_EPROTO) != (feed.problem != NULL))
            abort();
        carrier_feed_clear(&feed);
    }
    free(body);
    return 0;
}
