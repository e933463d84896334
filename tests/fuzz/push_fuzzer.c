/*
 * libFuzzer target: one carrier's push_auth and push_parse on arbitrary
 * bytes. Built once per pushing carrier as fuzz_push_<name> with
 * FUZZ_CARRIER naming it. The first input byte picks the method and
 * whether the rest is the body or the query string (DPD); push_parse runs
 * whatever push_auth says, since the receiver trusts nothing it parses.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/carrier.h"
#include "wismo/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct carrier *c = carrier_find(FUZZ_CARRIER);
    struct carrier_push_req req = {0};
    struct carrier_push out;
    char *body, *query = NULL;
    json_t *j;

    if (c == NULL || c->push_parse == NULL)
        abort();
    req.method = size > 0 && (data[0] & 1) ? "GET" : "POST";
    if (size > 0) {
        data++;
        size--;
    }
    /* A copy of exactly size bytes: ASan catches reads past the end. */
    body = malloc(size ? size : 1);
    memcpy(body, data, size);
    if (strcmp(req.method, "GET") == 0) {
        query = malloc(size + 1);
        memcpy(query, data, size);
        query[size] = '\0';
        req.query = query;
    } else {
        req.query = "";
        req.body = body;
        req.body_len = size;
    }
    req.auth_value = "c2VjcmV0";
    req.secret = "0123456789abcdef0123456789abcdef";
    (void)c->push_auth(&req);
    carrier_push_init(&out);
    if (c->push_parse(&req, &out) == 0) {
        j = model_result_to_json(&out.result);
        json_decref(j);
    }
    carrier_push_clear(&out);
    free(query);
    free(body);
    return 0;
}
