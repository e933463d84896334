/*
 * The shopper's tracking page (see web_track.h). One page per order: per
 * shipment its status in plain words, a progress line with the detour it
 * took, the carrier's ETA against the promised date, an honest sentence
 * when it is late (and what happens next), the timeline in the shopper's
 * time zone (JavaScript moves it to the browser's zone) and the carrier's
 * own tracking link.
 */
#include "wismo/web_track.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/carrier.h"
#include "wismo/httpreq.h"
#include "wismo/model.h"
#include "wismo/norm.h"
#include "wismo/nrules.h"
#include "wismo/num.h"
#include "wismo/wm.h"
#include "wismo/wmtime.h"

/* --- words --- */

enum msg {
    M_TITLE,
    M_INTRO,
    M_ORDER,
    M_POSTCODE,
    M_OR,
    M_EMAIL,
    M_TRACK,
    M_NOT_FOUND,
    M_TOO_MANY,
    M_BAD,
    M_UNAVAILABLE,
    M_ORDER_H,
    M_PARCEL_N,
    M_EXPECTED,
    M_PROMISED,
    M_DELIVERED_ON,
    M_NO_ETA,
    M_ON_TIME,
    M_LATE,
    M_LATE_ETA,
    M_LATE_MISSED,
    M_STALLED,
    M_EXCEPTION,
    M_FAILED,
    M_PICKUP,
    M_PICKUP_NOPLACE,
    M_RETURNING,
    M_RETURNED,
    M_TRACK_AT,
    M_HISTORY,
    M_TIMES_IN,
    M_LANGUAGE,
    M_ANOTHER,
    M_TRACKING_NO,
    M_NO_EVENTS,
    M_PROGRESS,
    M_STEP_LABEL,
    M_STEP_WAY,
    M_STEP_OUT,
    M_STEP_DELIVERED,
    M_STEP_FAILED,
    M_STEP_PICKUP,
    M_STEP_PROBLEM,
    M_STEP_RETURNING,
    M_STEP_RETURNED,
    M_DONE,
    M_NOW,
    M_POWERED,
    M_COUNT
};

/* [lang][msg]: en, nl, de, fr. %s are filled in the order the code says. */
static const char *const words[WEB_LANGS][M_COUNT] = {
    {
        "Track your order",
        "Enter your order number and the postcode or e-mail address of the "
        "order.",
        "Order number",
        "Postcode",
        "or",
        "E-mail address",
        "Track",
        "We could not find an order with this order number and this postcode "
        "or e-mail address. Please check both and try again.",
        "Too many attempts from your connection. Please try again in a few "
        "minutes.",
        "Please fill in the order number and the postcode or e-mail address.",
        "Tracking is briefly unavailable. Please try again in a moment.",
        "Order %s",
        "Parcel %s of %s",
        "Expected",
        "Promised",
        "Delivered",
        "The carrier has not given a delivery date yet.",
        "On time",
        "Late",
        "Sorry, your parcel is running late: %s now expects to deliver it %s, "
        "later than the %s we promised. You do not need to do anything; we "
        "will let you know if anything changes.",
        "Sorry, your parcel did not arrive by %s as we promised. %s has not "
        "given a new date yet; we are following it and will contact you if "
        "we need anything from you.",
        "There has been no news from %s since %s. That is longer than usual; "
        "we are looking into it with the carrier.",
        "%s reports a problem with the delivery%s. The carrier is working on "
        "it; as soon as your parcel moves again you will see it here.",
        "%s could not deliver your parcel. The carrier will try again or "
        "leave it at a pickup point; you will see where here.",
        "Your parcel is waiting for you at a pickup point in %s. Take an ID "
        "and this order number with you.",
        "Your parcel is waiting for you at a pickup point; the carrier's page "
        "says which.",
        "Your parcel is on its way back to us. Please contact us if you did "
        "not expect this.",
        "Your parcel was returned to us. Please contact us if you did not "
        "expect this.",
        "Track at %s",
        "History",
        "Times in %s",
        "Language",
        "Track another order",
        "Tracking number",
        "No scans from the carrier yet.",
        "Progress",
        "Label created",
        "On its way",
        "Out for delivery",
        "Delivered",
        "Delivery attempt failed",
        "Ready for pickup",
        "Problem",
        "Returning to us",
        "Returned to us",
        "done",
        "now",
        "Tracking by %s",
    },
    {
        "Volg je bestelling",
        "Vul je bestelnummer in en de postcode of het e-mailadres van de "
        "bestelling.",
        "Bestelnummer",
        "Postcode",
        "of",
        "E-mailadres",
        "Volgen",
        "We vinden geen bestelling met dit bestelnummer en deze postcode of "
        "dit e-mailadres. Controleer ze en probeer het opnieuw.",
        "Te veel pogingen vanaf je verbinding. Probeer het over een paar "
        "minuten opnieuw.",
        "Vul het bestelnummer in en de postcode of het e-mailadres.",
        "Volgen lukt even niet. Probeer het zo opnieuw.",
        "Bestelling %s",
        "Pakket %s van %s",
        "Verwacht",
        "Beloofd",
        "Bezorgd",
        "De vervoerder heeft nog geen bezorgdatum doorgegeven.",
        "Op tijd",
        "Later",
        "Sorry, je pakket is later dan beloofd: %s verwacht het nu %s te "
        "bezorgen, later dan de %s die we beloofden. Je hoeft niets te doen; "
        "we laten het je weten als er iets verandert.",
        "Sorry, je pakket is niet op %s aangekomen, zoals we beloofden. %s "
        "heeft nog geen nieuwe datum gegeven; we volgen het en nemen contact "
        "op als we iets van je nodig hebben.",
        "We hebben sinds %2$s niets van %1$s gehoord. Dat is langer dan "
        "normaal; we zoeken het uit met de vervoerder.",
        "%s meldt een probleem met de bezorging%s. De vervoerder werkt eraan; "
        "zodra je pakket weer onderweg is, zie je het hier.",
        "%s kon je pakket niet bezorgen. De vervoerder probeert het opnieuw "
        "of brengt het naar een afhaalpunt; waar, dat zie je hier.",
        "Je pakket ligt voor je klaar bij een afhaalpunt in %s. Neem een "
        "legitimatiebewijs en dit bestelnummer mee.",
        "Je pakket ligt voor je klaar bij een afhaalpunt; welk, dat staat op "
        "de pagina van de vervoerder.",
        "Je pakket is onderweg terug naar ons. Neem contact op als je dat "
        "niet verwachtte.",
        "Je pakket is terug bij ons. Neem contact op als je dat niet "
        "verwachtte.",
        "Volgen bij %s",
        "Verloop",
        "Tijden in %s",
        "Taal",
        "Andere bestelling volgen",
        "Zendingsnummer",
        "Nog geen scans van de vervoerder.",
        "Voortgang",
        "Label aangemaakt",
        "Onderweg",
        "Wordt bezorgd",
        "Bezorgd",
        "Bezorgpoging mislukt",
        "Klaar om op te halen",
        "Probleem",
        "Terug naar ons",
        "Terug bij ons",
        "gedaan",
        "nu",
        "Volgen via %s",
    },
    {
        "Bestellung verfolgen",
        "Geben Sie Ihre Bestellnummer und die Postleitzahl oder E-Mail-Adresse "
        "der Bestellung ein.",
        "Bestellnummer",
        "Postleitzahl",
        "oder",
        "E-Mail-Adresse",
        "Verfolgen",
        "Wir finden keine Bestellung mit dieser Bestellnummer und dieser "
        "Postleitzahl oder E-Mail-Adresse. Bitte prüfen Sie beides und "
        "versuchen Sie es erneut.",
        "Zu viele Versuche von Ihrer Verbindung. Bitte versuchen Sie es in "
        "einigen Minuten erneut.",
        "Bitte geben Sie die Bestellnummer und die Postleitzahl oder "
        "E-Mail-Adresse ein.",
        "Die Sendungsverfolgung ist kurz nicht erreichbar. Bitte versuchen Sie "
        "es gleich erneut.",
        "Bestellung %s",
        "Paket %s von %s",
        "Voraussichtlich",
        "Zugesagt",
        "Zugestellt",
        "Der Versanddienst hat noch kein Zustelldatum genannt.",
        "Pünktlich",
        "Verspätet",
        "Leider verspätet sich Ihr Paket: %s erwartet die Zustellung jetzt %s, "
        "später als der zugesagte %s. Sie müssen nichts tun; wir melden uns, "
        "wenn sich etwas ändert.",
        "Leider ist Ihr Paket nicht wie zugesagt bis %s angekommen. %s hat "
        "noch kein neues Datum genannt; wir verfolgen es und melden uns, wenn "
        "wir etwas von Ihnen brauchen.",
        "Seit %2$s gibt es keine Nachricht von %1$s. Das ist länger als "
        "üblich; wir klären es mit dem Versanddienst.",
        "%s meldet ein Problem bei der Zustellung%s. Der Versanddienst "
        "kümmert sich darum; sobald Ihr Paket weiterreist, sehen Sie es hier.",
        "%s konnte Ihr Paket nicht zustellen. Der Versanddienst versucht es "
        "erneut oder bringt es zu einer Abholstelle; wohin, sehen Sie hier.",
        "Ihr Paket liegt für Sie an einer Abholstelle in %s bereit. Bitte "
        "nehmen Sie einen Ausweis und diese Bestellnummer mit.",
        "Ihr Paket liegt an einer Abholstelle bereit; welche, steht auf der "
        "Seite des Versanddienstes.",
        "Ihr Paket ist auf dem Rückweg zu uns. Bitte melden Sie sich, wenn "
        "Sie das nicht erwartet haben.",
        "Ihr Paket ist zu uns zurückgekommen. Bitte melden Sie sich, wenn Sie "
        "das nicht erwartet haben.",
        "Bei %s verfolgen",
        "Sendungsverlauf",
        "Zeiten in %s",
        "Sprache",
        "Andere Bestellung verfolgen",
        "Sendungsnummer",
        "Noch keine Scans vom Versanddienst.",
        "Fortschritt",
        "Etikett erstellt",
        "Unterwegs",
        "In Zustellung",
        "Zugestellt",
        "Zustellversuch fehlgeschlagen",
        "Zur Abholung bereit",
        "Problem",
        "Zurück zu uns",
        "Bei uns zurück",
        "erledigt",
        "jetzt",
        "Sendungsverfolgung von %s",
    },
    {
        "Suivre ma commande",
        "Saisissez votre numéro de commande et le code postal ou l'adresse "
        "e-mail de la commande.",
        "Numéro de commande",
        "Code postal",
        "ou",
        "Adresse e-mail",
        "Suivre",
        "Nous ne trouvons aucune commande avec ce numéro et ce code postal ou "
        "cette adresse e-mail. Vérifiez-les et réessayez.",
        "Trop de tentatives depuis votre connexion. Réessayez dans quelques "
        "minutes.",
        "Saisissez le numéro de commande et le code postal ou l'adresse "
        "e-mail.",
        "Le suivi est momentanément indisponible. Réessayez dans un instant.",
        "Commande %s",
        "Colis %s sur %s",
        "Livraison prévue",
        "Promis",
        "Livré",
        "Le transporteur n'a pas encore donné de date de livraison.",
        "À l'heure",
        "En retard",
        "Désolés, votre colis a du retard : %s prévoit maintenant de le "
        "livrer %s, plus tard que le %s promis. Vous n'avez rien à faire ; "
        "nous vous préviendrons si quelque chose change.",
        "Désolés, votre colis n'est pas arrivé le %s comme promis. %s n'a pas "
        "encore donné de nouvelle date ; nous le suivons et vous contacterons "
        "si nous avons besoin de vous.",
        "Aucune nouvelle de %s depuis %s. C'est plus long que d'habitude ; "
        "nous vérifions avec le transporteur.",
        "%s signale un problème de livraison%s. Le transporteur s'en occupe ; "
        "dès que votre colis repart, vous le verrez ici.",
        "%s n'a pas pu livrer votre colis. Le transporteur réessaiera ou le "
        "déposera dans un point relais ; vous verrez lequel ici.",
        "Votre colis vous attend dans un point relais à %s. Munissez-vous "
        "d'une pièce d'identité et de ce numéro de commande.",
        "Votre colis vous attend dans un point relais ; la page du "
        "transporteur indique lequel.",
        "Votre colis est en route vers nous. Contactez-nous si vous ne vous y "
        "attendiez pas.",
        "Votre colis nous a été retourné. Contactez-nous si vous ne vous y "
        "attendiez pas.",
        "Suivre chez %s",
        "Historique",
        "Heures : %s",
        "Langue",
        "Suivre une autre commande",
        "Numéro de suivi",
        "Pas encore de scan du transporteur.",
        "Progression",
        "Étiquette créée",
        "En route",
        "En cours de livraison",
        "Livré",
        "Livraison manquée",
        "Prêt à retirer",
        "Problème",
        "Retour vers nous",
        "Retourné",
        "fait",
        "maintenant",
        "Suivi par %s",
    },
};

static const char *const status_words[WEB_LANGS][MODEL_STATUS_COUNT] = {
    {"Waiting for the carrier", "Label created", "On its way",
     "Out for delivery today", "Ready for pickup", "Delivered",
     "Delivery attempt failed", "Problem with the delivery",
     "Returning to the sender", "Returned to the sender", "No longer tracked"},
    {"Wacht op de vervoerder", "Label aangemaakt", "Onderweg",
     "Wordt vandaag bezorgd", "Ligt klaar om op te halen", "Bezorgd",
     "Bezorgpoging mislukt", "Probleem met de bezorging",
     "Onderweg terug naar de afzender", "Terug bij de afzender",
     "Wordt niet meer gevolgd"},
    {"Wartet auf den Versanddienst", "Etikett erstellt", "Unterwegs",
     "Heute in Zustellung", "Zur Abholung bereit", "Zugestellt",
     "Zustellversuch fehlgeschlagen", "Problem bei der Zustellung",
     "Auf dem Weg zum Absender", "An den Absender zurückgesandt",
     "Nicht mehr verfolgt"},
    {"En attente du transporteur", "Étiquette créée", "En cours d'acheminement",
     "En cours de livraison aujourd'hui", "Disponible au point de retrait",
     "Livré", "Tentative de livraison échouée", "Problème de livraison",
     "En retour vers l'expéditeur", "Retourné à l'expéditeur", "Plus suivi"},
};

static const char *const detail_words[WEB_LANGS][4] = {
    /* customs, address, damaged, lost */
    {" (held at customs)", " (a problem with the address)", " (damaged)",
     " (lost)"},
    {" (douane)", " (probleem met het adres)", " (beschadigd)", " (vermist)"},
    {" (Zoll)", " (Problem mit der Adresse)", " (beschädigt)", " (verloren)"},
    {" (douane)", " (problème d'adresse)", " (endommagé)", " (perdu)"},
};

static const char *const day_names[WEB_LANGS][7] = {
    {"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
     "Saturday"},
    {"zondag", "maandag", "dinsdag", "woensdag", "donderdag", "vrijdag",
     "zaterdag"},
    {"Sonntag", "Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag",
     "Samstag"},
    {"dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi"},
};

static const char *const month_names[WEB_LANGS][12] = {
    {"January", "February", "March", "April", "May", "June", "July", "August",
     "September", "October", "November", "December"},
    {"januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
     "september", "oktober", "november", "december"},
    {"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August",
     "September", "Oktober", "November", "Dezember"},
    {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
     "septembre", "octobre", "novembre", "décembre"},
};

static const char *const lang_names[WEB_LANGS] = {"English", "Nederlands",
                                                  "Deutsch", "Français"};

static const char *jstr(const json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));

    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* --- times --- */

struct when {
    struct wmtime_civil c; /* local */
    int wday;              /* 0 Sunday */
};

static bool local_time(const char *iso, const char *zone, struct when *w)
{
    int64_t t;
    int off = 0;

    if (iso == NULL || wmtime_parse_iso(iso, "UTC", &t) != 0)
        return false;
    if (zone != NULL)
        wmtime_zone_offset(zone, t, &off);
    t += off;
    wmtime_to_civil(t, &w->c);
    w->wday =
        (int)((((t >= 0 ? t / 86400 : (t - 86399) / 86400)) % 7 + 11) % 7);
    return true;
}

/* "Tuesday 24 November" / "dinsdag 24 november" / "Dienstag, 24. November"
 * / "mardi 24 novembre" */
static void fmt_day(char *buf, size_t size, const struct when *w,
                    enum web_lang l)
{
    const char *d = day_names[l][w->wday], *m = month_names[l][w->c.month - 1];

    if (l == WEB_DE)
        snprintf(buf, size, "%s, %d. %s", d, w->c.day, m);
    else
        snprintf(buf, size, "%s %d %s", d, w->c.day, m);
}

/* The day, with " at 14:00" / "om" / "um" / "à" when the time is not
 * the end of the day (a date-only promise is stored as 23:59:59). */
static void fmt_when(char *buf, size_t size, const struct when *w,
                     enum web_lang l, bool with_time)
{
    static const char *const at[WEB_LANGS] = {"at", "om", "um", "à"};
    char day[96];

    fmt_day(day, sizeof(day), w, l);
    if (with_time && !(w->c.hour == 23 && w->c.min == 59))
        snprintf(buf, size, "%s %s %02d:%02d", day, at[l], w->c.hour, w->c.min);
    else
        snprintf(buf, size, "%s", day);
}

/* "on Tuesday 24 November" etc. (for the late sentence) */
static void fmt_on(char *buf, size_t size, const struct when *w,
                   enum web_lang l)
{
    static const char *const on[WEB_LANGS] = {"on", "op", "am", "le"};
    char s[128];

    fmt_when(s, sizeof(s), w, l, false);
    snprintf(buf, size, "%s %s", on[l], s);
}

/* The shopper's zone: the recipient's (locale, postcode), else the
 * country of the newest event, else Europe/Amsterdam. */
static const char *ship_zone(const json_t *s, const struct cfg *cfg)
{
    const char *pc = jstr(s, "postcode"), *loc = jstr(s, "locale");
    const char *z;
    json_t *ev = json_object_get(s, "events");
    size_t n = json_array_size(ev);

    if (loc != NULL || pc != NULL)
        return nrules_zone(loc, pc);
    for (size_t i = n; i-- > 0;) {
        const char *cc =
            jstr(json_object_get(json_array_get(ev, i), "location"), "country");
        if (cc != NULL && (z = norm_zone_country(cc)) != NULL)
            return z;
    }
    z = cfg->web_default_country ? norm_zone_country(cfg->web_default_country)
                                 : NULL;
    return z != NULL ? z : "Europe/Amsterdam";
}

/* --- page parts --- */

static void put_head(struct web_buf *b, const struct cfg *cfg, enum web_lang l,
                     const char *title_fmt, const char *order, bool embed)
{
    const struct web_asset *css = web_asset_find("track.css");
    const struct web_asset *js = web_asset_find("track.js");

    web_buf_printf(b,
                   "<!doctype html>\n<html lang=\"%s\"><head>"
                   "<meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, "
                   "initial-scale=1\">"
                   "<meta name=\"robots\" content=\"noindex\">"
                   "<meta name=\"referrer\" content=\"no-referrer\"><title>",
                   web_lang_code(l));
    if (order != NULL) {
        char t[64];
        /* The title format has one %s: the order id, escaped below. */
        const char *pct = strstr(title_fmt, "%s");
        snprintf(t, sizeof(t), "%.*s", (int)(pct - title_fmt), title_fmt);
        web_buf_esc(b, t);
        web_buf_esc(b, order);
        web_buf_esc(b, pct + 2);
    } else {
        web_buf_esc(b, title_fmt);
    }
    web_buf_puts(b, " · ");
    web_buf_esc(b, cfg->web_shop_name);
    web_buf_printf(
        b,
        "</title><link rel=\"stylesheet\" href=\"/assets/track.css?v=%.8s\">"
        "<link rel=\"stylesheet\" href=\"/track/theme.css?v=%.6s\">"
        "<link rel=\"icon\" href=\"/assets/favicon.svg\">"
        "<script type=\"module\" src=\"/assets/track.js?v=%.8s\"></script>"
        "</head><body class=\"%s\">",
        css ? web_asset_etag(css) + 1 : "", cfg->web_accent + 1,
        js ? web_asset_etag(js) + 1 : "", embed ? "embed" : "page");
}

static void put_header(struct web_buf *b, const struct cfg *cfg, bool embed)
{
    if (embed)
        return;
    web_buf_puts(b,
                 "<header class=\"site\"><a class=\"brand\" href=\"/track\">");
    if (cfg->web_logo != NULL) {
        web_buf_puts(b, "<img src=\"/track/logo\" alt=\"");
        web_buf_esc(b, cfg->web_shop_name);
        web_buf_puts(b, "\" height=\"32\">");
    } else {
        web_buf_puts(b, "<span class=\"mark\" aria-hidden=\"true\"></span>"
                        "<span class=\"name\">");
        web_buf_esc(b, cfg->web_shop_name);
        web_buf_puts(b, "</span>");
    }
    web_buf_puts(b, "</a></header>");
}

static void put_footer(struct web_buf *b, const struct cfg *cfg,
                       enum web_lang l, bool embed)
{
    const char *fmt = words[l][M_POWERED], *pct = strstr(fmt, "%s");

    if (embed)
        return;
    web_buf_puts(b, "<footer class=\"site\"><p>");
    web_buf_put(b, fmt, (size_t)(pct - fmt));
    web_buf_esc(b, cfg->web_shop_name);
    web_buf_puts(b, pct + 2);
    web_buf_puts(b, "</p></footer>");
}

/* The language switch: a GET form that repeats the signed lookup
 * (fields: hidden inputs, or NULL on the form page) with one button per
 * language. */
static void put_langs(struct web_buf *b, enum web_lang l, bool embed,
                      const char *fields)
{
    static const enum web_lang order[] = {WEB_NL, WEB_EN, WEB_DE, WEB_FR};

    web_buf_printf(b,
                   "<form class=\"langs\" method=\"get\" action=\"/track\" "
                   "aria-label=\"%s\">",
                   words[l][M_LANGUAGE]);
    if (fields != NULL)
        web_buf_puts(b, fields);
    if (embed)
        web_buf_puts(b, "<input type=\"hidden\" name=\"embed\" value=\"1\">");
    for (size_t i = 0; i < WM_ARRAY_LEN(order); i++)
        web_buf_printf(b,
                       "<button type=\"submit\" name=\"lang\" value=\"%s\" "
                       "lang=\"%s\"%s>%s</button>",
                       web_lang_code(order[i]), web_lang_code(order[i]),
                       order[i] == l ? " aria-current=\"true\"" : "",
                       lang_names[order[i]]);
    web_buf_puts(b, "</form>");
}

static void put_form(struct web_buf *b, enum web_lang l, bool embed,
                     const char *order)
{
    web_buf_puts(b, "<form class=\"lookup\" method=\"get\" action=\"/track\">");
    if (embed)
        web_buf_puts(b, "<input type=\"hidden\" name=\"embed\" value=\"1\">");
    web_buf_printf(b, "<input type=\"hidden\" name=\"lang\" value=\"%s\">",
                   web_lang_code(l));
    web_buf_printf(b,
                   "<div class=\"field\"><label for=\"order_id\">%s</label>"
                   "<input id=\"order_id\" name=\"order_id\" required "
                   "maxlength=\"128\" autocomplete=\"off\" "
                   "spellcheck=\"false\" value=\"",
                   words[l][M_ORDER]);
    web_buf_esc(b, order);
    web_buf_printf(b,
                   "\"></div><div class=\"field\"><label for=\"postcode\">%s"
                   "</label><input id=\"postcode\" name=\"postcode\" "
                   "maxlength=\"16\" autocomplete=\"postal-code\"></div>"
                   "<p class=\"or\">%s</p>"
                   "<div class=\"field\"><label for=\"email\">%s</label>"
                   "<input id=\"email\" name=\"email\" type=\"email\" "
                   "maxlength=\"254\" autocomplete=\"email\"></div>"
                   "<button type=\"submit\">%s</button></form>",
                   words[l][M_POSTCODE], words[l][M_OR], words[l][M_EMAIL],
                   words[l][M_TRACK]);
}

/* Text with %s slots filled by escaped values (positional %1$s, %2$s
 * allowed): the sentence itself is ours, the values may be anyone's. */
static void put_fmt(struct web_buf *b, const char *fmt, const char *const *vals,
                    size_t nvals)
{
    size_t next = 0;

    while (*fmt != '\0') {
        const char *p = strchr(fmt, '%');
        size_t idx;

        if (p == NULL) {
            web_buf_puts(b, fmt);
            return;
        }
        web_buf_put(b, fmt, (size_t)(p - fmt));
        if (p[1] >= '1' && p[1] <= '9' && p[2] == '$' && p[3] == 's') {
            idx = (size_t)(p[1] - '1');
            fmt = p + 4;
        } else if (p[1] == 's') {
            idx = next++;
            fmt = p + 2;
        } else {
            web_buf_put(b, p, 1);
            fmt = p + 1;
            continue;
        }
        if (idx < nvals)
            web_buf_esc(b, vals[idx]);
    }
}

/* --- one shipment --- */

enum step_kind { S_DONE, S_CURRENT, S_AHEAD, S_DETOUR };

struct step {
    enum msg label;
    enum step_kind kind;
};

/* The progress line: the four steps of a normal delivery, or the way back,
 * with the detour (failed attempt, pickup, problem) where it happened. */
static size_t progress(enum model_status st, struct step *s)
{
    size_t n = 0;
    int reached = -1;
    enum msg detour = M_COUNT;
    int after = -1; /* the detour comes after step index */
    static const enum msg normal[] = {M_STEP_LABEL, M_STEP_WAY, M_STEP_OUT,
                                      M_STEP_DELIVERED};
    static const enum msg back[] = {M_STEP_LABEL, M_STEP_WAY, M_STEP_RETURNING,
                                    M_STEP_RETURNED};
    const enum msg *line = normal;

    switch (st) {
    case MODEL_PENDING:
    case MODEL_EXPIRED:
        reached = -1;
        break;
    case MODEL_INFO_RECEIVED:
        reached = 0;
        break;
    case MODEL_IN_TRANSIT:
        reached = 1;
        break;
    case MODEL_OUT_FOR_DELIVERY:
        reached = 2;
        break;
    case MODEL_DELIVERED:
        reached = 3;
        break;
    case MODEL_EXCEPTION:
        reached = 1;
        detour = M_STEP_PROBLEM;
        after = 1;
        break;
    case MODEL_FAILED_ATTEMPT:
        reached = 2;
        detour = M_STEP_FAILED;
        after = 2;
        break;
    case MODEL_AVAILABLE_FOR_PICKUP:
        reached = 2;
        detour = M_STEP_PICKUP;
        after = 2;
        break;
    case MODEL_RETURNING:
        line = back;
        reached = 2;
        break;
    case MODEL_RETURNED:
        line = back;
        reached = 3;
        break;
    default:
        break;
    }
    for (int i = 0; i < 4; i++) {
        s[n].label = line[i];
        s[n].kind = i < reached         ? S_DONE
                    : i > reached       ? S_AHEAD
                    : detour == M_COUNT ? S_CURRENT
                                        : S_DONE;
        if (i == reached && st == MODEL_DELIVERED)
            s[n].kind = S_CURRENT;
        if (i == reached && st == MODEL_RETURNED)
            s[n].kind = S_CURRENT;
        n++;
        if (i == after) {
            s[n].label = detour;
            s[n].kind = S_DETOUR;
            n++;
        }
    }
    return n;
}

/* Where a parcel waits: the newest pickup event's description, city. */
static void pickup_place(json_t *events, char *buf, size_t size)
{
    buf[0] = '\0';
    for (size_t i = json_array_size(events); i-- > 0;) {
        json_t *e = json_array_get(events, i);
        const char *st = jstr(e, "status");
        json_t *loc = json_object_get(e, "location");
        const char *city = jstr(loc, "city");

        if (st == NULL || strcmp(st, "available_for_pickup") != 0)
            continue;
        if (city != NULL)
            snprintf(buf, size, "%s", city);
        return;
    }
}

static void put_ship(struct web_buf *b, const struct cfg *cfg, json_t *s,
                     enum web_lang l, int idx, int total, int64_t now_ms)
{
    const char *st_name = jstr(s, "status"), *carrier = jstr(s, "carrier");
    const char *number = jstr(s, "tracking_number"),
               *sub = jstr(s, "substatus");
    const char *eta = jstr(s, "estimated_delivery");
    const char *promised = jstr(s, "promised_delivery");
    const char *delivered = jstr(s, "delivered_at");
    const struct carrier *c = carrier ? carrier_find(carrier) : NULL;
    const char *cname = c != NULL && c->display_name ? c->display_name
                        : carrier != NULL            ? carrier
                                                     : "";
    const char *zone = ship_zone(s, cfg);
    json_t *events = json_object_get(s, "events");
    enum model_status st = MODEL_PENDING;
    struct nrules_conf rules = {0};
    struct nrules_ship sv = {0};
    struct nrules_verdict ev;
    struct when w_eta, w_prom, w_dlv;
    bool has_eta, has_prom, has_dlv, late;
    struct step steps[6];
    size_t nsteps;
    char a[160], p2[160], place[128];
    const char *tone;

    if (st_name != NULL)
        model_status_parse(st_name, &st);
    rules.stall_after_ms = cfg->stall_after_ms;
    sv.status = st_name;
    sv.estimated_delivery = eta;
    sv.promised_delivery = promised;
    sv.last_event_at = jstr(s, "last_event_at");
    sv.updated_at = jstr(s, "updated_at");
    sv.zone = zone;
    nrules_eval(&rules, &sv, now_ms, &ev);
    late = (ev.active &
            ((1u << NRULES_ETA_LATE) | (1u << NRULES_PROMISE_MISSED))) != 0;
    has_eta = local_time(eta, zone, &w_eta);
    has_prom = local_time(promised, zone, &w_prom);
    has_dlv = local_time(delivered, zone, &w_dlv);
    tone = st == MODEL_DELIVERED ? "done"
           : late || st == MODEL_EXCEPTION || st == MODEL_FAILED_ATTEMPT ||
                   st == MODEL_RETURNING || st == MODEL_RETURNED ||
                   (ev.active & (1u << NRULES_STALLED))
               ? "warn"
               : "ok";

    web_buf_printf(b, "<section class=\"ship %s\" aria-labelledby=\"s%d\">",
                   tone, idx);
    if (total > 1) {
        char ni[16], nt[16];
        const char *vals[2] = {ni, nt};
        snprintf(ni, sizeof(ni), "%d", idx);
        snprintf(nt, sizeof(nt), "%d", total);
        web_buf_puts(b, "<p class=\"count\">");
        put_fmt(b, words[l][M_PARCEL_N], vals, 2);
        web_buf_puts(b, "</p>");
    }
    web_buf_printf(b, "<h2 id=\"s%d\" class=\"status\">%s</h2>", idx,
                   status_words[l][st]);

    /* ETA against the promise */
    web_buf_puts(b, "<dl class=\"dates\">");
    if (st == MODEL_DELIVERED && has_dlv) {
        fmt_when(a, sizeof(a), &w_dlv, l, true);
        web_buf_printf(b, "<div><dt>%s</dt><dd>%s</dd></div>",
                       words[l][M_DELIVERED_ON], a);
    } else if (has_eta && st != MODEL_RETURNING && st != MODEL_RETURNED &&
               st != MODEL_EXPIRED && st != MODEL_AVAILABLE_FOR_PICKUP) {
        fmt_when(a, sizeof(a), &w_eta, l, true);
        web_buf_printf(b, "<div><dt>%s</dt><dd>%s", words[l][M_EXPECTED], a);
        if (has_prom)
            web_buf_printf(b, " <span class=\"badge %s\">%s</span>",
                           late ? "late" : "ontime",
                           late ? words[l][M_LATE] : words[l][M_ON_TIME]);
        web_buf_puts(b, "</dd></div>");
    }
    if (has_prom && st != MODEL_RETURNING && st != MODEL_RETURNED &&
        st != MODEL_AVAILABLE_FOR_PICKUP) {
        fmt_when(a, sizeof(a), &w_prom, l, false);
        web_buf_printf(b, "<div><dt>%s</dt><dd>%s</dd></div>",
                       words[l][M_PROMISED], a);
    }
    web_buf_puts(b, "</dl>");
    if (!has_eta && !model_status_is_terminal(st) && st != MODEL_RETURNING &&
        st != MODEL_AVAILABLE_FOR_PICKUP && !late)
        web_buf_printf(b, "<p class=\"note\">%s</p>", words[l][M_NO_ETA]);

    /* the honest sentence: what happened and what happens next */
    {
        const char *vals[3] = {NULL, NULL, NULL};
        const char *fmt = NULL;
        char last[160] = "";

        if (st == MODEL_EXCEPTION) {
            const char *d = "";
            if (sub != NULL && strstr(sub, "customs"))
                d = detail_words[l][0];
            else if (sub != NULL && strstr(sub, "address"))
                d = detail_words[l][1];
            else if (sub != NULL && strstr(sub, "damaged"))
                d = detail_words[l][2];
            else if (sub != NULL && strstr(sub, "lost"))
                d = detail_words[l][3];
            fmt = words[l][M_EXCEPTION];
            vals[0] = cname;
            vals[1] = d;
        } else if (st == MODEL_FAILED_ATTEMPT) {
            fmt = words[l][M_FAILED];
            vals[0] = cname;
        } else if (st == MODEL_AVAILABLE_FOR_PICKUP) {
            pickup_place(events, place, sizeof(place));
            fmt = place[0] ? words[l][M_PICKUP] : words[l][M_PICKUP_NOPLACE];
            vals[0] = place;
        } else if (st == MODEL_RETURNING) {
            fmt = words[l][M_RETURNING];
        } else if (st == MODEL_RETURNED) {
            fmt = words[l][M_RETURNED];
        } else if ((ev.active & (1u << NRULES_ETA_LATE)) && has_eta &&
                   has_prom) {
            fmt_on(a, sizeof(a), &w_eta, l);
            fmt_when(p2, sizeof(p2), &w_prom, l, false);
            fmt = words[l][M_LATE_ETA];
            vals[0] = cname;
            vals[1] = a;
            vals[2] = p2;
        } else if ((ev.active & (1u << NRULES_PROMISE_MISSED)) && has_prom) {
            fmt_when(p2, sizeof(p2), &w_prom, l, false);
            fmt = words[l][M_LATE_MISSED];
            vals[0] = p2;
            vals[1] = cname;
        } else if (ev.active & (1u << NRULES_STALLED)) {
            struct when w;
            if (local_time(jstr(s, "last_event_at"), zone, &w))
                fmt_when(last, sizeof(last), &w, l, false);
            fmt = words[l][M_STALLED];
            vals[0] = cname;
            vals[1] = last;
        }
        if (fmt != NULL) {
            web_buf_printf(b, "<p class=\"honest%s\">",
                           st == MODEL_AVAILABLE_FOR_PICKUP ? " pickup" : "");
            put_fmt(b, fmt, vals, 3);
            web_buf_puts(b, "</p>");
        }
    }

    /* progress line */
    nsteps = progress(st, steps);
    web_buf_printf(b, "<ol class=\"progress\" aria-label=\"%s\">",
                   words[l][M_PROGRESS]);
    for (size_t i = 0; i < nsteps; i++) {
        static const char *const cls[] = {"done", "current", "todo", "detour"};
        bool cur = steps[i].kind == S_CURRENT || steps[i].kind == S_DETOUR;
        web_buf_printf(b, "<li class=\"%s\"%s><span>%s</span>",
                       cls[steps[i].kind], cur ? " aria-current=\"step\"" : "",
                       words[l][steps[i].label]);
        if (steps[i].kind == S_DONE)
            web_buf_printf(b, "<span class=\"sr\"> (%s)</span>",
                           words[l][M_DONE]);
        web_buf_puts(b, "</li>");
    }
    web_buf_puts(b, "</ol>");

    /* carrier link */
    web_buf_printf(b, "<p class=\"carrier\"><span>%s</span> ",
                   words[l][M_TRACKING_NO]);
    web_buf_puts(b, "<span class=\"number\">");
    web_buf_esc(b, number);
    web_buf_puts(b, "</span>");
    if (c != NULL && c->tracking_url != NULL && number != NULL) {
        char *esc = httpreq_url_escape(number);
        const char *pct = strstr(c->tracking_url, "%s");
        if (esc != NULL && pct != NULL) {
            const char *vals[1] = {cname};
            web_buf_puts(b, " <a class=\"ext\" rel=\"noopener noreferrer\" "
                            "target=\"_blank\" href=\"");
            web_buf_put(b, c->tracking_url, (size_t)(pct - c->tracking_url));
            web_buf_esc(b, esc);
            web_buf_esc(b, pct + 2);
            web_buf_puts(b, "\">");
            put_fmt(b, words[l][M_TRACK_AT], vals, 1);
            web_buf_puts(b, "</a>");
        }
        free(esc);
    }
    web_buf_puts(b, "</p>");

    /* timeline, newest first */
    web_buf_printf(b, "<h3>%s</h3>", words[l][M_HISTORY]);
    if (json_array_size(events) == 0)
        web_buf_printf(b, "<p class=\"note\">%s</p>", words[l][M_NO_EVENTS]);
    else
        web_buf_puts(b, "<ol class=\"timeline\">");
    for (size_t i = json_array_size(events); i-- > 0;) {
        json_t *e = json_array_get(events, i);
        const char *t = jstr(e, "time"), *desc = jstr(e, "description");
        json_t *loc = json_object_get(e, "location");
        const char *city = jstr(loc, "city"), *cc = jstr(loc, "country");
        enum model_status es = MODEL_PENDING;
        struct when w;

        if (jstr(e, "status") != NULL)
            model_status_parse(jstr(e, "status"), &es);
        web_buf_printf(b, "<li class=\"ev-%s\">", model_status_name(es));
        if (local_time(t, zone, &w)) {
            web_buf_puts(b, "<time datetime=\"");
            web_buf_esc(b, t);
            web_buf_printf(b, "\">%d %.3s %02d:%02d</time>", w.c.day,
                           month_names[l][w.c.month - 1], w.c.hour, w.c.min);
        }
        web_buf_puts(b, "<span class=\"what\">");
        web_buf_esc(b, desc != NULL ? desc : status_words[l][es]);
        web_buf_puts(b, "</span>");
        if (city != NULL || cc != NULL) {
            web_buf_puts(b, "<span class=\"where\">");
            web_buf_esc(b, city);
            if (city != NULL && cc != NULL)
                web_buf_puts(b, ", ");
            web_buf_esc(b, cc);
            web_buf_puts(b, "</span>");
        }
        web_buf_puts(b, "</li>");
        if (i == 0)
            web_buf_puts(b, "</ol>");
    }
    {
        const char *vals[1] = {zone};
        web_buf_printf(b, "<p class=\"zone\" data-zone=\"%s\">", zone);
        put_fmt(b, words[l][M_TIMES_IN], vals, 1);
        web_buf_puts(b, "</p>");
    }
    web_buf_puts(b, "</section>");
}

/* --- pages --- */

/* hex HMAC-SHA256 of "order\nexp" */
static void sign(const unsigned char key[WEB_TRACK_KEY_LEN], const char *order,
                 long long exp, char out[65])
{
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int ml = 0;
    char msg[200];
    int n = snprintf(msg, sizeof(msg), "%s\n%lld", order, exp);

    out[0] = '\0';
    if (n < 0 || (size_t)n >= sizeof(msg) ||
        HMAC(EVP_sha256(), key, WEB_TRACK_KEY_LEN, (const unsigned char *)msg,
             (size_t)n, mac, &ml) == NULL)
        return;
    for (unsigned int i = 0; i < ml && i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

bool web_track_verify(const unsigned char key[WEB_TRACK_KEY_LEN],
                      const char *order, const char *exp, const char *sig,
                      int64_t now_ms)
{
    char want[65];
    int64_t e;

    if (order == NULL || exp == NULL || sig == NULL || strlen(sig) != 64)
        return false;
    if (num_i64(exp, now_ms / 1000, now_ms / 1000 + 3 * 3600, &e) != 0)
        return false;
    sign(key, order, e, want);
    return want[0] != '\0' && CRYPTO_memcmp(want, sig, 64) == 0;
}

char *web_track_render(const struct cfg *cfg,
                       const unsigned char key[WEB_TRACK_KEY_LEN],
                       const char *order, json_t *ships, enum web_lang lang,
                       bool embed, int64_t now_ms, size_t *len)
{
    struct web_buf b = {0}, f = {0};
    size_t n = json_array_size(ships);
    /* The next whole hour plus one: the same for an hour, so cached pages
     * of one order agree. */
    long long exp = (now_ms / 1000 / 3600 + 2) * 3600;
    char sig[65];
    char *page;

    sign(key, order, exp, sig);
    web_buf_puts(&f, "<input type=\"hidden\" name=\"order_id\" value=\"");
    web_buf_esc(&f, order);
    web_buf_printf(&f,
                   "\"><input type=\"hidden\" name=\"exp\" value=\"%lld\">"
                   "<input type=\"hidden\" name=\"sig\" value=\"%s\">",
                   exp, sig);
    put_head(&b, cfg, lang, words[lang][M_ORDER_H], order, embed);
    put_header(&b, cfg, embed);
    web_buf_puts(&b, "<main>");
    put_langs(&b, lang, embed, f.p);
    web_buf_clear(&f);
    web_buf_puts(&b, "<h1>");
    {
        const char *vals[1] = {order};
        put_fmt(&b, words[lang][M_ORDER_H], vals, 1);
    }
    web_buf_puts(&b, "</h1>");
    for (size_t i = 0; i < n; i++)
        put_ship(&b, cfg, json_array_get(ships, i), lang, (int)i + 1, (int)n,
                 now_ms);
    web_buf_printf(&b, "<details class=\"again\"><summary>%s</summary>",
                   words[lang][M_ANOTHER]);
    put_form(&b, lang, embed, NULL);
    web_buf_puts(&b, "</details></main>");
    put_footer(&b, cfg, lang, embed);
    web_buf_puts(&b, "</body></html>\n");
    page = web_buf_take(&b, len);
    return page;
}

char *web_track_form(const struct cfg *cfg, enum web_lang lang, bool embed,
                     int status, size_t *len)
{
    struct web_buf b = {0};
    enum msg m = status == 400   ? M_BAD
                 : status == 404 ? M_NOT_FOUND
                 : status == 429 ? M_TOO_MANY
                 : status >= 500 ? M_UNAVAILABLE
                                 : M_COUNT;

    put_head(&b, cfg, lang, words[lang][M_TITLE], NULL, embed);
    put_header(&b, cfg, embed);
    web_buf_puts(&b, "<main>");
    put_langs(&b, lang, embed, NULL);
    web_buf_printf(&b, "<h1>%s</h1>", words[lang][M_TITLE]);
    if (m != M_COUNT)
        web_buf_printf(&b, "<p class=\"alert\" role=\"alert\">%s</p>",
                       words[lang][m]);
    web_buf_printf(&b, "<p class=\"intro\">%s</p>", words[lang][M_INTRO]);
    web_buf_puts(&b, "<section class=\"ship form\">");
    put_form(&b, lang, embed, NULL);
    web_buf_puts(&b, "</section></main>");
    put_footer(&b, cfg, lang, embed);
    web_buf_puts(&b, "</body></html>\n");
    return web_buf_take(&b, len);
}

char *web_track_theme(const struct cfg *cfg, size_t *len)
{
    struct web_buf b = {0};

    /* The accent was checked by cfg (#rgb or #rrggbb). */
    web_buf_printf(&b, ":root{--accent:%s}\n",
                   web_colour_ok(cfg->web_accent) ? cfg->web_accent
                                                  : "#0b5fff");
    return web_buf_take(&b, len);
}
