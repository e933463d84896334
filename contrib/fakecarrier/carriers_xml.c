/*
 * The XML carriers: DPD (SOAP ParcelLifeCycleService 2.0 and LoginService
 * getAuth), Canada Post (VIS track v2) and bpost (trackedmail). Bodies are
 * written by hand with every text escaped (fc_buf_xml), in the shapes of
 * tests/fixtures/carriers.
 */
#include "render.h"

#include <stdio.h>
#include <string.h>

#define FC_SOAP_TYPE "text/xml; charset=utf-8"
#define FC_SOAP_OPEN                                                           \
    "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"                             \
    "<soap:Envelope "                                                          \
    "xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" "                \
    "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "                 \
    "xmlns:xsd=\"http://www.w3.org/2001/XMLSchema\">\n"                        \
    "   <soap:Body>\n"
#define FC_SOAP_CLOSE "   </soap:Body>\n</soap:Envelope>\n"

/* <name>text</name> with text escaped; <name/> when text is NULL or "". */
static void fc_xml_el(struct fc_buf *b, int indent, const char *name,
                      const char *text)
{
    fc_buf_printf(b, "%*s", indent, "");
    if (text == NULL || text[0] == '\0') {
        fc_buf_printf(b, "<%s/>\n", name);
        return;
    }
    fc_buf_printf(b, "<%s>", name);
    fc_buf_xml(b, text);
    fc_buf_printf(b, "</%s>\n", name);
}

/* ====================================================================== */
/* DPD ParcelLifeCycleService 2.0                                          */
/* ====================================================================== */

static const struct fc_place dpd_origin = {"Mechelen", NULL, "BE", NULL,
                                           "Europe/Brussels"};
static const struct fc_place dpd_hub = {"Puurs", NULL, "BE", NULL,
                                        "Europe/Brussels"};
static const struct fc_place dpd_dest = {"Fl\u00e9malle", NULL, "BE", NULL,
                                         "Europe/Brussels"};

/* status code, label (extra), description */
#define DPD(code, label, desc, st)                                             \
    {                                                                          \
        code, NULL, NULL, desc, label, st, st                                  \
    }
static const struct fc_step_def dpd_steps[FC_S_COUNT] = {
    /* No pre-advice code in the NL/BE flavour: timelines start at pickup. */
    [FC_S_PICKUP] = DPD("PickedUp", "Parcel handed to DPD",
                        "DPD has received your parcel.", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] =
        DPD("BetweenDepots", "In transit",
            "The parcel is at the parcel dispatch centre.", FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] = DPD("Depot", "At parcel delivery centre",
                        "At parcel delivery centre.", FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = DPD("Warehouse", "In storage",
                       "The parcel is in storage & will be delivered later.",
                       FC_ST_IN_TRANSIT),
    /* DPD has no exception code: holds are in-transit steps. */
    [FC_S_CUSTOMS] =
        DPD("Customs", "Customs clearance",
            "The parcel is going through customs clearance.", FC_ST_IN_TRANSIT),
    [FC_S_ADDRESS] =
        DPD("Warehouse", "Address check",
            "The address is being checked <incomplete>.", FC_ST_IN_TRANSIT),
    [FC_S_RELEASED] =
        DPD("Depot", "At parcel delivery centre",
            "The parcel is back in the delivery process.", FC_ST_IN_TRANSIT),
    [FC_S_OFD] = DPD("Courier", "Parcel out for delivery",
                     "The parcel has left the parcel delivery centre and is "
                     "on its way to the consignee.",
                     FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] = DPD("DeliveryFailure", "Delivery failed",
                         "Unfortunately we have not been able to deliver "
                         "your parcel.",
                         FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = DPD("ParcelShop", "Parcel in Pickup parcelshop",
                       "The parcel has been delivered to the DPD Pickup "
                       "parcelshop.",
                       FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] = DPD("Delivered", "Parcel delivered",
                           "The parcel has been delivered.", FC_ST_DELIVERED),
    [FC_S_COLLECTED] = DPD("Delivered", "Parcel collected",
                           "The parcel has been collected from the DPD "
                           "Pickup parcelshop.",
                           FC_ST_DELIVERED),
    /* No return codes: back at the depot, then delivered to the sender. */
    [FC_S_RETURNING] = DPD("ReturningFromDelivery", "Back at depot",
                           "The parcel is back at the parcel delivery centre "
                           "and will be returned to the sender.",
                           FC_ST_FAILED_ATTEMPT),
    [FC_S_RETURN_TRANSIT] = DPD("BetweenDepots", "In transit",
                                "The parcel is on its way back to the "
                                "sender.",
                                FC_ST_IN_TRANSIT),
    [FC_S_RETURNED] = DPD("Delivered", "Parcel delivered",
                          "The parcel has been delivered back to the "
                          "sender.",
                          FC_ST_DELIVERED),
};

/* A ContentLine: <name><content>text</content><bold/><paragraph/></name> */
static void dpd_line(struct fc_buf *b, int indent, const char *name,
                     const char *text, bool bold)
{
    fc_buf_printf(b, "%*s<%s>\n", indent, "", name);
    fc_xml_el(b, indent + 3, "content", text);
    fc_buf_printf(b, "%*s<bold>%s</bold>\n%*s<paragraph>false</paragraph>\n",
                  indent + 3, "", bold ? "true" : "false", indent + 3, "");
    fc_buf_printf(b, "%*s</%s>\n", indent, "", name);
}

/* "M/d/yyyy h:mm:ss AM|PM" (messageLanguage en_EN), local to the place. */
static void dpd_date(int64_t t, const char *zone, char *buf, size_t len)
{
    struct fc_civil c;
    int h12;

    fc_tz_local(zone, t, &c);
    h12 = c.hour % 12 == 0 ? 12 : c.hour % 12;
    snprintf(buf, len, "%d/%d/%04d %d:%02d:%02d %s", c.month, c.day, c.year,
             h12, c.min, c.sec, c.hour < 12 ? "AM" : "PM");
}

static void dpd_status_info(struct fc_buf *b, const struct fc_step_def *d,
                            const struct fc_place *p, int64_t t, bool reached,
                            bool current)
{
    fc_buf_puts(b, "            <statusInfo>\n");
    fc_xml_el(b, 15, "status", d->code);
    dpd_line(b, 15, "label", d->extra, true);
    fc_buf_puts(b, "               <description>\n");
    dpd_line(b, 18, "content", d->desc, false);
    fc_buf_puts(b, "               </description>\n");
    fc_buf_printf(b,
                  "               <statusHasBeenReached>%s"
                  "</statusHasBeenReached>\n"
                  "               <isCurrentStatus>%s</isCurrentStatus>\n"
                  "               <showContactInfo>%s</showContactInfo>\n",
                  reached ? "true" : "false", current ? "true" : "false",
                  reached ? "true" : "false");
    if (reached) {
        char buf[64];

        snprintf(buf, sizeof(buf), "%s (%s)", p->city, p->country);
        dpd_line(b, 15, "location", buf, true);
        dpd_date(t, p->zone, buf, sizeof(buf));
        dpd_line(b, 15, "date", buf, true);
    }
    fc_buf_puts(b, "            </statusInfo>\n");
}

static void dpd_render(const struct fc_track *t, size_t n,
                       struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    struct fc_buf *b = &r->body;

    (void)n;
    fc_buf_reset(b);
    fc_buf_puts(b, FC_SOAP_OPEN);
    fc_buf_puts(b, "      <getTrackingDataResponse xmlns=\"http://dpd.com/"
                   "common/service/types/ParcelLifeCycleService/2.0\">\n"
                   "         <trackingresult>\n"
                   "            <shipmentInfo>\n"
                   "               <serviceDescription>\n");
    dpd_line(b, 18, "label", "Your DPD service:", false);
    dpd_line(b, 18, "content", t->k > 0 ? "DPD HOME" : "", false);
    fc_buf_puts(b, "               </serviceDescription>\n"
                   "               <status>SHIPMENT</status>\n"
                   "               <statusHasBeenReached>false"
                   "</statusHasBeenReached>\n"
                   "               <isCurrentStatus>false</isCurrentStatus>\n"
                   "               <showContactInfo>false</showContactInfo>\n"
                   "            </shipmentInfo>\n");
    /* The whole life cycle: the reached steps, then the ones to come. */
    for (size_t i = 0; i < t->k; i++)
        dpd_status_info(b, fc_event_def(tl, i), fc_event_place(tl, i),
                        fc_track_time(t, i), true, i + 1 == t->k);
    for (size_t i = t->k; t->k > 0 && i < tl->n; i++)
        dpd_status_info(b, fc_event_def(tl, i), fc_event_place(tl, i), 0, false,
                        false);
    fc_buf_puts(b, "         </trackingresult>\n"
                   "      </getTrackingDataResponse>\n");
    fc_buf_puts(b, FC_SOAP_CLOSE);
    r->status = 200;
    r->content_type = FC_SOAP_TYPE;
}

/* A SOAP Fault; auth_code: the authenticationFault errorCode, or NULL. */
static void dpd_fault(struct fc_response *r, int status, const char *code,
                      const char *string, const char *auth_code,
                      const char *auth_message)
{
    struct fc_buf *b = &r->body;

    fc_buf_reset(b);
    fc_buf_puts(b, FC_SOAP_OPEN);
    fc_buf_puts(b, "      <soap:Fault>\n");
    fc_xml_el(b, 9, "faultcode", code);
    fc_xml_el(b, 9, "faultstring", string);
    if (auth_code != NULL) {
        fc_buf_puts(b, "         <detail>\n"
                       "            <ns:authenticationFault xmlns:ns=\""
                       "http://dpd.com/common/service/types/Authentication/"
                       "2.0\">\n");
        fc_xml_el(b, 15, "errorCode", auth_code);
        fc_xml_el(b, 15, "errorMessage", auth_message);
        fc_buf_puts(b, "            </ns:authenticationFault>\n"
                       "         </detail>\n");
    }
    fc_buf_puts(b, "      </soap:Fault>\n");
    fc_buf_puts(b, FC_SOAP_CLOSE);
    r->status = status;
    r->content_type = FC_SOAP_TYPE;
}

static void dpd_fail(enum fc_fail f, const char *detail, int retry_after,
                     struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        /* detail: the errorCode (login or token problem). */
        dpd_fault(r, 500, "soap:Server", "Fault occured",
                  detail != NULL ? detail : "ERR_DELICOM_TOKEN_EXPIRED",
                  detail != NULL &&
                          strcmp(detail, "DELICOM_ERR_AUTHENTICATION") == 0
                      ? "Authentication failure, check delisId and password."
                      : "The authentication token is expired or incorrect.");
        return;
    case FC_FAIL_RATE:
        dpd_fault(r, 429, "soap:Server", "Too many requests, slow down.", NULL,
                  NULL);
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        dpd_fault(r, 500, "soap:Server", "Internal error", NULL, NULL);
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, FC_SOAP_TYPE,
                        "<?xml version=\"1.0\"?><soap:Envelope><soap:Body>"
                        "<getTrackingDataResponse><trackingresult>");
        return;
    case FC_FAIL_INVALID:
        dpd_fault(r, 500, "soap:Client",
                  detail != NULL ? detail : "Invalid request", NULL, NULL);
        return;
    case FC_FAIL_NOT_FOUND:
        fc_response_set(r, 404, "text/html",
                        "<html><body>404 Not Found"
                        "</body></html>");
        return;
    }
}

const struct fc_carrier fc_carrier_dpd = {
    .name = "dpd",
    .id = FC_DPD,
    .batch_max = 1,
    .loc = FC_LOC_CITY_COUNTRY,
    .eta = FC_ETA_NONE,
    .offsetless = true,
    .origin = &dpd_origin,
    .hub = &dpd_hub,
    .dest = &dpd_dest,
    .steps = dpd_steps,
    .render = dpd_render,
    .fail = dpd_fail,
};

void fc_dpd_login_answer(struct fc_response *r, const char *delis_id,
                         const char *token, int64_t expires)
{
    struct fc_buf *b = &r->body;
    char when[FC_ISO_BUFSZ];

    fc_fmt_utc(expires, when);
    fc_buf_reset(b);
    fc_buf_puts(b, FC_SOAP_OPEN);
    fc_buf_puts(b, "      <ns2:getAuthResponse xmlns:ns2=\"http://dpd.com/"
                   "common/service/types/LoginService/2.0\">\n"
                   "         <return>\n");
    fc_xml_el(b, 12, "delisId", delis_id);
    fc_xml_el(b, 12, "customerUid", delis_id);
    fc_xml_el(b, 12, "authToken", token);
    fc_xml_el(b, 12, "depot", "0522");
    fc_xml_el(b, 12, "authTokenExpires", when);
    fc_buf_puts(b, "         </return>\n"
                   "      </ns2:getAuthResponse>\n");
    fc_buf_puts(b, FC_SOAP_CLOSE);
    r->status = 200;
    r->content_type = FC_SOAP_TYPE;
}

/* ====================================================================== */
/* Canada Post VIS track v2                                                */
/* ====================================================================== */

#define CP_TYPE "application/vnd.cpc.track-v2+xml"

static const struct fc_place cp_origin = {"VANCOUVER", NULL, "CA", "BC",
                                          "America/Vancouver"};
static const struct fc_place cp_hub = {"WINNIPEG", NULL, "CA", "MB",
                                       "America/Winnipeg"};
static const struct fc_place cp_dest = {"MONTREAL", "H3B2Y5", "CA", "QC",
                                        "America/Toronto"};

/* event-identifier, event-description */
#define CP(code, desc, st)                                                     \
    {                                                                          \
        code, NULL, NULL, desc, NULL, st, st                                   \
    }
static const struct fc_step_def cp_steps[FC_S_COUNT] = {
    [FC_S_INFO] = CP("3000", "Electronic information submitted by shipper",
                     FC_ST_INFO_RECEIVED),
    [FC_S_PICKUP] =
        CP("2300", "Item picked up by Canada Post", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] =
        CP("0100", "Item processed at postal facility", FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] =
        CP("0100", "Item processed at postal facility", FC_ST_IN_TRANSIT),
    /* Not in wismo's table: it keeps the previous status (rule 8). */
    [FC_S_DELAY] = CP("0176",
                      "Delivery may be delayed due to weather "
                      "conditions",
                      FC_ST_INHERIT),
    [FC_S_CUSTOMS] = CP("0810",
                        "Item held by customs; additional "
                        "documentation required",
                        FC_ST_EXCEPTION),
    [FC_S_ADDRESS] = CP("0173",
                        "Customer addressing error found; attempting "
                        "to correct",
                        FC_ST_EXCEPTION),
    [FC_S_RELEASED] =
        CP("0100", "Item processed at postal facility", FC_ST_IN_TRANSIT),
    [FC_S_OFD] = CP("0174", "Item out for delivery", FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] = CP("1479", "Attempted delivery; notice card left",
                        FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = CP("1701", "Item available for pickup at Post Office",
                      FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] =
        CP("1496", "Item successfully delivered", FC_ST_DELIVERED),
    [FC_S_COLLECTED] = CP("1421",
                          "Item picked up at Post Office by "
                          "recipient",
                          FC_ST_DELIVERED),
    /* No confirmed return codes: an in-transit scan, then delivered. */
    [FC_S_RETURNING] =
        CP("0100", "Item being returned to sender", FC_ST_IN_TRANSIT),
    [FC_S_RETURN_TRANSIT] =
        CP("0100", "Item processed at postal facility", FC_ST_IN_TRANSIT),
    [FC_S_RETURNED] =
        CP("1496", "Item successfully delivered to sender", FC_ST_DELIVERED),
};

/* The abbreviation Canada Post writes for a local time: the zone's own
 * when wismo knows it as a fixed offset, else the one for the offset. */
static const char *cp_zone_abbr(const struct fc_civil *c)
{
    static const struct {
        const char *abbr;
        int offset; /* minutes */
    } abbr[] = {
        {"NST", -210}, {"NDT", -150}, {"AST", -240}, {"ADT", -180},
        {"EST", -300}, {"EDT", -240}, {"CST", -360}, {"CDT", -300},
        {"MST", -420}, {"MDT", -360}, {"PST", -480}, {"PDT", -420},
    };

    for (size_t i = 0; i < FC_ARRAY_LEN(abbr); i++)
        if (strcmp(abbr[i].abbr, c->abbr) == 0 &&
            abbr[i].offset * 60 == c->gmtoff)
            return abbr[i].abbr;
    for (size_t i = 0; i < FC_ARRAY_LEN(abbr); i++)
        if (abbr[i].offset * 60 == c->gmtoff)
            return abbr[i].abbr;
    return ""; /* wismo then uses the province's zone */
}

static void cp_render(const struct fc_track *t, size_t n, struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    struct fc_buf *b = &r->body;
    char buf[32];
    int eta;

    (void)n;
    fc_buf_reset(b);
    r->content_type = CP_TYPE;
    if (t->k == 0) {
        r->status = 404;
        fc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                       "<messages xmlns=\"http://www.canadapost.ca/ws/"
                       "messages\">\n  <message>\n    <code>004</code>\n"
                       "    <description>No Pin History</description>\n"
                       "  </message>\n</messages>\n");
        return;
    }
    r->status = 200;
    eta = fc_track_eta(t);
    fc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<tracking-detail xmlns=\"http://www.canadapost.ca/ws/"
                   "track-v2\">\n");
    fc_xml_el(b, 2, "pin", t->number);
    fc_xml_el(b, 2, "active-exists", "1");
    fc_xml_el(b, 2, "archive-exists", NULL);
    buf[0] = '\0';
    if (eta == 1)
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tl->eta[1].year,
                 tl->eta[1].month, tl->eta[1].day);
    fc_xml_el(b, 2, "changed-expected-date", buf);
    fc_xml_el(b, 2, "destination-postal-id", tl->carrier->dest->postcode);
    buf[0] = '\0';
    if (eta >= 0)
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", tl->eta[0].year,
                 tl->eta[0].month, tl->eta[0].day);
    fc_xml_el(b, 2, "expected-delivery-date", buf);
    fc_xml_el(b, 2, "changed-expected-delivery-reason",
              eta == 1 ? "Delay due to circumstances beyond our control"
                       : NULL);
    fc_xml_el(b, 2, "mailed-by-customer-number", "0009871234");
    fc_xml_el(b, 2, "mailed-on-behalf-of-customer-number", "0009871234");
    fc_xml_el(b, 2, "original-pin", NULL);
    fc_xml_el(b, 2, "service-name", "Expedited Parcels");
    fc_xml_el(b, 2, "service-name-2", "Colis acc\u00e9l\u00e9r\u00e9s");
    fc_xml_el(b, 2, "customer-ref-1", "WISMO-3322");
    fc_xml_el(b, 2, "customer-ref-2", NULL);
    fc_xml_el(b, 2, "return-pin", NULL);
    fc_xml_el(b, 2, "signature-image-exists", "false");
    fc_xml_el(b, 2, "suppress-signature", "false");
    fc_buf_puts(b, "  <delivery-options/>\n  <significant-events>\n");
    for (size_t i = t->k; i-- > 0;) {
        const struct fc_step_def *d = fc_event_def(tl, i);
        const struct fc_place *p = fc_event_place(tl, i);
        struct fc_civil c;

        fc_tz_local(p->zone, fc_track_time(t, i), &c);
        fc_buf_puts(b, "    <occurrence>\n");
        fc_xml_el(b, 6, "event-identifier", d->code);
        snprintf(buf, sizeof(buf), "%04d-%02d-%02d", c.year, c.month, c.day);
        fc_xml_el(b, 6, "event-date", buf);
        snprintf(buf, sizeof(buf), "%02d:%02d:%02d", c.hour, c.min, c.sec);
        fc_xml_el(b, 6, "event-time", buf);
        fc_xml_el(b, 6, "event-time-zone", cp_zone_abbr(&c));
        fc_xml_el(b, 6, "event-description", d->desc);
        fc_xml_el(b, 6, "signatory-name",
                  tl->ev[i].step == FC_S_DELIVERED ? "J TREMBLAY" : NULL);
        fc_xml_el(b, 6, "event-site", p->city);
        fc_xml_el(b, 6, "event-province", p->region);
        fc_xml_el(b, 6, "event-retail-location-id", NULL);
        fc_xml_el(b, 6, "event-retail-name", NULL);
        fc_buf_puts(b, "    </occurrence>\n");
    }
    fc_buf_puts(b, "  </significant-events>\n</tracking-detail>\n");
}

static void cp_messages(struct fc_response *r, int status, const char *code,
                        const char *desc)
{
    struct fc_buf *b = &r->body;

    fc_buf_reset(b);
    fc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                   "<messages xmlns=\"http://www.canadapost.ca/ws/"
                   "messages\">\n  <message>\n");
    fc_xml_el(b, 4, "code", code);
    fc_xml_el(b, 4, "description", desc);
    fc_buf_puts(b, "  </message>\n</messages>\n");
    r->status = status;
    r->content_type = CP_TYPE;
}

static void cp_fail(enum fc_fail f, const char *detail, int retry_after,
                    struct fc_response *r)
{
    switch (f) {
    case FC_FAIL_AUTH:
        cp_messages(r, 401, "E002", "AAA Authentication Failure");
        return;
    case FC_FAIL_RATE:
        cp_messages(r, 429, "Server", "Rejected by SLM Monitor");
        fc_render_retry(r, retry_after);
        return;
    case FC_FAIL_SERVER:
        cp_messages(r, 500, "9999", "An internal error occurred");
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, CP_TYPE,
                        "<?xml version=\"1.0\"?><tracking-detail><pin>");
        return;
    case FC_FAIL_INVALID:
        cp_messages(r, 400, "1101",
                    detail != NULL ? detail : "Invalid request");
        return;
    case FC_FAIL_NOT_FOUND:
        cp_messages(r, 404, "9998", "Resource not found");
        return;
    }
}

const struct fc_carrier fc_carrier_canadapost = {
    .name = "canadapost",
    .id = FC_CANADAPOST,
    .batch_max = 1,
    .loc = FC_LOC_CITY_COUNTRY,
    .eta = FC_ETA_DATE,
    .origin = &cp_origin,
    .hub = &cp_hub,
    .dest = &cp_dest,
    .steps = cp_steps,
    .render = cp_render,
    .fail = cp_fail,
};

/* ====================================================================== */
/* bpost trackedmail trackingInfo                                          */
/* ====================================================================== */

#define BPOST_TYPE "application/xml"

static const struct fc_place bpost_origin = {"MECHELEN X", "2800", "BE", NULL,
                                             "Europe/Brussels"};
static const struct fc_place bpost_hub = {"BRUXELLES X", "1000", "BE", NULL,
                                          "Europe/Brussels"};
static const struct fc_place bpost_dest = {"LI\u00c8GE", "4000", "BE", NULL,
                                           "Europe/Brussels"};

#define BP(code, desc, st)                                                     \
    {                                                                          \
        code, NULL, NULL, desc, NULL, st, st                                   \
    }
static const struct fc_step_def bpost_steps[FC_S_COUNT] = {
    /* No pre-advice class: timelines start at the first sort. */
    [FC_S_PICKUP] =
        BP("C00", "Collected - collected_at_sender", FC_ST_IN_TRANSIT),
    [FC_S_DEPART] = BP("T00", "Sorted - sorted_out", FC_ST_IN_TRANSIT),
    [FC_S_ARRIVE] = BP("T00", "Sorted - sorted_out", FC_ST_IN_TRANSIT),
    [FC_S_DELAY] = BP("N16", "Delayed - delayed_in_network", FC_ST_IN_TRANSIT),
    [FC_S_CUSTOMS] = BP("B00", "Customs - held_by_customs", FC_ST_EXCEPTION),
    [FC_S_ADDRESS] =
        BP("B06", "NotDelivered - address_incorrect", FC_ST_EXCEPTION),
    [FC_S_RELEASED] = BP("T00", "Sorted - sorted_out", FC_ST_IN_TRANSIT),
    [FC_S_OFD] = BP("L00", "BoundToRound - out_for_distribution",
                    FC_ST_OUT_FOR_DELIVERY),
    [FC_S_ATTEMPT] =
        BP("B04", "NotDelivered - addressee_absent", FC_ST_FAILED_ATTEMPT),
    [FC_S_READY] = BP("N74", "AvailableInPickupPoint - ready_for_pickup",
                      FC_ST_AVAILABLE_FOR_PICKUP),
    [FC_S_DELIVERED] =
        BP("U01", "DistributedNormally - regular", FC_ST_DELIVERED),
    [FC_S_COLLECTED] =
        BP("U05", "CollectedInPickupPoint - collected", FC_ST_DELIVERED),
    /* No return-to-sender code (README): an in-transit class code, then
     * the item is delivered back. */
    [FC_S_RETURNING] =
        BP("R05", "ReturnToSender - return_to_sender", FC_ST_IN_TRANSIT),
    [FC_S_RETURN_TRANSIT] = BP("T00", "Sorted - sorted_out", FC_ST_IN_TRANSIT),
    [FC_S_RETURNED] =
        BP("U08", "DistributedToSender - returned", FC_ST_DELIVERED),
};

/* xs:dateTime with an offset and milliseconds. */
static void bpost_time(int64_t t, const char *zone, unsigned ms, char *buf,
                       size_t len)
{
    char iso[FC_ISO_BUFSZ];
    size_t n;

    fc_fmt_offset(t, zone, true, iso);
    n = strlen(iso);
    snprintf(buf, len, "%.*s.%03u%s", (int)(n - 6), iso, ms % 1000,
             iso + n - 6);
}

static void bpost_party(struct fc_buf *b, const char *el, const char *name,
                        const struct fc_place *p, const char *street)
{
    fc_buf_printf(b, "    <%s>\n", el);
    fc_xml_el(b, 8, "ns2:name", name);
    fc_buf_puts(b, "        <ns2:address>\n");
    fc_xml_el(b, 12, "ns2:streetName", street);
    fc_xml_el(b, 12, "ns2:houseNumber", "52");
    fc_xml_el(b, 12, "ns2:postalCode", p->postcode);
    fc_xml_el(b, 12, "ns2:city", p->city);
    fc_xml_el(b, 12, "ns2:countryCode", p->country);
    fc_buf_printf(b, "        </ns2:address>\n    </%s>\n", el);
}

static void bpost_render(const struct fc_track *t, size_t n,
                         struct fc_response *r)
{
    const struct fc_timeline *tl = t->tl;
    struct fc_buf *b = &r->body;
    char buf[64];
    int eta;

    (void)n;
    fc_buf_reset(b);
    r->content_type = BPOST_TYPE;
    if (t->k == 0) {
        r->status = 404;
        fc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
                       "standalone=\"yes\"?>\n<businessException xmlns="
                       "\"http://schema.post.be/api/shm/v1/\">\n"
                       "    <code>404</code>\n    <message>");
        fc_buf_puts(b, "No tracking information found for item ");
        fc_buf_xml(b, t->number);
        fc_buf_puts(b, "</message>\n</businessException>\n");
        return;
    }
    r->status = 200;
    fc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
                   "standalone=\"yes\"?>\n<itemTracking xmlns=\"http://"
                   "schema.post.be/tracking/v1/\"\n    xmlns:ns2=\"http://"
                   "schema.post.be/announcement/common/v1/\">\n");
    fc_xml_el(b, 4, "itemCode", t->number);
    bpost_party(b, "sender", "WISMO WEBSHOP BV", tl->carrier->origin,
                "KONINGIN ASTRIDLAAN");
    bpost_party(b, "addressee", "ZO\u00cb LAMBERT & FILS", tl->carrier->dest,
                "RUE SAINT-GILLES");
    fc_xml_el(b, 4, "cityOrCountryOfdeparture", tl->carrier->origin->city);
    fc_xml_el(b, 4, "cityOrCountryOfDestination", tl->carrier->dest->city);
    fc_xml_el(b, 4, "nameOfDestination", "ZO\u00cb LAMBERT & FILS");
    if (fc_track_done(t)) {
        bpost_time(fc_track_time(t, t->k - 1),
                   fc_event_place(tl, t->k - 1)->zone, 0, buf, sizeof(buf));
        fc_xml_el(b, 4, "deliveryTime", buf);
    }
    fc_xml_el(b, 4, "customerReference", "WISMO-BE-30224");
    if ((eta = fc_track_eta(t)) >= 0) {
        const char *z = tl->carrier->dest->zone;

        fc_buf_puts(b, "    <deliveryTimeWindow>\n");
        fc_fmt_offset(fc_eta_from(tl, eta), z, true, buf);
        fc_xml_el(b, 8, "plannedDeliveryDateWindowStart", buf);
        fc_fmt_offset(fc_eta_until(tl, eta), z, true, buf);
        fc_xml_el(b, 8, "plannedDeliveryDateWindowEnd", buf);
        fc_buf_puts(b, "    </deliveryTimeWindow>\n");
    }
    fc_buf_puts(b, "    <itemDetail>\n        <weightInGrams>860"
                   "</weightInGrams>\n        <type>01</type>\n"
                   "        <options />\n    </itemDetail>\n");
    for (size_t i = 0; i < t->k; i++) { /* oldest first */
        const struct fc_step_def *d = fc_event_def(tl, i);
        const struct fc_place *p = fc_event_place(tl, i);

        fc_buf_puts(b, "    <stateInfo>\n");
        bpost_time(fc_track_time(t, i), p->zone,
                   (unsigned)(fc_mix((uint64_t)fc_track_time(t, i)) % 1000),
                   buf, sizeof(buf));
        fc_xml_el(b, 8, "time", buf);
        fc_xml_el(b, 8, "location", p->city);
        fc_xml_el(b, 8, "stateCode", d->code);
        fc_xml_el(b, 8, "stateDescription", d->desc);
        fc_buf_puts(b, "    </stateInfo>\n");
    }
    fc_xml_el(b, 4, "trackingId", "wbx3nq8p");
    fc_buf_puts(b, "</itemTracking>\n");
}

static void bpost_fail(enum fc_fail f, const char *detail, int retry_after,
                       struct fc_response *r)
{
    struct fc_buf *b = &r->body;

    (void)detail;
    switch (f) {
    case FC_FAIL_AUTH:
        fc_response_set(r, 401, "text/plain", "Unauthorized");
        fc_response_header(r, "WWW-Authenticate", "Basic realm=\"%s\"",
                           "bpost");
        return;
    case FC_FAIL_GARBAGE:
        fc_response_set(r, 200, BPOST_TYPE,
                        "<?xml version=\"1.0\"?><itemTracking><itemCode>");
        return;
    case FC_FAIL_NOT_FOUND:
        fc_response_set(r, 404, "text/html",
                        "<html><body>Not Found</body></html>");
        return;
    case FC_FAIL_RATE:
    case FC_FAIL_SERVER:
    case FC_FAIL_INVALID:
        break;
    }
    fc_buf_reset(b);
    fc_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\" "
                   "standalone=\"yes\"?>\n<systemException xmlns=\"http://"
                   "schema.post.be/api/shm/common/v2/\"\n    xmlns:ns2="
                   "\"http://schema.post.be/common/exception/v1/\">\n");
    fc_xml_el(b, 4, "ns2:message",
              f == FC_FAIL_RATE ? "Too many requests, please retry later."
              : f == FC_FAIL_INVALID
                  ? "The request is invalid."
                  : "An unexpected error occurred while processing the "
                    "request. Please retry later.");
    fc_xml_el(b, 4, "ns2:timestamp", "2026-11-19+01:00");
    fc_buf_puts(b, "</systemException>\n");
    r->content_type = BPOST_TYPE;
    r->status = f == FC_FAIL_RATE ? 429 : f == FC_FAIL_INVALID ? 400 : 500;
    if (f == FC_FAIL_RATE)
        fc_render_retry(r, retry_after);
}

const struct fc_carrier fc_carrier_bpost = {
    .name = "bpost",
    .id = FC_BPOST,
    .batch_max = 1,
    .loc = FC_LOC_CITY,
    .eta = FC_ETA_WINDOW,
    .origin = &bpost_origin,
    .hub = &bpost_hub,
    .dest = &bpost_dest,
    .steps = bpost_steps,
    .render = bpost_render,
    .fail = bpost_fail,
};
