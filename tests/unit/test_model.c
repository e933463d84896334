/* Unit tests for the normalised model: names both ways, the normalisation
 * pass (sort, dedupe, rule 8, derived status, delivered_at, ETA) and the
 * canonical JSON shape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wismo/model.h"
#include "wismo/wm.h"

static void test_names_roundtrip(void **state)
{
    enum model_status st;
    enum model_error err;

    (void)state;
    for (int i = 0; i < MODEL_STATUS_COUNT; i++) {
        assert_int_equal(model_status_parse(model_status_name(i), &st), 0);
        assert_int_equal(st, i);
    }
    for (int i = 0; i < MODEL_ERROR_COUNT; i++) {
        assert_int_equal(model_error_parse(model_error_name(i), &err), 0);
        assert_int_equal(err, i);
    }
    assert_string_equal(model_status_name(MODEL_AVAILABLE_FOR_PICKUP),
                        "available_for_pickup");
    assert_string_equal(model_error_name(MODEL_ERR_CARRIER), "carrier_error");
    assert_int_equal(model_status_parse("exception.customs", &st), 0);
    assert_int_equal(st, MODEL_EXCEPTION);
    assert_int_equal(model_status_parse("in_transi", &st), WM_EINVAL);
    assert_int_equal(model_status_parse("", &st), WM_EINVAL);
    assert_int_equal(model_error_parse("nope", &err), WM_EINVAL);
    assert_true(model_status_is_terminal(MODEL_DELIVERED));
    assert_false(model_status_is_terminal(MODEL_FAILED_ATTEMPT));
}

static struct model_event *add(struct model_shipment *s, int64_t t,
                               const char *code, int status, const char *city)
{
    struct model_event *e = model_shipment_add_event(s);

    e->time = t;
    e->code = code ? strdup(code) : NULL;
    e->description = strdup(code ? code : "text");
    e->location.city = city ? strdup(city) : NULL;
    if (status >= 0) {
        e->status = (enum model_status)status;
        e->mapped = true;
    }
    return e;
}

static void test_finish_sorts_dedupes_inherits(void **state)
{
    struct model_result r;
    struct model_shipment *s;

    (void)state;
    model_result_init(&r);
    s = model_result_add_shipment(&r, "dhl", "123");
    s->estimated_delivery = 5000;
    add(s, 300, "B", MODEL_IN_TRANSIT, "Utrecht");
    add(s, 100, "A", MODEL_INFO_RECEIVED, NULL);
    add(s, 300, "B", MODEL_IN_TRANSIT, "Utrecht"); /* duplicate */
    add(s, 300, "B", MODEL_IN_TRANSIT, "Gouda");   /* other place: kept */
    add(s, 200, "X9", -1, NULL);                   /* unknown: inherits */
    add(s, 400, "D", MODEL_DELIVERED, NULL);
    model_shipment_finish(s);
    assert_int_equal(s->n_events, 5);
    assert_int_equal(s->events[0].time, 100);
    assert_int_equal(s->events[1].time, 200);
    assert_int_equal(s->events[1].status, MODEL_INFO_RECEIVED);
    assert_string_equal(s->events[1].substatus, "unknown_code");
    assert_string_equal(s->events[1].code, "X9");
    /* Stable: equal times keep the carrier's order. */
    assert_string_equal(s->events[2].location.city, "Utrecht");
    assert_string_equal(s->events[3].location.city, "Gouda");
    assert_int_equal(s->status, MODEL_DELIVERED);
    assert_int_equal(s->delivered_at, 400);
    assert_true(s->estimated_delivery == MODEL_TIME_NONE);
    model_result_clear(&r);
}

static void test_finish_first_unknown_and_explicit(void **state)
{
    struct model_result r;
    struct model_shipment *s, *t;

    (void)state;
    model_result_init(&r);
    s = model_result_add_shipment(&r, "gls", "1");
    add(s, 10, "??", -1, NULL);
    t = model_result_add_shipment(&r, "gls", "2");
    t->status = MODEL_AVAILABLE_FOR_PICKUP;
    t->status_explicit = true;
    t->estimated_delivery = 99;
    add(t, 10, "DEL", MODEL_DELIVERED, NULL);
    model_shipment_finish(&r.shipments[0]);
    model_shipment_finish(&r.shipments[1]);
    s = &r.shipments[0];
    t = &r.shipments[1];
    assert_int_equal(s->events[0].status, MODEL_IN_TRANSIT);
    assert_int_equal(s->status, MODEL_IN_TRANSIT);
    /* An explicit status wins; delivered_at only when delivered. */
    assert_int_equal(t->status, MODEL_AVAILABLE_FOR_PICKUP);
    assert_true(t->delivered_at == MODEL_TIME_NONE);
    assert_int_equal(t->estimated_delivery, 99);
    model_result_clear(&r);
}

static void test_empty_shipment_is_pending(void **state)
{
    struct model_result r;
    struct model_shipment *s;

    (void)state;
    model_result_init(&r);
    s = model_result_add_shipment(&r, "ups", "1Z");
    model_shipment_finish(s);
    assert_int_equal(s->status, MODEL_PENDING);
    model_result_clear(&r);
}

static void test_canonical_json(void **state)
{
    struct model_result r;
    struct model_shipment *s;
    struct model_event *e;
    const char *numbers[] = {"A", "B"};
    json_t *j;
    char *text;

    (void)state;
    model_result_init(&r);
    s = model_result_add_shipment(&r, "dhl", "4827159630");
    s->estimated_delivery = 1795000000;
    e = add(s, 1795000000 - 3600, "transit", MODEL_IN_TRANSIT, "Düsseldorf");
    e->location.postcode = strdup("40474");
    memcpy(e->location.country, "DE", 3);
    model_shipment_finish(s);
    model_result_add_error(&r, "000", MODEL_ERR_NOT_FOUND);
    j = model_result_to_json(&r);
    text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(
        text, "{\"shipments\":[{\"carrier\":\"dhl\",\"tracking_number\":"
              "\"4827159630\",\"status\":\"in_transit\",\"estimated_delivery\":"
              "\"2026-11-18T11:06:40Z\",\"delivered_at\":null,\"events\":[{"
              "\"time\":\"2026-11-18T10:06:40Z\",\"status\":\"in_transit\","
              "\"code\":\"transit\",\"description\":\"transit\",\"location\":{"
              "\"city\":\"Düsseldorf\",\"postcode\":\"40474\",\"country\":"
              "\"DE\"}}]}],\"errors\":[{\"tracking_number\":\"000\",\"error\":"
              "\"not_found\"}]}");
    free(text);
    json_decref(j);

    /* A whole-request failure: no shipments, one error per number. */
    model_result_fail_all(&r, numbers, 2, MODEL_ERR_AUTH);
    j = model_result_to_json(&r);
    text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"shipments\":[],\"errors\":[{"
                              "\"tracking_number\":\"A\",\"error\":\"auth\"},"
                              "{\"tracking_number\":\"B\",\"error\":\"auth\"}"
                              "]}");
    free(text);
    json_decref(j);
    model_result_clear(&r);

    /* No errors: the key is absent. */
    j = model_result_to_json(&r);
    text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "{\"shipments\":[]}");
    free(text);
    json_decref(j);
}

static void test_invalid_utf8_becomes_null(void **state)
{
    struct model_result r;
    struct model_shipment *s;
    struct model_event *e;
    json_t *j;

    (void)state;
    model_result_init(&r);
    s = model_result_add_shipment(&r, "dpd", "1");
    e = add(s, 1, "C", MODEL_IN_TRANSIT, NULL);
    free(e->description);
    e->description = strdup("bad \xff byte");
    model_shipment_finish(s);
    j = model_result_to_json(&r);
    assert_true(json_is_null(json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(j, "shipments"), 0),
                            "events"),
            0),
        "description")));
    json_decref(j);
    model_result_clear(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_roundtrip),
        cmocka_unit_test(test_finish_sorts_dedupes_inherits),
        cmocka_unit_test(test_finish_first_unknown_and_explicit),
        cmocka_unit_test(test_empty_shipment_is_pending),
        cmocka_unit_test(test_canonical_json),
        cmocka_unit_test(test_invalid_utf8_becomes_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
