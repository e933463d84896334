/*
 * The JSON carriers: DHL, PostNL, UPS, FedEx, USPS (Tracking v3) and GLS.
 * Each one is a step table (the carrier's code for every scenario step,
 * with the status the README's mapping gives it), three places, and two
 * renderers that write the carrier's documented shapes: the answer for
 * the visible events (newest first where the carrier does that), and the
 * carrier's own error bodies. Shapes follow tests/fixtures/carriers.
 */
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FC_JSON "application/json"

/* The status of event i as the carrier's explicit "current" field shows. */
static const struct fc_step_def *fc_newest(const struct fc_track *t)
{
    return fc_event_def(t->tl, t->k - 1);
}

static const char *fc_status_label(enum fc_status st)
{
    switch (st) {
    case FC_ST_INFO_RECEIVED:
        return "Label created";
    case FC_ST_OUT_FOR_DELIVERY:
        return "On the way";
    case FC_ST_AVAILABLE_FOR_PICKUP:
        return "Ready for pickup";
    case FC_ST_DELIVERED:
        return "Delivered";
    case FC_ST_FAILED_ATTEMPT:
        return "Delivery exception";
    case FC_ST_EXCEPTION:
        return "Exception";
    case FC_ST_RETURNING:
        return "Returning";
    case FC_ST_RETURNED:
        return "Returned";
    default:
        return "In transit";
    }
}

/* ====================================================================== */
/* DHL Shipment Tracking - Unified                                         */
/* ====================================================================== */

static const struct fc_place dhl_origin = {"Bonn", "53113", "DE", NULL,
                                           "Europe/Berlin"};
static const struct fc_place dhl_hub = {"Leipzig", "04435", "DE", NULL,
                                        "Europe/Berlin"};
static const struct fc_place dhl_dest = {"Utrecht", "3511 AZ", "NL", NULL,
                                         "Europe/Amsterdam"};

#define DHL(code, desc, st)                                                    \
    {                                                                          \
        code, NULL, NULL, desc, NULL, st, st                                   \
    }
static const struct fc_step_def dhl_steps[FC_S_COUNT] = {
    [FC_S_INFO] = DHL("pre-transit",
                      "The instruction data for this shipment have been "
                      "provided by the sender to DHL electronically",
                      FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] = DHL("transit", "Shipment picked up", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] =
        DHL("transit", "Processed at LEIPZIG - GERMANY", FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] = DHL("transit",
                        "Arrived at DHL Delivery Facility UTRECHT - "
                        "NETHERLANDS",
                        FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = DHL("transit",
                       "Shipment delayed by high volumes, the expected "
                       "delivery date has been updated",
                       FC_ST_IN_TRANSIT),
    [FC_S_CUSTOMS] =
        DHL("failure", "Shipment on hold: awaiting customs clearance",
            FC_ST_EXCEPTION),
    [FC_S_ADDRESS] = DHL("failure",
                         "Incorrect address: the consignee address must be "
                         "corrected",
                         FC_ST_EXCEPTION),
    [FC_S_RELEASED] = DHL("transit",
                          "Clearance processing complete at "
                          "UTRECHT - NETHERLANDS",
                          FC_ST_IN_TRANSIT),
    [FC_S_OFD] = DHL("transit", "Shipment is out with courier for delivery",
                     FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] = DHL("failure",
                         "Delivery attempt unsuccessful: recipient not at "
                         "home",
                         FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = DHL("transit",
                       "Shipment is ready for pick-up at the DHL "
                       "ServicePoint",
                       FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] = DHL("delivered", "Delivered", FC_ST_DELIVERED),
    [FC_S_COLLECTED] = DHL("delivered",
                           "Shipment picked up by the recipient at the DHL "
                           "ServicePoint",
                           FC_ST_DELIVERED),
    [FC_S_RETURNING] = DHL("transit",
                           "Shipment is being returned to the "
                           "shipper",
                           FC_ST_RETURNING),
    [FC_S_RETURN_TRANSIT] = DHL("transit",
                                "Shipment is being returned: processed at "
                                "LEIPZIG - GERMANY",
                                FC_ST_RETURNING),
    [FC_S_RETURNED] =
        DHL("delivered", "Shipment delivered to the sender", FC_ST_RETURNED),
};

static json_t *dhl_address(const struct fc_place *p)
{
    return json_pack("{s:{s:s, s:s, s:s}}", "address", "countryCode",
                     p->country, "postalCode", p->postcode, "addressLocality",
                     p->city);
}

static json_t *dhl_event(const struct fc_track *t, size_t i)
{
    const struct fc_step_def *d = fc_event_def(t->tl, i);
    const struct fc_place *p = fc_event_place(t->tl, i);

    return json_pack("{s:o, s:o, s:s, s:s, s:s}", "timestamp",
                     fc_jtime_offset(fc_track_time(t, i), p->zone, true),
                     "location", dhl_address(p), "statusCode", d->code,
                     "status", d->desc, "description", d->desc);
}

static void dhl_render(const struct fc_track *t, size_t n,
                       struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    json_t *sh, *events;
    int eta;

    (void)n;
    if (t->k == 0) {
        char instance[256];

        snprintf(instance, sizeof(instance), "/shipment/%s", t->number);
        fc_render_json(r, 404, "application/problem+json",
                       json_pack("{s:s, s:s, s:i, s:s}", "title",
                                 "No result found", "detail",
                                 "No shipment with given tracking number "
                                 "found.",
                                 "status", 404, "instance", instance));
        return;
    }
    events = json_array();
    for (size_t i = t->k; i-- > 0;)
        json_array_append_new(events, dhl_event(t, i));
    sh = json_pack("{s:s, s:s, s:o, s:o, s:o}", "id", t->number, "service",
                   "express", "origin", dhl_address(tl->carrier->origin),
                   "destination", dhl_address(tl->carrier->dest), "status",
                   dhl_event(t, t->k - 1));
    if ((eta = fc_track_eta(t)) >= 0) {
        const char *z = tl->carrier->dest->zone;

        json_object_set_new(sh, "estimatedTimeOfDelivery",
                            fc_jtime_offset(fc_eta_until(tl, eta), z, true));
        json_object_set_new(
            sh, "estimatedDeliveryTimeFrame",
            json_pack("{s:o, s:o}", "estimatedFrom",
                      fc_jtime_offset(fc_eta_from(tl, eta), z, true),
                      "estimatedThrough",
                      fc_jtime_offset(fc_eta_until(tl, eta), z, true)));
        json_object_set_new(sh, "estimatedTimeOfDeliveryRemark",
                            json_string("Between 14:00 and 18:00"));
    }
    json_object_set_new(sh, "details",
                        json_pack("{s:{s:s}, s:i, s:[s]}", "product",
                                  "productName", "EXPRESS WORLDWIDE",
                                  "totalNumberOfPieces", 1, "pieceIds",
                                  "JD014600003344556677"));
    json_object_set_new(sh, "events", events);
    fc_render_json(r, 200, FC_JSON, json_pack("{s:[o]}", "shipments", sh));
}

static void dhl_fail(enum fc_fail f, const char *detail, int retry_after,
                     struct fc_response *r)
{
    const char *type = "application/problem+json";

    switch (f) {
    case FC_FAIL_AUTH:
        fc_render_json(r, 401, type,
                       json_pack("{s:i, s:s, s:s}", "status", 401, "title",
                                 "Unauthorized", "detail",
                                 detail != NULL ? detail : "Invalid API key"));
        return;
    case FC_FAIL_RATE:
        fc_render_json(r, 429, type,
                       json_pack("{s:i, s:s, s:s}", "status", 429, "title",
                                 "Too Many Requests", "detail",
                                 "Too many requests within defined time "
                                 "period, please try again later."));
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        fc_render_json(r, 500, type,
                       json_pack("{s:i, s:s, s:s}", "status", 500, "title",
                                 "Internal Server Error", "detail",
                                 "An unexpected error occurred."));
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_JSON,
                        "{\"shipments\":[{\"id\":\"<html>upstream ");
        return;
    case FC_FAIL_INVALID:
        fc_render_json(r, 400, type,
                       json_pack("{s:i, s:s, s:s}", "status", 400, "title",
                                 "Bad Request", "detail",
                                 detail != NULL ? detail : "Bad request"));
        return;
    case FC_FAIL_NOT_FOUND:
        fc_render_json(r, 404, type,
                       json_pack("{s:i, s:s, s:s}", "status", 404, "title",
                                 "Not Found", "detail", "No such resource"));
        return;
    }
}

const struct fc_carrier fc_carrier_dhl = {
    .name = "dhl",
    .id = FC_DHL,
    .batch_max = 1,
    .loc = FC_LOC_FULL,
    .eta = FC_ETA_WINDOW,
    .origin = &dhl_origin,
    .hub = &dhl_hub,
    .dest = &dhl_dest,
    .steps = dhl_steps,
    .render = dhl_render,
    .fail = dhl_fail,
};

/* ====================================================================== */
/* PostNL Shipping Status API v2                                           */
/* ====================================================================== */

/* PostNL writes every time as Amsterdam local time, places unnamed. */
static const struct fc_place pnl_origin = {"Tilburg", "5038KE", "NL", NULL,
                                           "Europe/Amsterdam"};
static const struct fc_place pnl_hub = {"Nieuwegein", "3439", "NL", NULL,
                                        "Europe/Amsterdam"};
static const struct fc_place pnl_dest = {"Utrecht", "3511AZ", "NL", NULL,
                                         "Europe/Amsterdam"};

#define PNL(code, status, desc, st)                                            \
    {                                                                          \
        code, status, NULL, desc, NULL, st, st                                 \
    }
static const struct fc_step_def pnl_steps[FC_S_COUNT] = {
    [FC_S_INFO] =
        PNL("A01", "1", "Pakket is nog niet door PostNL ontvangen of verwerkt",
            FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] =
        PNL("B01", "2", "Zending is ontvangen door PostNL", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] = PNL("J01", "5", "Zending is gesorteerd", FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] =
        PNL("J06", "5", "Zending is aangekomen op het depot", FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = PNL("V21", "21",
                       "Zending heeft vertraging, de verwachte bezorgdag is "
                       "aangepast",
                       FC_ST_IN_TRANSIT),
    [FC_S_CUSTOMS] = PNL("Y36", "9",
                         "Zending wordt door de douane "
                         "vastgehouden",
                         FC_ST_EXCEPTION),
    [FC_S_ADDRESS] =
        PNL("Y04", "5", "Adres is onvolledig of onjuist", FC_ST_EXCEPTION),
    [FC_S_RELEASED] =
        PNL("V02", "5", "Zending is vrijgegeven", FC_ST_IN_TRANSIT),
    [FC_S_OFD] =
        PNL("J05", "7", "Bezorger is onderweg", FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] =
        PNL("K70", "8", "Bezorgen lukte niet, zending gaat naar PostNL-punt",
            FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = PNL("J02", "12", "Pakket ligt voor je klaar op PostNL-punt",
                       FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] = PNL("I01", "11", "Zending is bezorgd", FC_ST_DELIVERED),
    [FC_S_COLLECTED] = PNL("I05", "22", "Zending is afgehaald bij PostNL-punt",
                           FC_ST_DELIVERED),
    [FC_S_RETURNING] = PNL("H01", "5", "Zending gaat retour naar de afzender",
                           FC_ST_RETURNING),
    [FC_S_RETURN_TRANSIT] =
        PNL("H02", "5", "Retourzending is gesorteerd", FC_ST_RETURNING),
    [FC_S_RETURNED] =
        PNL("J63", "11", "Retourzending afgeleverd", FC_ST_RETURNED),
};

struct pnl_status {
    const char *code, *desc, *phase, *phase_desc;
};

static const struct pnl_status pnl_statuses[] = {
    {"1", "Zending voorgemeld", "1", "Collectie"},
    {"2", "Zending in ontvangst genomen", "1", "Collectie"},
    {"5", "Zending gesorteerd", "2", "Sortering"},
    {"7", "Zending in distributieproces", "3", "Distributie"},
    {"8", "Zending niet afgeleverd", "3", "Distributie"},
    {"9", "Zending bij douane", "3", "Distributie"},
    {"11", "Zending afgeleverd", "4", "Afgeleverd"},
    {"12", "Zending beschikbaar op afhaallocatie", "4", "Afgeleverd"},
    {"21", "Zending in voorraad", "2", "Sortering"},
    {"22", "Zending afgehaald van Postkantoor", "4", "Afgeleverd"},
};

static const struct pnl_status *pnl_status_find(const char *code)
{
    for (size_t i = 0; i < FC_ARRAY_LEN(pnl_statuses); i++)
        if (strcmp(pnl_statuses[i].code, code) == 0)
            return &pnl_statuses[i];
    return &pnl_statuses[2];
}

/* "dd-MM-yyyy HH:mm:ss", Amsterdam local time. */
static json_t *pnl_time(int64_t t)
{
    struct fc_civil c;
    char buf[32];

    fc_tz_local("Europe/Amsterdam", t, &c);
    snprintf(buf, sizeof(buf), "%02d-%02d-%04d %02d:%02d:%02d", c.day, c.month,
             c.year, c.hour, c.min, c.sec);
    return json_string(buf);
}

static json_t *pnl_address(const char *type, const struct fc_place *p,
                           const char *first, const char *last,
                           const char *company)
{
    return json_pack(
        "{s:s, s:{}, s:s, s:o, s:s, s:{}, s:{}, s:o, s:{}, "
        "s:s, s:{}, s:o, s:{}, s:{}, s:s, s:s}",
        "AddressType", type, "Building", "City", p->city, "CompanyName",
        fc_jstr_or_null(company), "CountryCode", p->country, "DepartmentName",
        "District", "FirstName", fc_jstr_or_null(first), "Floor", "HouseNumber",
        "158", "HouseNumberSuffix", "LastName", fc_jstr_or_null(last), "Region",
        "Remark", "Street", "Oudegracht", "Zipcode", p->postcode);
}

static void pnl_render(const struct fc_track *t, size_t n,
                       struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    const struct pnl_status *ps;
    json_t *sh, *events, *addr;
    char buf[FC_ISO_BUFSZ];
    int eta;

    (void)n;
    if (t->k == 0) {
        fc_render_json(r, 200, FC_JSON,
                       json_pack("{s:{}, s:[{s:s, s:s}]}", "CurrentStatus",
                                 "Warnings", "Message", "No shipment found",
                                 "Code", "2"));
        return;
    }
    events = json_array();
    for (size_t i = t->k; i-- > 0;) {
        const struct fc_step_def *d = fc_event_def(tl, i);

        json_array_append_new(
            events,
            json_pack("{s:s, s:s, s:s, s:s, s:{}, s:{}, s:o}", "Code", d->code,
                      "Description", d->desc, "DestinationLocationCode",
                      "156731", "LocationCode", "151922", "RouteCode",
                      "RouteName", "TimeStamp", pnl_time(fc_track_time(t, i))));
    }
    addr = json_pack(
        "[o, o]", pnl_address("01", tl->carrier->dest, "Zoë", "van Dijk", NULL),
        pnl_address("02", tl->carrier->origin, NULL, NULL,
                    "Wismo Webwinkel B.V."));
    sh = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:s, s:s}",
                   "MainBarcode", t->number, "Barcode", t->number,
                   "ShipmentAmount", "1", "ShipmentCounter", "1", "Customer",
                   "CustomerCode", FC_POSTNL_CUSTOMER_CODE, "CustomerNumber",
                   FC_POSTNL_CUSTOMER_NUMBER, "Name", "Wismo Webwinkel B.V.",
                   "ProductCode", "003085", "ProductDescription",
                   "Standaard zending", "Reference", "WISMO-NL-7750");
    if ((eta = fc_track_eta(t)) >= 0) {
        const struct fc_date *d = &tl->eta[eta];

        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", d->year, d->month, d->day);
        json_object_set_new(sh, "DeliveryDate", json_string(buf));
    }
    json_object_set_new(sh, "Address", addr);
    json_object_set_new(sh, "Event", events);
    if (eta >= 0) {
        char from[FC_ISO_BUFSZ];

        fc_fmt_local(fc_eta_from(tl, eta), "Europe/Amsterdam", from);
        fc_fmt_local(fc_eta_until(tl, eta), "Europe/Amsterdam", buf);
        json_object_set_new(
            sh, "Expectation",
            json_pack("{s:s, s:s}", "ETAFrom", from, "ETATo", buf));
    }
    ps = pnl_status_find(fc_newest(t)->code2);
    json_object_set_new(sh, "Status",
                        json_pack("{s:o, s:s, s:s, s:s, s:s}", "TimeStamp",
                                  pnl_time(fc_track_time(t, t->k - 1)),
                                  "StatusCode", ps->code, "StatusDescription",
                                  ps->desc, "PhaseCode", ps->phase,
                                  "PhaseDescription", ps->phase_desc));
    fc_render_json(r, 200, FC_JSON,
                   json_pack("{s:{s:o}}", "CompleteStatus", "Shipment", sh));
}

json_t *fc_postnl_feed_entry(const struct fc_track *t)
{
    const struct pnl_status *ps = pnl_status_find(fc_newest(t)->code2);
    char ts[FC_ISO_BUFSZ], created[FC_ISO_BUFSZ];

    fc_fmt_local(fc_track_time(t, t->k - 1), "Europe/Amsterdam", ts);
    fc_fmt_local(t->tl->start, "Europe/Amsterdam", created);
    return json_pack(
        "{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s}}", "Barcode",
        t->number, "CreationDate", created, "CustomerNumber",
        FC_POSTNL_CUSTOMER_NUMBER, "CustomerCode", FC_POSTNL_CUSTOMER_CODE,
        "Status", "Timestamp", ts, "StatusCode", ps->code, "StatusDescription",
        ps->desc, "PhaseCode", ps->phase, "PhaseDescription", ps->phase_desc);
}

static json_t *pnl_problem(int status, const char *title, const char *detail)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
                     "https://api.postnl.nl/problems/error", "title", title,
                     "status", status, "detail", detail, "instance",
                     "/shipment/v2/status");
}

static void pnl_fail(enum fc_fail f, const char *detail, int retry_after,
                     struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        fc_render_json(r, 401, FC_JSON,
                       json_pack("{s:{s:s, s:{s:s}}}", "fault", "faultstring",
                                 detail != NULL ? detail : "Invalid ApiKey",
                                 "detail", "errorcode",
                                 "oauth.v2.InvalidApiKey"));
        return;
    case FC_FAIL_RATE:
        fc_render_json(
            r, 429, FC_JSON,
            json_pack("{s:{s:s, s:{s:s}}}", "fault", "faultstring",
                      "Rate limit quota violation. Quota limit exceeded.",
                      "detail", "errorcode",
                      "policies.ratelimit.QuotaViolation"));
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        fc_render_json(r, 500, "application/problem+json",
                       pnl_problem(500, "Internal Server Error",
                                   "An unexpected error occurred."));
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_JSON, "{\"CompleteStatus\":{\"Shipment\"");
        return;
    case FC_FAIL_INVALID:
        fc_render_json(r, 400, "application/problem+json",
                       pnl_problem(400, "Bad Request",
                                   detail != NULL ? detail : "Bad request"));
        return;
    case FC_FAIL_NOT_FOUND:
        fc_render_json(r, 404, "application/problem+json",
                       pnl_problem(404, "Not Found", "Resource not found"));
        return;
    }
}

const struct fc_carrier fc_carrier_postnl = {
    .name = "postnl",
    .id = FC_POSTNL,
    .batch_max = 1,
    .loc = FC_LOC_NONE,
    .eta = FC_ETA_WINDOW,
    .offsetless = true,
    .origin = &pnl_origin,
    .hub = &pnl_hub,
    .dest = &pnl_dest,
    .steps = pnl_steps,
    .render = pnl_render,
    .fail = pnl_fail,
};

/* ====================================================================== */
/* UPS Track API v1                                                        */
/* ====================================================================== */

static const struct fc_place ups_origin = {"Secaucus", "07094", "US", "NJ",
                                           "America/New_York"};
static const struct fc_place ups_hub = {"Louisville", "40209", "US", "KY",
                                        "America/New_York"};
static const struct fc_place ups_dest = {"Chicago", "60607", "US", "IL",
                                         "America/Chicago"};

/* code, statusCode, type */
#define UPS(code, sc, type, desc, st)                                          \
    {                                                                          \
        code, sc, type, desc, NULL, st, st                                     \
    }
static const struct fc_step_def ups_steps[FC_S_COUNT] = {
    [FC_S_INFO] = UPS("MP", "003", "M",
                      "Shipper created a label, UPS has not received the "
                      "package yet.",
                      FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] = UPS("OR", "005", "I", "Origin Scan", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] =
        UPS("DP", "005", "I", "Departed from Facility", FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] =
        UPS("AR", "005", "I", "Arrived at Facility", FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = UPS("SR", "019", "I",
                       "The delivery date has been rescheduled due to a "
                       "delay in transit.",
                       FC_ST_IN_TRANSIT),
    [FC_S_CUSTOMS] = UPS("CH", "126", "X",
                         "Your package is being held for customs clearance.",
                         FC_ST_EXCEPTION),
    [FC_S_ADDRESS] = UPS("AE", "007", "X",
                         "The address is incorrect. We're attempting to "
                         "update it.",
                         FC_ST_EXCEPTION),
    [FC_S_RELEASED] = UPS("CR", "012", "I",
                          "Your package has been released by the clearing "
                          "agency.",
                          FC_ST_IN_TRANSIT),
    [FC_S_OFD] =
        UPS("OT", "021", "I", "Out For Delivery Today", FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] = UPS("48", "022", "X",
                         "The receiver was not available for delivery. We'll "
                         "make a second attempt the next business day.",
                         FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = UPS("ZP", "017", "X",
                       "Delivered to UPS Access Point\u2122 and awaiting "
                       "customer pickup.",
                       FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] = UPS("FS", "011", "D", "DELIVERED", FC_ST_DELIVERED),
    [FC_S_COLLECTED] =
        UPS("KB", "026", "D", "Picked up at UPS Access Point\u2122 by receiver",
            FC_ST_DELIVERED),
    [FC_S_RETURNING] = UPS("RS", "033", "X",
                           "The receiver refused the delivery. The package "
                           "is being returned to the sender.",
                           FC_ST_RETURNING),
    [FC_S_RETURN_TRANSIT] = UPS("RT", "035", "I",
                                "Returning to Sender: In Transit to UPS "
                                "Facility",
                                FC_ST_RETURNING),
    [FC_S_RETURNED] =
        UPS("RD", "034", "D", "Returned to Sender", FC_ST_RETURNED),
};

static json_t *ups_address(const struct fc_place *p)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "city", p->city,
                     "stateProvince", p->region, "postalCode", p->postcode,
                     "countryCode", p->country, "country", p->country);
}

static void ups_date(int64_t t, const char *zone, char date[16], char *time,
                     size_t tlen, bool colons)
{
    struct fc_civil c;

    fc_tz_local(zone, t, &c);
    snprintf(date, 16, "%04d%02d%02d", c.year, c.month, c.day);
    if (time != NULL)
        snprintf(time, tlen, colons ? "%02d:%02d:%02d" : "%02d%02d%02d", c.hour,
                 c.min, c.sec);
}

static json_t *ups_activity(const struct fc_track *t, size_t i)
{
    const struct fc_step_def *d = fc_event_def(t->tl, i);
    const struct fc_place *p = fc_event_place(t->tl, i);
    int64_t when = fc_track_time(t, i);
    char ldate[16], ltime[16], gdate[16], gtime[16], off[FC_ISO_BUFSZ];

    ups_date(when, p->zone, ldate, ltime, sizeof(ltime), false);
    ups_date(when, "UTC", gdate, gtime, sizeof(gtime), true);
    fc_fmt_offset(when, p->zone, true, off);
    return json_pack("{s:{s:o, s:s}, s:{s:s, s:s, s:s, s:s}, s:s, s:s, s:s, "
                     "s:s, s:s}",
                     "location", "address", ups_address(p), "slic", "0215",
                     "status", "type", d->code3, "description", d->desc, "code",
                     d->code, "statusCode", d->code2, "date", ldate, "time",
                     ltime, "gmtDate", gdate, "gmtOffset",
                     off + strlen(off) - 6, "gmtTime", gtime);
}

static void ups_render(const struct fc_track *t, size_t n,
                       struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    const struct fc_step_def *cur;
    json_t *pkg, *acts, *dates;
    char date[16], time[16];
    int eta;

    (void)n;
    if (t->k == 0) {
        fc_render_json(r, 200, FC_JSON,
                       json_pack("{s:{s:[{s:s, s:[{s:s, s:s}]}]}}",
                                 "trackResponse", "shipment", "inquiryNumber",
                                 t->number, "warnings", "code", "TW0001",
                                 "message", "Tracking Information Not Found"));
        return;
    }
    acts = json_array();
    for (size_t i = t->k; i-- > 0;)
        json_array_append_new(acts, ups_activity(t, i));
    cur = fc_newest(t);
    pkg = json_pack("{s:s}", "trackingNumber", t->number);
    dates = json_array();
    if ((eta = fc_track_eta(t)) >= 0) {
        const struct fc_date *d0 = &tl->eta[0];

        snprintf(date, sizeof(date), "%04d%02d%02d", d0->year, d0->month,
                 d0->day);
        json_array_append_new(
            dates, json_pack("{s:s, s:s}", "type", "SDD", "date", date));
        if (eta == 1) {
            const struct fc_date *d1 = &tl->eta[1];

            snprintf(date, sizeof(date), "%04d%02d%02d", d1->year, d1->month,
                     d1->day);
            json_array_append_new(
                dates, json_pack("{s:s, s:s}", "type", "RDD", "date", date));
        }
        json_object_set_new(pkg, "deliveryDate", dates);
        json_object_set_new(pkg, "deliveryTime",
                            json_pack("{s:s, s:s, s:s}", "type", "EDW",
                                      "startTime", "140000", "endTime",
                                      "180000"));
    } else if (fc_track_done(t)) {
        const struct fc_place *p = fc_event_place(tl, t->k - 1);

        ups_date(fc_track_time(t, t->k - 1), p->zone, date, time, sizeof(time),
                 false);
        json_array_append_new(
            dates, json_pack("{s:s, s:s}", "type", "DEL", "date", date));
        json_object_set_new(pkg, "deliveryDate", dates);
        json_object_set_new(
            pkg, "deliveryTime",
            json_pack("{s:s, s:s}", "type", "DEL", "endTime", time));
    } else {
        json_decref(dates);
    }
    json_object_set_new(pkg, "activity", acts);
    json_object_set_new(
        pkg, "currentStatus",
        json_pack("{s:s, s:s}", "description", cur->desc, "code", cur->code2));
    json_object_set_new(pkg, "packageAddress",
                        json_pack("[{s:s, s:o}, {s:s, s:o}]", "type", "ORIGIN",
                                  "address", ups_address(tl->carrier->origin),
                                  "type", "DESTINATION", "address",
                                  ups_address(tl->carrier->dest)));
    json_object_set_new(
        pkg, "weight",
        json_pack("{s:s, s:s}", "unitOfMeasurement", "LBS", "weight", "3.10"));
    json_object_set_new(pkg, "service",
                        json_pack("{s:s, s:s, s:s}", "code", "003", "levelCode",
                                  "003", "description", "UPS Ground"));
    json_object_set_new(pkg, "packageCount", json_integer(1));
    fc_render_json(r, 200, FC_JSON,
                   json_pack("{s:{s:[{s:s, s:[o]}]}}", "trackResponse",
                             "shipment", "inquiryNumber", t->number, "package",
                             pkg));
}

static json_t *ups_errors(const char *code, const char *message)
{
    return json_pack("{s:{s:[{s:s, s:s}]}}", "response", "errors", "code", code,
                     "message", message);
}

static void ups_fail(enum fc_fail f, const char *detail, int retry_after,
                     struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        fc_render_json(
            r, 401, FC_JSON,
            ups_errors("250002", detail != NULL
                                     ? detail
                                     : "Invalid Authentication Information."));
        return;
    case FC_FAIL_RATE:
        fc_render_json(r, 429, FC_JSON,
                       ups_errors("10429", "Too Many Requests."));
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        fc_render_json(r, 500, FC_JSON,
                       ups_errors("9999", "Internal server error."));
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_JSON, "{\"trackResponse\":{\"shipment\":[");
        return;
    case FC_FAIL_INVALID:
        fc_render_json(r, 400, FC_JSON,
                       ups_errors("TV1002", detail != NULL
                                                ? detail
                                                : "Invalid inquiry number"));
        return;
    case FC_FAIL_NOT_FOUND:
        fc_render_json(r, 404, FC_JSON,
                       ups_errors("9370701", "Resource not found."));
        return;
    }
}

const struct fc_carrier fc_carrier_ups = {
    .name = "ups",
    .id = FC_UPS,
    .batch_max = 1,
    .loc = FC_LOC_FULL,
    .eta = FC_ETA_WINDOW,
    .origin = &ups_origin,
    .hub = &ups_hub,
    .dest = &ups_dest,
    .steps = ups_steps,
    .render = ups_render,
    .fail = ups_fail,
};

/* ====================================================================== */
/* FedEx Track API v1                                                      */
/* ====================================================================== */

static const struct fc_place fedex_origin = {"MISSISSAUGA", "L5T 2N7", "CA",
                                             "ON", "America/Toronto"};
static const struct fc_place fedex_hub = {"MEMPHIS", "38118", "US", "TN",
                                          "America/Chicago"};
static const struct fc_place fedex_dest = {"DENVER", "80202", "US", "CO",
                                           "America/Denver"};

/* eventType, derivedStatusCode, exceptionDescription */
#define FDX(code, derived, desc, exc, st)                                      \
    {                                                                          \
        code, derived, NULL, desc, exc, st, st                                 \
    }
static const struct fc_step_def fedex_steps[FC_S_COUNT] = {
    [FC_S_INFO] = FDX("OC", "IN", "Shipment information sent to FedEx", NULL,
                      FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] = FDX("PU", "PU", "Picked up", NULL, FC_ST_IN_TRANSIT),
    [FC_S_DEPART] =
        FDX("DP", "IT", "Departed FedEx hub", NULL, FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] =
        FDX("AR", "IT", "Arrived at FedEx location", NULL, FC_ST_IN_TRANSIT),
    [FC_S_DELAY] =
        FDX("DY", "DY", "Delay",
            "A weather delay may cause a delay in delivery", FC_ST_IN_TRANSIT),
    [FC_S_CUSTOMS] = FDX("CD", "DY", "Clearance delay - Import",
                         "Import documentation is incomplete; the broker has "
                         "contacted the recipient",
                         FC_ST_EXCEPTION),
    [FC_S_ADDRESS] = FDX("SE", "SE", "Shipment exception",
                         "Incorrect recipient address", FC_ST_EXCEPTION),
    [FC_S_RELEASED] = FDX("CC", "IT",
                          "International shipment release - "
                          "Import",
                          NULL, FC_ST_IN_TRANSIT),
    [FC_S_OFD] = FDX("OD", "OD", "On FedEx vehicle for delivery", NULL,
                     FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] =
        FDX("DE", "DE", "Delivery exception",
            "Customer not available or business closed", FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = FDX("HP", "HP", "Ready for recipient pickup", NULL,
                       FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] = FDX("DL", "DL", "Delivered", NULL, FC_ST_DELIVERED),
    [FC_S_COLLECTED] = FDX("DL", "DL", "Delivered",
                           "Picked up at FedEx location", FC_ST_DELIVERED),
    [FC_S_RETURNING] =
        FDX("RS", "IT", "Returning package to shipper", NULL, FC_ST_RETURNING),
    [FC_S_RETURN_TRANSIT] =
        FDX("RS", "IT", "Returning package to shipper", NULL, FC_ST_RETURNING),
    /* FedEx has no returned code: the parcel is delivered to the shipper. */
    [FC_S_RETURNED] = FDX("DL", "DL", "Delivered", NULL, FC_ST_DELIVERED),
};

static json_t *fedex_address(const struct fc_place *p, bool street)
{
    json_t *a =
        json_pack("{s:s, s:s, s:s, s:s, s:b, s:s}", "city", p->city,
                  "stateOrProvinceCode", p->region, "postalCode", p->postcode,
                  "countryCode", p->country, "residential", 0, "countryName",
                  strcmp(p->country, "CA") == 0 ? "Canada" : "United States");

    if (street)
        json_object_set_new(a, "streetLines", json_pack("[s]", ""));
    return a;
}

static json_t *fedex_result(const struct fc_track *t)
{
    const struct fc_timeline *tl = t->tl;
    const struct fc_step_def *cur;
    json_t *res, *scans, *dates;
    char uniq[96];
    int eta;

    if (t->k == 0)
        return json_pack(
            "{s:{s:s, s:s, s:s}, s:{s:s, s:s}}", "trackingNumberInfo",
            "trackingNumber", t->number, "trackingNumberUniqueId", "",
            "carrierCode", "", "error", "code",
            "TRACKING.TRACKINGNUMBER.NOTFOUND", "message",
            "Tracking number cannot be found. Please correct the tracking "
            "number and try again.");
    snprintf(uniq, sizeof(uniq), "12029~%s~FDEG", t->number);
    scans = json_array();
    for (size_t i = t->k; i-- > 0;) {
        const struct fc_step_def *d = fc_event_def(tl, i);
        const struct fc_place *p = fc_event_place(tl, i);

        json_array_append_new(
            scans,
            json_pack(
                "{s:o, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:s}", "date",
                fc_jtime_offset(fc_track_time(t, i), p->zone, true),
                "eventType", d->code, "eventDescription", d->desc,
                "exceptionCode", d->extra != NULL ? "08" : "",
                "exceptionDescription", d->extra != NULL ? d->extra : "",
                "scanLocation", fedex_address(p, true), "locationId", "FXLOC",
                "locationType", i == 0 ? "PICKUP_LOCATION" : "FEDEX_FACILITY",
                "derivedStatusCode", d->code2, "derivedStatus",
                fc_status_label(tl->ev[i].st)));
    }
    cur = fc_newest(t);
    res = json_pack(
        "{s:{s:s, s:s, s:s}, s:{s:s, s:b}, s:{s:{}, s:o}, s:{s:{}, s:o}, "
        "s:{s:s, s:s, s:s, s:s, s:o}}",
        "trackingNumberInfo", "trackingNumber", t->number,
        "trackingNumberUniqueId", uniq, "carrierCode", "FDXG",
        "additionalTrackingInfo", "nickname", "", "hasAssociatedShipments", 0,
        "shipperInformation", "contact", "address",
        fedex_address(tl->carrier->origin, false), "recipientInformation",
        "contact", "address", fedex_address(tl->carrier->dest, false),
        "latestStatusDetail", "code", cur->code, "derivedCode", cur->code2,
        "statusByLocale", fc_status_label(tl->ev[t->k - 1].st), "description",
        cur->desc, "scanLocation",
        fedex_address(fc_event_place(tl, t->k - 1), true));
    dates = json_array();
    if ((eta = fc_track_eta(t)) >= 0) {
        const char *z = tl->carrier->dest->zone;

        json_array_append_new(
            dates,
            json_pack("{s:s, s:o}", "type", "ESTIMATED_DELIVERY", "dateTime",
                      fc_jtime_offset(fc_eta_until(tl, eta), z, true)));
        json_object_set_new(
            res, "estimatedDeliveryTimeWindow",
            json_pack("{s:{}, s:{s:o, s:o}}", "description", "window", "begins",
                      fc_jtime_offset(fc_eta_from(tl, eta), z, true), "ends",
                      fc_jtime_offset(fc_eta_until(tl, eta), z, true)));
    } else if (fc_track_done(t)) {
        const struct fc_place *p = fc_event_place(tl, t->k - 1);

        json_array_append_new(
            dates,
            json_pack(
                "{s:s, s:o}", "type", "ACTUAL_DELIVERY", "dateTime",
                fc_jtime_offset(fc_track_time(t, t->k - 1), p->zone, true)));
        json_object_set_new(res, "deliveryDetails",
                            json_pack("{s:s, s:s}", "receivedByName", "J.SMITH",
                                      "deliveryAttempts", "1"));
    }
    json_object_set_new(res, "dateAndTimes", dates);
    json_object_set_new(res, "serviceDetail",
                        json_pack("{s:s, s:s, s:s}", "type", "FEDEX_GROUND",
                                  "description", "FedEx Ground",
                                  "shortDescription", "FG"));
    json_object_set_new(res, "scanEvents", scans);
    return res;
}

static void fedex_render(const struct fc_track *t, size_t n,
                         struct fc_response *r)
{
    json_t *list = json_array();
    char txid[40];

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:[o]}", "trackingNumber",
                                              t[i].number, "trackResults",
                                              fedex_result(&t[i])));
    fc_render_uuid(txid);
    fc_render_json(r, 200, FC_JSON,
                   json_pack("{s:s, s:{s:o}}", "transactionId", txid, "output",
                             "completeTrackResults", list));
}

static json_t *fedex_errors(const char *code, const char *message)
{
    char txid[40];

    fc_render_uuid(txid);
    return json_pack("{s:s, s:[{s:s, s:s}]}", "transactionId", txid, "errors",
                     "code", code, "message", message);
}

static void fedex_fail(enum fc_fail f, const char *detail, int retry_after,
                       struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        fc_render_json(r, 401, FC_JSON,
                       fedex_errors("NOT.AUTHORIZED.ERROR",
                                    detail != NULL
                                        ? detail
                                        : "Access token expired. Please "
                                          "modify your request and try "
                                          "again."));
        return;
    case FC_FAIL_RATE:
        fc_render_json(r, 429, FC_JSON,
                       fedex_errors("TOO.MANY.REQUESTS.ERROR",
                                    "We have received too many requests in "
                                    "a short duration. Please wait a while "
                                    "to try again."));
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        fc_render_json(r, 500, FC_JSON,
                       fedex_errors("INTERNAL.SERVER.ERROR",
                                    "We encountered an unexpected error and "
                                    "are working to resolve the issue. We "
                                    "apologize for any inconvenience. Please "
                                    "check back at a later time."));
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_JSON,
                        "{\"transactionId\":\"x\",\"output\":{\"complete");
        return;
    case FC_FAIL_INVALID:
        fc_render_json(r, 400, FC_JSON,
                       fedex_errors("TRACKING.TRACKINGNUMBER.EMPTY",
                                    detail != NULL
                                        ? detail
                                        : "Please provide tracking number."));
        return;
    case FC_FAIL_NOT_FOUND:
        fc_render_json(r, 404, FC_JSON,
                       fedex_errors("NOT.FOUND.ERROR",
                                    "The resource you requested is no "
                                    "longer available. Please modify your "
                                    "request and try again."));
        return;
    }
}

const struct fc_carrier fc_carrier_fedex = {
    .name = "fedex",
    .id = FC_FEDEX,
    .batch_max = 30,
    .loc = FC_LOC_FULL,
    .eta = FC_ETA_WINDOW,
    .desc_join_extra = true,
    .origin = &fedex_origin,
    .hub = &fedex_hub,
    .dest = &fedex_dest,
    .steps = fedex_steps,
    .render = fedex_render,
    .fail = fedex_fail,
};

/* ====================================================================== */
/* USPS Tracking v3                                                        */
/* ====================================================================== */

static const struct fc_place usps_origin = {"HARTFORD", "06103", "US", "CT",
                                            "America/New_York"};
static const struct fc_place usps_hub = {
    "SPRINGFIELD MA NETWORK DISTRIBUTION CENTER", "01152", "US", "MA",
    "America/New_York"};
static const struct fc_place usps_dest = {"PHOENIX", "85004", "US", "AZ",
                                          "America/Phoenix"};

/* eventCode, statusCategory, eventType */
#define USPS(code, cat, desc, st)                                              \
    {                                                                          \
        code, cat, NULL, desc, NULL, st, st                                    \
    }
static const struct fc_step_def usps_steps[FC_S_COUNT] = {
    [FC_S_INFO] =
        USPS("GX", "Pre-Shipment", "Shipping Label Created, USPS Awaiting Item",
             FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] =
        USPS("03", "Accepted", "USPS in possession of item", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] = USPS("T1", "In Transit", "Departed USPS Regional Facility",
                         FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] = USPS("A1", "In Transit",
                         "Arrived at USPS Regional Facility", FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = USPS("71", "In Transit", "Rescheduled to Next Delivery Day",
                        FC_ST_IN_TRANSIT),
    [FC_S_CUSTOMS] = USPS("15", "Alert", "Mis-shipped", FC_ST_EXCEPTION),
    [FC_S_ADDRESS] =
        USPS("05", "Alert", "Undeliverable as Addressed", FC_ST_EXCEPTION),
    [FC_S_RELEASED] = USPS("10", "In Transit",
                           "Processed Through USPS Facility", FC_ST_IN_TRANSIT),
    [FC_S_OFD] = USPS("OF", "Out for Delivery", "Out for Delivery",
                      FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] = USPS("02", "Delivery Attempt",
                          "Notice Left (No Authorized Recipient Available)",
                          FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = USPS("16", "Available for Pickup", "Available for Pickup",
                        FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] =
        USPS("01", "Delivered", "Delivered, In/At Mailbox", FC_ST_DELIVERED),
    [FC_S_COLLECTED] =
        USPS("43", "Delivered",
             "Delivered, Individual Picked Up at Post Office", FC_ST_DELIVERED),
    [FC_S_RETURNING] = USPS("09", "Alert", "Return to Sender", FC_ST_RETURNING),
    [FC_S_RETURN_TRANSIT] =
        USPS("09", "Alert", "Return to Sender Processed", FC_ST_RETURNING),
    /* No event code: wismo's text rule ("to original sender") decides. */
    [FC_S_RETURNED] =
        USPS("", "Delivered", "Delivered to Original Sender", FC_ST_RETURNED),
};

static void usps_render(const struct fc_track *t, size_t n,
                        struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    const struct fc_carrier *c = tl->carrier;
    const struct fc_step_def *cur;
    json_t *root, *events;
    char buf[FC_ISO_BUFSZ], gmt[FC_ISO_BUFSZ], summary[256];
    int eta;

    (void)n;
    if (t->k == 0) {
        fc_render_json(
            r, 404, FC_JSON,
            json_pack("{s:s, s:{s:s, s:s, s:[{s:s, s:s}]}}", "apiVersion",
                      "/tracking/v3", "error", "code", "404", "message",
                      "The tracking number may be incorrect or the status "
                      "update is not yet available.",
                      "errors", "title", "Tracking number not found", "detail",
                      t->number));
        return;
    }
    events = json_array();
    for (size_t i = t->k; i-- > 0;) {
        const struct fc_step_def *d = fc_event_def(tl, i);
        const struct fc_place *p = fc_event_place(tl, i);
        int64_t when = fc_track_time(t, i);

        fc_fmt_local(when, p->zone, buf);
        fc_fmt_utc(when, gmt);
        fc_fmt_offset(when, p->zone, true, summary);
        json_array_append_new(
            events,
            json_pack("{s:s, s:s, s:s, s:s, s:n, s:s, s:s, s:s, s:n, s:n, "
                      "s:s, s:s}",
                      "eventType", d->desc, "eventTimestamp", buf,
                      "GMTTimestamp", gmt, "GMTOffset",
                      summary + strlen(summary) - 6, "eventCountry",
                      "eventCity", p->city, "eventState", p->region, "eventZIP",
                      p->postcode, "firm", "name", "authorizedAgent", "false",
                      "eventCode", d->code));
    }
    cur = fc_newest(t);
    fc_fmt_local(fc_track_time(t, t->k - 1), fc_event_place(tl, t->k - 1)->zone,
                 buf);
    snprintf(summary, sizeof(summary), "%s, %s in %s, %s %s.", cur->desc, buf,
             fc_event_place(tl, t->k - 1)->city,
             fc_event_place(tl, t->k - 1)->region,
             fc_event_place(tl, t->k - 1)->postcode);
    root = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "trackingNumber",
        t->number, "destinationCity", c->dest->city, "destinationState",
        c->dest->region, "destinationZIP", c->dest->postcode, "emailEnabled",
        "true", "mailClass", "USPS Ground Advantage<SUP>&#8482;</SUP>",
        "mailType", "DM", "originCity", c->origin->city, "originState",
        c->origin->region, "originZIP", c->origin->postcode);
    json_object_set_new(root, "status", json_string(cur->desc));
    json_object_set_new(root, "statusCategory", json_string(cur->code2));
    json_object_set_new(root, "statusSummary", json_string(summary));
    if ((eta = fc_track_eta(t)) >= 0) {
        const struct fc_date *d = &tl->eta[eta];

        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", d->year, d->month, d->day);
        json_object_set_new(root, "expectedDeliveryDate", json_string(buf));
    }
    json_object_set_new(root, "trackingEvents", events);
    fc_render_json(r, 200, FC_JSON, root);
}

static json_t *usps_error(const char *code, const char *message,
                          const char *title)
{
    return json_pack("{s:s, s:{s:s, s:s, s:[{s:s}]}}", "apiVersion",
                     "/tracking/v3", "error", "code", code, "message", message,
                     "errors", "title", title);
}

static void usps_fail(enum fc_fail f, const char *detail, int retry_after,
                      struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        fc_render_json(r, 401, FC_JSON,
                       usps_error("401", "Unauthorized",
                                  detail != NULL
                                      ? detail
                                      : "Invalid or expired access token"));
        return;
    case FC_FAIL_RATE:
        fc_render_json(r, 429, FC_JSON,
                       usps_error("429", "Too Many Requests",
                                  "Quota exceeded for this application"));
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        fc_render_json(r, 500, FC_JSON,
                       usps_error("500", "Internal Server Error",
                                  "An internal error occurred"));
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_JSON, "{\"trackingNumber\":\"9400 <html>");
        return;
    case FC_FAIL_INVALID:
        fc_render_json(r, 400, FC_JSON,
                       usps_error("400", "Bad Request",
                                  detail != NULL ? detail : "Bad request"));
        return;
    case FC_FAIL_NOT_FOUND:
        fc_render_json(r, 404, FC_JSON,
                       usps_error("404", "Not Found", "No such resource"));
        return;
    }
}

const struct fc_carrier fc_carrier_usps = {
    .name = "usps",
    .id = FC_USPS,
    .batch_max = 1,
    .loc = FC_LOC_FULL,
    .eta = FC_ETA_DATE,
    .origin = &usps_origin,
    .hub = &usps_hub,
    .dest = &usps_dest,
    .steps = usps_steps,
    .render = usps_render,
    .fail = usps_fail,
};

/* ====================================================================== */
/* GLS Track And Trace v1                                                  */
/* ====================================================================== */

static const struct fc_place gls_origin = {"Neuss", "41460", "DE", NULL,
                                           "Europe/Berlin"};
static const struct fc_place gls_hub = {"H\u00fcnfeld", "36088", "DE", NULL,
                                        "Europe/Berlin"};
static const struct fc_place gls_dest = {"'s-Hertogenbosch", "5215", "NL", NULL,
                                         "Europe/Amsterdam"};

/* event code, parcel status (what the shipment status is) */
#define GLS(code, parcel, desc, st, cur)                                       \
    {                                                                          \
        code, parcel, NULL, desc, NULL, st, cur                                \
    }
static const struct fc_step_def gls_steps[FC_S_COUNT] = {
    [FC_S_INFO] = GLS("INTIAL.PREADVICE", "PREADVICE",
                      "The parcel data was entered into the GLS IT system; "
                      "the parcel was not yet handed over to GLS.",
                      FC_ST_INFO_RECEIVED, FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] =
        GLS("INTIAL.NORMAL", "INTRANSIT", "The parcel was handed over to GLS.",
            FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_DEPART] = GLS("OUTBOD.NORMAL", "INTRANSIT",
                        "The parcel has left the parcel center.",
                        FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] = GLS("INBOUD.NORMAL", "INTRANSIT",
                        "The parcel has reached the parcel center.",
                        FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = GLS("INBOUD.STORED", "INWAREHOUSE",
                       "The parcel is stored in the parcel center. Delivery "
                       "is delayed.",
                       FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    /* GLS has no exception code but CANCEL: a customs hold is a stop. */
    [FC_S_CUSTOMS] = GLS("INBOUD.CUSTOMS", "INWAREHOUSE",
                         "The parcel is held for customs clearance.",
                         FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_ADDRESS] = GLS("NOTDEL.WRONGADDRESS", "NOTDELIVERED",
                         "The parcel could not be delivered as the address "
                         "is incorrect.",
                         FC_ST_FAILED_ATTEMPT, FC_ST_FAILED_ATTEMPT),
    [FC_S_RELEASED] = GLS("OUTBOD.NORMAL", "INTRANSIT",
                          "The parcel has left the parcel center.",
                          FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_OFD] = GLS("OUTDEL.NORMAL", "INDELIVERY",
                     "The parcel is expected to be delivered during the day.",
                     FC_ST_OUT_FOR_DELIVERY, FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] = GLS("NOTDEL.ABSENT", "NOTDELIVERED",
                         "The parcel could not be delivered as the consignee "
                         "was absent.",
                         FC_ST_FAILED_ATTEMPT, FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = GLS("DELIVD.PARCELSHOP", "DELIVEREDPS",
                       "The parcel has been delivered at the ParcelShop.",
                       FC_ST_AVAILABLE_FOR_PICKUP, FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] =
        GLS("DELIVD.NORMAL", "DELIVERED", "The parcel has been delivered.",
            FC_ST_DELIVERED, FC_ST_DELIVERED),
    [FC_S_COLLECTED] = GLS("DELIVD.DEL_BY_PSAPP", "DELIVERED",
                           "The parcel has been picked up from the "
                           "ParcelShop.",
                           FC_ST_DELIVERED, FC_ST_DELIVERED),
    /* No return codes either: the way back is transit, then delivered. */
    [FC_S_RETURNING] = GLS("INBOUD.RETURN", "INTRANSIT",
                           "The parcel is on its way back to the sender.",
                           FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_RETURN_TRANSIT] = GLS("OUTBOD.NORMAL", "INTRANSIT",
                                "The parcel has left the parcel center.",
                                FC_ST_IN_TRANSIT, FC_ST_IN_TRANSIT),
    [FC_S_RETURNED] = GLS("DELIVD.NORMAL", "DELIVERED",
                          "The parcel has been delivered back to the sender.",
                          FC_ST_DELIVERED, FC_ST_DELIVERED),
};

static json_t *gls_parcel(const struct fc_track *t)
{
    const struct fc_timeline *tl = t->tl;
    json_t *events;

    if (t->k == 0)
        return json_pack("{s:s, s:s, s:s}", "requested", t->number, "errorCode",
                         "E_404_01", "errorMessage", "Resource Not Found");
    events = json_array();
    for (size_t i = t->k; i-- > 0;) {
        const struct fc_step_def *d = fc_event_def(tl, i);
        const struct fc_place *p = fc_event_place(tl, i);

        json_array_append_new(
            events,
            json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "code", d->code, "city",
                      p->city, "postalCode", p->postcode, "country", p->country,
                      "description", d->desc, "eventDateTime",
                      fc_jtime_offset(fc_track_time(t, i), p->zone, false)));
    }
    return json_pack("{s:s, s:s, s:s, s:o, s:o}", "requested", t->number,
                     "unitno", t->number, "status", fc_newest(t)->code2,
                     "statusDateTime",
                     fc_jtime_offset(fc_track_time(t, t->k - 1),
                                     fc_event_place(tl, t->k - 1)->zone, false),
                     "events", events);
}

static void gls_render(const struct fc_track *t, size_t n,
                       struct fc_response *r)
{
    json_t *list = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, gls_parcel(&t[i]));
    fc_render_json(r, 200, FC_JSON, json_pack("{s:o}", "parcels", list));
}

static json_t *gls_problem(int status, const char *title, const char *detail)
{
    return json_pack("{s:s, s:s, s:i, s:s, s:s}", "type",
                     "https://api.gls-group.net/problems", "title", title,
                     "status", status, "detail", detail, "instance",
                     "/track-and-trace-v1/tracking/simple");
}

static void gls_fail(enum fc_fail f, const char *detail, int retry_after,
                     struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        fc_render_json(r, 401, FC_JSON,
                       json_pack("{s:{s:s, s:{s:s}}}", "fault", "faultstring",
                                 detail != NULL ? detail
                                                : "The Token has expired: "
                                                  "policy(Verify-JWT)",
                                 "detail", "errorcode",
                                 "steps.jwt.TokenExpired"));
        return;
    case FC_FAIL_RATE:
        fc_render_json(
            r, 429, FC_JSON,
            json_pack("{s:{s:s, s:{s:s}}}", "fault", "faultstring",
                      "Rate limit quota violation. Quota limit  exceeded. "
                      "Identifier : fakecarrier",
                      "detail", "errorcode",
                      "policies.ratelimit.QuotaViolation"));
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        fc_render_json(r, 500, "application/problem+json",
                       gls_problem(500, "Internal Server Error",
                                   "An unexpected error occurred."));
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_JSON, "{\"parcels\":[{\"requested\":");
        return;
    case FC_FAIL_INVALID:
        fc_render_json(r, 400, "application/problem+json",
                       gls_problem(400, "Bad Request",
                                   detail != NULL ? detail : "Bad request"));
        return;
    case FC_FAIL_NOT_FOUND:
        fc_render_json(r, 404, "application/problem+json",
                       gls_problem(404, "Not Found", "Resource not found"));
        return;
    }
}

const struct fc_carrier fc_carrier_gls = {
    .name = "gls",
    .id = FC_GLS,
    .batch_max = 10,
    .loc = FC_LOC_FULL,
    .eta = FC_ETA_NONE,
    .explicit_cur = true,
    .origin = &gls_origin,
    .hub = &gls_hub,
    .dest = &gls_dest,
    .steps = gls_steps,
    .render = gls_render,
    .fail = gls_fail,
};
