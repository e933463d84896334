/*
 * Tracking-number detection.
 *
 * The format table below is transcribed from jkeen/tracking_number_data (MIT,
 * tests/fixtures/tracking_number_data/couriers/<courier>.json) and extended
 * with the NL/BE formats wismo supports that the data set lacks. Nothing is
 * read at run time: the daemon must not depend on the tests folder.
 *
 * Semantics mirror the reference Ruby gem `tracking_number` (jkeen):
 *  - the input is normalised by dropping ASCII whitespace and upper-casing
 *    ASCII letters;
 *  - a format's regex must match the WHOLE normalised string (compiled with
 *    PCRE2_ANCHORED | PCRE2_ENDANCHORED);
 *  - the checksum runs over the SerialNumber group (after the data's
 *    serial_number_format.prepend_if) and is compared with CheckDigit;
 *  - additional.exists (only s10's "Courier") requires the named group's
 *    value to be in the lookup list.
 * Because the input holds no whitespace after normalisation, the data's
 * `\s*` tokens are dropped from the transcribed regexes, and `([0-9]\s*){n}`
 * becomes `[0-9]{n}`. Unnamed groups do not capture (PCRE2_NO_AUTO_CAPTURE).
 * Every data prepend_if has the form "prepend C unless the serial starts
 * with C" (`^(?!4).+$` + "4", `^(?!9\s*1).+` + "91"), hence `prepend`.
 *
 * NL/BE formats: PostNL 3S, DHL Parcel (3SDFC.., JVGL.., 00340434 +
 * GS1 check digit), bpost 24 digits 3232.., GLS 11 or 12 digits with the
 * GLS check digit (weights 3,1 from the right, sum + 1), DPD 14 digits.
 * Not detected on purpose: GLS TrackIDs (8 characters, too generic to
 * tell from any word) and shipper references. Numbers whose check digit
 * is wrong are never detected, even in a known format: several invented
 * numbers in tests/fixtures/carriers/requests.json are in that case (the
 * list is in tests/unit/test_detect.c).
 *
 * Speed: detect_init() compiles every regex once (JIT when available) and
 * files each format under every normalised length it accepts, in rank
 * order. A lookup normalises into a stack buffer, walks the formats of its
 * length, skips those whose first-character set (read from PCRE2) excludes
 * the first character, and only then runs the regex and the checksum.
 */
#include "wismo/detect.h"

#include <stdint.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "wismo/wm.h"

/* No format is longer; a longer normalised input matches nothing. */
#define DETECT_LEN_MAX 64
/* Room for a serial number plus a prepended prefix. */
#define DETECT_SERIAL_MAX (DETECT_LEN_MAX + 8)

enum detect_sum {
    DETECT_SUM_NONE,     /* no check digit */
    DETECT_SUM_MOD10,    /* gem mod10: a = evens, b = odds multiplier, c is
                            added to the sum; DETECT_F_REVERSE */
    DETECT_SUM_LUHN,     /* gem luhn */
    DETECT_SUM_MOD7,     /* serial % 7 == check digit */
    DETECT_SUM_S10,      /* UPU S10: weights, mod 11, 1 -> 0, 0 -> 5 */
    DETECT_SUM_WEIGHTED, /* sum_product_with_weightings_and_modulo:
                            weights, a = modulo1, b = modulo2 */
    DETECT_SUM_MOD37_36, /* ISO 7064 MOD 37,36 (DPD), alphanumeric */
};

#define DETECT_F_REVERSE (1u << 0) /* mod10 walks the serial right to left */
#define DETECT_F_S10     (1u << 1) /* CountryCode must be a UPU member */

struct detect_format {
    const char *carrier; /* wismo carrier name, else the data's courier */
    const char *id;      /* format id ("fedex_12") */
    const char *regex;   /* PCRE2, matched against the whole number */
    unsigned char min_len, max_len; /* normalised length bounds */
    unsigned char spec;    /* characters pinned by literal text (ranking) */
    unsigned char sum;     /* enum detect_sum */
    unsigned char flags;   /* DETECT_F_* */
    unsigned char a, b, c; /* checksum parameters, see detect_sum */
    const char *weights;   /* S10 / WEIGHTED: one decimal digit per weight */
    const char *prepend;   /* prepended to the serial unless it starts so */
};

/*
 * The table. Ranking ("best first") is computed from it in detect_init():
 *   1. formats whose check digit was verified before formats without one;
 *   2. then the more specific format first: `spec` counts the characters
 *      the format pins with literal text ("1Z" 2, "00340434" 8, a list of
 *      two-letter prefixes 2, s10's country-code list 2);
 *   3. then table order, which lists wismo's own NL/BE formats first, then
 *      the data set's formats of wismo carriers, then the other couriers.
 * One entry per carrier: a carrier's best-ranked matching format wins. An
 * s10 match is followed by the wismo carrier its country suffix names.
 */
static const struct detect_format detect_formats[] = {
    /* --- NL/BE formats (not in the data set) --- */
    /* DHL Paket/Parcel 20-digit number: "00" + SSCC, GS1 mod10. */
    {.carrier = "dhl",
     .id = "dhl_sscc",
     .regex = "(?<SerialNumber>00340434[0-9]{11})(?<CheckDigit>[0-9])",
     .min_len = 20,
     .max_len = 20,
     .spec = 8,
     .sum = DETECT_SUM_MOD10,
     .flags = DETECT_F_REVERSE,
     .a = 3,
     .b = 1},
    /* GLS parcel number: 10 or 11 digits + check digit, weights 3,1 from
       the right, sum + 1, mod 10. */
    {.carrier = "gls",
     .id = "gls_11",
     .regex = "(?<SerialNumber>[0-9]{10})(?<CheckDigit>[0-9])",
     .min_len = 11,
     .max_len = 11,
     .sum = DETECT_SUM_MOD10,
     .flags = DETECT_F_REVERSE,
     .a = 3,
     .b = 1,
     .c = 1},
    {.carrier = "gls",
     .id = "gls_12",
     .regex = "(?<SerialNumber>[0-9]{11})(?<CheckDigit>[0-9])",
     .min_len = 12,
     .max_len = 12,
     .sum = DETECT_SUM_MOD10,
     .flags = DETECT_F_REVERSE,
     .a = 3,
     .b = 1,
     .c = 1},
    /* DHL Parcel Benelux 3S barcode (customer code DFC..). */
    {.carrier = "dhl",
     .id = "dhl_3s",
     .regex = "3SDFC[0-9A-Z]{6,15}",
     .min_len = 11,
     .max_len = 20,
     .spec = 5},
    /* DHL Parcel Benelux JVGL number. */
    {.carrier = "dhl",
     .id = "dhl_jvgl",
     .regex = "JVGL[0-9]{8,24}",
     .min_len = 12,
     .max_len = 28,
     .spec = 4},
    /* bpost 24-digit barcode. */
    {.carrier = "bpost",
     .id = "bpost_24",
     .regex = "3232[0-9]{20}",
     .min_len = 24,
     .max_len = 24,
     .spec = 4},
    /* PostNL 3S barcode: 3S + customer code + serial. */
    {.carrier = "postnl",
     .id = "postnl_3s",
     .regex = "3S[A-Z]{4}[0-9]{7,9}",
     .min_len = 13,
     .max_len = 15,
     .spec = 2},
    /* DPD parcel number as DPD's APIs take it (no check character). */
    {.carrier = "dpd",
     .id = "dpd_parcel",
     .regex = "[0-9]{14}",
     .min_len = 14,
     .max_len = 14},

    /* --- jkeen/tracking_number_data: wismo carriers --- */
    {.carrier = "dhl",
     .id = "dhl_express",
     .regex = "(?<SerialNumber>[0-9]{9,10})(?<CheckDigit>[0-9])",
     .min_len = 10,
     .max_len = 11,
     .sum = DETECT_SUM_MOD7},
    {.carrier = "dhl",
     .id = "dhl_express_piece_id",
     .regex = "J[A-Z]{2,3}(?<SerialNumber>[0-9]{9,10})",
     .min_len = 12,
     .max_len = 14,
     .spec = 1},
    {.carrier = "dhl",
     .id = "dhl_ecommerce",
     .regex = "(?:GM|LX|RX|UV|CN|SG|TH|IN|HK|MY)"
              "(?<SerialNumber>(?=[0-9A-Z]{10,39}\\b)(?=[^0-9A-Z]*[0-9])"
              "[0-9A-Z]{10,39})",
     .min_len = 12,
     .max_len = 41,
     .spec = 2},
    {.carrier = "dhl",
     .id = "dhl_ecommerce_14",
     .regex = "(?<SerialNumber>[0-9]{14})",
     .min_len = 14,
     .max_len = 14},
    {.carrier = "dpd",
     .id = "dpd",
     .regex = "(?<SerialNumber>(?<DestinationZip>[0-9]{7})[0-9]{14}"
              "(?<ServiceType>[0-9]{3})(?<CountryCode>[0-9]{3}))"
              "(?<CheckDigit>[0-9A-Z])",
     .min_len = 28,
     .max_len = 28,
     .sum = DETECT_SUM_MOD37_36},
    {.carrier = "dpd",
     .id = "dpd_14",
     .regex = "(?<SerialNumber>[0-9]{14})(?<CheckDigit>[0-9A-Z])",
     .min_len = 15,
     .max_len = 15,
     .sum = DETECT_SUM_MOD37_36},
    {.carrier = "fedex",
     .id = "fedex_12",
     .regex = "(?<SerialNumber>[0-9]{11})(?<CheckDigit>[0-9])",
     .min_len = 12,
     .max_len = 12,
     .sum = DETECT_SUM_WEIGHTED,
     .a = 11,
     .b = 10,
     .weights = "31731731731"},
    {.carrier = "fedex",
     .id = "fedex_34",
     .regex = "[0-8][0-9]{14}(?<DestinationZip>[0-9]{5})"
              "(?<SerialNumber>[0-9]{13})(?<CheckDigit>[0-9])",
     .min_len = 34,
     .max_len = 34,
     .sum = DETECT_SUM_WEIGHTED,
     .a = 11,
     .b = 10,
     .weights = "1731731731731"},
    {.carrier = "fedex",
     .id = "fedex_astra_32",
     .regex = "3[0-9]{5}[0-9]{3}[0-9]{7}(?<SerialNumber>[0-9]{11})"
              "(?<CheckDigit>[0-9])[0-9]{4}",
     .min_len = 32,
     .max_len = 32,
     .spec = 1,
     .sum = DETECT_SUM_WEIGHTED,
     .a = 11,
     .b = 10,
     .weights = "31731731731"},
    {.carrier = "fedex",
     .id = "fedex_ground",
     .regex = "(?<SerialNumber>[0-9]{14})(?<CheckDigit>[0-9])",
     .min_len = 15,
     .max_len = 15,
     .sum = DETECT_SUM_MOD10,
     .a = 1,
     .b = 3},
    {.carrier = "fedex",
     .id = "fedex_ground_sscc_18",
     .regex = "(?<ShippingContainerType>[0-9]{2})(?<SerialNumber>[0-9]{15})"
              "(?<CheckDigit>[0-9])",
     .min_len = 18,
     .max_len = 18,
     .sum = DETECT_SUM_MOD10,
     .a = 3,
     .b = 1},
    {.carrier = "fedex",
     .id = "fedex_ground_96",
     .regex = "(?<ApplicationIdentifier>96)(?<SCNC>[0-9]{2})"
              "(?<ServiceType>[0-9]{3})(?<SerialNumber>(?<ShipperId>[0-9]{7})"
              "(?<PackageId>[0-9]{7}))(?<CheckDigit>[0-9])",
     .min_len = 22,
     .max_len = 22,
     .spec = 2,
     .sum = DETECT_SUM_MOD10,
     .a = 1,
     .b = 3},
    {.carrier = "fedex",
     .id = "fedex_ground_gsn",
     .regex = "(?<ApplicationIdentifier>96)(?<SCNC>[0-9]{2})[0-9]{5}"
              "(?<GSN>[0-9]{10})[0-9](?<SerialNumber>[0-9]{13})"
              "(?<CheckDigit>[0-9])",
     .min_len = 34,
     .max_len = 34,
     .spec = 2,
     .sum = DETECT_SUM_WEIGHTED,
     .a = 11,
     .b = 10,
     .weights = "1731731731731"},
    {.carrier = "ups",
     .id = "ups",
     .regex = "1Z(?<SerialNumber>(?<ShipperId>[A-Z0-9]{6})"
              "(?<ServiceType>[A-Z0-9]{2})(?<PackageId>[A-Z0-9]{7}))"
              "(?<CheckDigit>[0-9])",
     .min_len = 18,
     .max_len = 18,
     .spec = 2,
     .sum = DETECT_SUM_MOD10,
     .a = 1,
     .b = 2},
    {.carrier = "ups",
     .id = "ups_waybill",
     .regex = "(?<ServiceType>[AHJKTV])(?<SerialNumber>[0-9]{9})"
              "(?<CheckDigit>[0-9])",
     .min_len = 11,
     .max_len = 11,
     .sum = DETECT_SUM_MOD10,
     .a = 1,
     .b = 2},
    {.carrier = "usps",
     .id = "usps_20",
     .regex = "(?<SerialNumber>(?<ServiceType>[0-9]{2})(?<ShipperId>[0-9]{9})"
              "(?<PackageId>[0-9]{8}))(?<CheckDigit>[0-9])",
     .min_len = 20,
     .max_len = 20,
     .sum = DETECT_SUM_MOD10,
     .a = 3,
     .b = 1},
    {.carrier = "usps",
     .id = "usps_impb_n",
     .regex = "((?<RoutingApplicationId>420)(?<DestinationZip>[0-9]{5}"
              "(?=[0-9]{22}(?![0-9])|[0-9]{26}(?![0-9])))"
              "(?<DestinationZipPlus4>[0-9]{4}(?=[0-9]{22}(?![0-9])))?)?"
              "(?<SerialNumber>(?<ApplicationIdentifier>94)"
              "(?<ServiceType>[0-9]{3})"
              "(?=9[0-9]{8}([0-9]{15}|[0-9]{11}|[0-9]{7})[0-9](?![0-9])|"
              "[0-8][0-9]{5}([0-9]{14}|[0-9]{10})[0-9](?![0-9]))"
              "(?<ShipperId>9[0-9]{8}|[0-8][0-9]{5})"
              "(?<PackageId>[0-9]{15}|[0-9]{14}|[0-9]{11}|[0-9]{10}|[0-9]{7}))"
              "(?<CheckDigit>[0-9])",
     .min_len = 19,
     .max_len = 42,
     .spec = 2,
     .sum = DETECT_SUM_MOD10,
     .flags = DETECT_F_REVERSE,
     .a = 3,
     .b = 1},
    {.carrier = "usps",
     .id = "usps_legacy",
     .regex = "(?:(?<RoutingApplicationId>420)(?<DestinationZip>[0-9]{5})"
              "(?<DestinationZipPlus4>[0-9]{4})?)?"
              "(?<SerialNumber>(?<ApplicationIdentifier>91)?"
              "(?<ServiceType>[0-9]{2})(?<ShipperId>[0-9]{9})"
              "(?<PackageId>[0-9]{8}))(?<CheckDigit>[0-9])",
     .min_len = 20,
     .max_len = 34,
     .sum = DETECT_SUM_MOD10,
     .a = 3,
     .b = 1,
     .prepend = "91"},
    {.carrier = "usps",
     .id = "usps_impb_c",
     .regex = "(?:(?<RoutingApplicationId>420)(?<DestinationZip>[0-9]{5})"
              "(?<DestinationZipPlus4>[0-9]{4}(?=[0-9]{22}(?![0-9])))?)?"
              "(?<SerialNumber>(?<ApplicationIdentifier>92(?=[0-9]{3}9)|"
              "93(?=[0-9]{3}[0-8])|95)(?<ServiceType>[0-9]{3})"
              "(?=9[0-9]{8}([0-9]{11}|[0-9]{7})[0-9](?![0-9])|"
              "[0-8][0-9]{5}([0-9]{14}|[0-9]{10})[0-9](?![0-9]))"
              "(?<ShipperId>9[0-9]{8}|[0-8][0-9]{5})"
              "(?<PackageId>[0-9]{14}|[0-9]{11}|[0-9]{10}|[0-9]{7}))"
              "(?<CheckDigit>[0-9])",
     .min_len = 19,
     .max_len = 41,
     .spec = 2,
     .sum = DETECT_SUM_MOD10,
     .a = 3,
     .b = 1},
    {.carrier = "canadapost",
     .id = "canada_post",
     .regex = "(?<SerialNumber>(?<OriginId>[0-9]{7})[0-9]{8})"
              "(?<CheckDigit>[0-9])",
     .min_len = 16,
     .max_len = 16,
     .sum = DETECT_SUM_MOD10,
     .a = 3,
     .b = 1},
    /* UPU S10: also reported as the wismo carrier of its country suffix. */
    {.carrier = "s10",
     .id = "s10",
     .regex = "(?<ServiceType>[A-Z]{2})(?<SerialNumber>[0-9]{8})"
              "(?<CheckDigit>[0-9])(?<CountryCode>[A-Z]{2})",
     .min_len = 13,
     .max_len = 13,
     .spec = 2,
     .sum = DETECT_SUM_S10,
     .flags = DETECT_F_S10,
     .weights = "86423597"},

    /* --- jkeen/tracking_number_data: other couriers --- */
    {.carrier = "amazon",
     .id = "amazon_logistics",
     .regex = "TB[ACM](?<SerialNumber>[0-9]{12})",
     .min_len = 15,
     .max_len = 15,
     .spec = 2},
    {.carrier = "amazon",
     .id = "amazon_international",
     .regex = "[AFC](?<SerialNumber>[0-9]{10})",
     .min_len = 11,
     .max_len = 11},
    {.carrier = "canpar",
     .id = "canpar_22",
     .regex = "(?<SerialNumber>[CDKLSUXZ][0-9]{21})",
     .min_len = 22,
     .max_len = 22},
    {.carrier = "gofo",
     .id = "gofo_us",
     .regex = "GFUS(?<SerialNumber>[0-9]{14})",
     .min_len = 18,
     .max_len = 18,
     .spec = 4},
    {.carrier = "landmark",
     .id = "landmark_global",
     .regex = "LTN(?<SerialNumber>[0-9]{8})N1",
     .min_len = 13,
     .max_len = 13,
     .spec = 5},
    {.carrier = "lasership",
     .id = "lasership_lx",
     .regex = "L[AIEHNX][1-3](?<SerialNumber>[0-9]{7})",
     .min_len = 10,
     .max_len = 10,
     .spec = 1},
    {.carrier = "lasership",
     .id = "lasership_1ls7",
     .regex = "1LS7[12][0-9]{4}(?<SerialNumber>[0-9]{6})",
     .min_len = 15,
     .max_len = 15,
     .spec = 4},
    {.carrier = "lasership",
     .id = "lasership_1ls7_18",
     .regex = "1LS7[12][0-9]{2}01[1234](?<SerialNumber>[0-9]{6})-1",
     .min_len = 18,
     .max_len = 18,
     .spec = 8},
    {.carrier = "lasership",
     .id = "lasership_1lscx",
     .regex = "1LSCX(?<SerialNumber>[0-9A-Z]{10})",
     .min_len = 15,
     .max_len = 15,
     .spec = 5},
    {.carrier = "old_dominion",
     .id = "old_dominion",
     .regex = "(?<SerialNumber>(77[78]|072|780)[0-9]{7})(?<CheckDigit>[0-9])",
     .min_len = 11,
     .max_len = 11,
     .spec = 3,
     .sum = DETECT_SUM_LUHN},
    {.carrier = "old_dominion",
     .id = "old_dominion_guaranteed",
     .regex = "(?<SerialNumber>80[0-9]{8})(?<CheckDigit>[0-9])",
     .min_len = 11,
     .max_len = 11,
     .spec = 2,
     .sum = DETECT_SUM_LUHN},
    {.carrier = "ontrac",
     .id = "ontrac_c",
     .regex = "C(?<SerialNumber>[0-9]{13})(?<CheckDigit>[0-9])",
     .min_len = 15,
     .max_len = 15,
     .spec = 1,
     .sum = DETECT_SUM_MOD10,
     .a = 1,
     .b = 2,
     .prepend = "4"},
    {.carrier = "ontrac",
     .id = "ontrac_d",
     .regex = "D(?<SerialNumber>[0-9]{13})(?<CheckDigit>[0-9])",
     .min_len = 15,
     .max_len = 15,
     .spec = 1,
     .sum = DETECT_SUM_MOD10,
     .a = 1,
     .b = 2,
     .prepend = "5"},
    {.carrier = "purolator",
     .id = "purolator_numeric",
     .regex = "(?<SerialNumber>[0-5][0-9]{10})(?<CheckDigit>[0-9])",
     .min_len = 12,
     .max_len = 12,
     .sum = DETECT_SUM_LUHN},
    {.carrier = "purolator",
     .id = "purolator_alpha",
     .regex = "(?<SerialNumber>[A-Z]{3}[0-9]{9})",
     .min_len = 12,
     .max_len = 12},
    {.carrier = "speedee",
     .id = "speedee",
     .regex = "SP(?<SerialNumber>[0-9]{18})",
     .min_len = 20,
     .max_len = 20,
     .spec = 2},
    {.carrier = "yodel",
     .id = "yodel",
     .regex = "JJ?D(?<SerialNumber>[0-9]{16})",
     .min_len = 18,
     .max_len = 19,
     .spec = 2},
    {.carrier = "yunexpress",
     .id = "yunexpress",
     .regex = "YT(?<SerialNumber>[0-9]{16})",
     .min_len = 18,
     .max_len = 18,
     .spec = 2},
};

#define DETECT_NFORMATS WM_ARRAY_LEN(detect_formats)
_Static_assert(WM_ARRAY_LEN(detect_formats) < 256,
               "format indices are stored in unsigned char");

/* s10 "Courier" lookup: the UPU member country codes of the data set. */
static const char detect_s10_countries[] =
    "AFALDZAOAGARAMAUATAZBSBHBDBBBYBEBZBJBTBOBABWBRBNBGBFBIKHCMCACVCF"
    "TDCLCNHKCOKMCGCRHRCUCYCZCIKPCDDKDJDMDOECEGSVGQEREEETFJFIFRGAGMGE"
    "DEGHGBGRGDGTGNGWGYHTHNHUISINIDIRIQIEILITJMJPJOKZKEKIKRKWKGLALVLB"
    "LSLRLYLILTLUMGMWMYMVMLMTMRMUMXMDMCMNMEMAMZMMNANRNPNLNZNINENGNOOM"
    "PKPAPGPYPEPHPLPTQARORURWKNLCVCWSSMSTSASNRSSCSLSGSKSISBSOZASSESLK"
    "SDSRSZSECHSYTJTZTHMKTLTGTOTTTNTRTMTVUGUAAEUSUYUZVUVAVEVNYEZMZW";

/* s10 country suffixes that name a wismo carrier. */
static const struct {
    char cc[3];
    const char *carrier;
} detect_s10_carriers[] = {
    {"US", "usps"},  {"CA", "canadapost"}, {"NL", "postnl"},
    {"BE", "bpost"}, {"DE", "dhl"},
};

/* What detect_init() builds for each format. */
struct detect_compiled {
    pcre2_code *re;      /* owned */
    int jit;             /* JIT code available */
    uint32_t serial_grp; /* group numbers, 0 when absent */
    uint32_t check_grp;
    uint32_t country_grp;
    uint32_t first[8]; /* bitmap of possible first bytes */
};

static struct detect_compiled detect_compiled[DETECT_NFORMATS];
/* detect_by_len[n][0..detect_by_len_n[n]): formats accepting length n,
   best-ranked first. */
static unsigned char detect_by_len[DETECT_LEN_MAX + 1][DETECT_NFORMATS];
static unsigned char detect_by_len_n[DETECT_LEN_MAX + 1];
static uint32_t detect_s10_cc[26]; /* bit j of [i]: code ('A'+i, 'A'+j) */
static uint32_t detect_ovec_max;   /* ovector pairs the largest regex needs */
static int detect_ready;

static int detect_is_space(unsigned char ch)
{
    return ch == ' ' || (ch >= '\t' && ch <= '\r');
}

/* Ranking key comparison: <0 when format i ranks above format j. */
static int detect_rank_cmp(size_t i, size_t j)
{
    const struct detect_format *a = &detect_formats[i];
    const struct detect_format *b = &detect_formats[j];
    int ca = a->sum != DETECT_SUM_NONE, cb = b->sum != DETECT_SUM_NONE;

    if (ca != cb)
        return cb - ca;
    if (a->spec != b->spec)
        return (int)b->spec - (int)a->spec;
    return i < j ? -1 : (i > j);
}

static int detect_group(const pcre2_code *re, const char *name, uint32_t *out)
{
    int n = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);

    *out = n > 0 ? (uint32_t)n : 0;
    return n > 0;
}

/* The bytes a match can start with, from an unanchored compile (PCRE2
   computes start information only for unanchored patterns). */
static int detect_first_set(const char *regex, uint32_t first[8])
{
    pcre2_code *re = NULL;
    const uint8_t *bitmap = NULL;
    uint32_t type = 0, unit = 0;
    PCRE2_SIZE erroff;
    int err, rc = WM_EINVAL;

    re = pcre2_compile((PCRE2_SPTR)regex, PCRE2_ZERO_TERMINATED,
                       PCRE2_NO_AUTO_CAPTURE, &err, &erroff, NULL);
    if (re == NULL)
        goto out;
    memset(first, 0xff, 8 * sizeof(first[0])); /* default: anything */
    if (pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 &&
        type == 1 &&
        pcre2_pattern_info(re, PCRE2_INFO_FIRSTCODEUNIT, &unit) == 0 &&
        unit < 256) {
        memset(first, 0, 8 * sizeof(first[0]));
        first[unit >> 5] |= 1u << (unit & 31);
    } else if (pcre2_pattern_info(re, PCRE2_INFO_FIRSTBITMAP, &bitmap) == 0 &&
               bitmap != NULL) {
        for (int i = 0; i < 8; i++)
            first[i] = (uint32_t)bitmap[4 * i] |
                       (uint32_t)bitmap[4 * i + 1] << 8 |
                       (uint32_t)bitmap[4 * i + 2] << 16 |
                       (uint32_t)bitmap[4 * i + 3] << 24;
    }
    rc = 0;
out:
    pcre2_code_free(re);
    return rc;
}

static int detect_compile(size_t i)
{
    const struct detect_format *f = &detect_formats[i];
    struct detect_compiled *c = &detect_compiled[i];
    uint32_t groups = 0;
    PCRE2_SIZE erroff;
    int err;

    if (f->min_len == 0 || f->max_len > DETECT_LEN_MAX ||
        f->min_len > f->max_len)
        return WM_EINVAL;
    if (detect_first_set(f->regex, c->first) != 0)
        return WM_EINVAL;
    c->re = pcre2_compile((PCRE2_SPTR)f->regex, PCRE2_ZERO_TERMINATED,
                          PCRE2_ANCHORED | PCRE2_ENDANCHORED |
                              PCRE2_NO_AUTO_CAPTURE,
                          &err, &erroff, NULL);
    if (c->re == NULL)
        return err == PCRE2_ERROR_NOMEMORY ? WM_ENOMEM : WM_EINVAL;
    c->jit = pcre2_jit_compile(c->re, PCRE2_JIT_COMPLETE) == 0;
    if (pcre2_pattern_info(c->re, PCRE2_INFO_CAPTURECOUNT, &groups) != 0)
        return WM_EINVAL;
    if (groups + 1 > detect_ovec_max)
        detect_ovec_max = groups + 1;
    if (f->sum != DETECT_SUM_NONE &&
        (!detect_group(c->re, "SerialNumber", &c->serial_grp) ||
         !detect_group(c->re, "CheckDigit", &c->check_grp)))
        return WM_EINVAL;
    if ((f->flags & DETECT_F_S10) &&
        !detect_group(c->re, "CountryCode", &c->country_grp))
        return WM_EINVAL;
    return 0;
}

int detect_init(void)
{
    size_t order[DETECT_NFORMATS];
    int rc = 0;

    if (detect_ready)
        return 0;
    detect_ovec_max = 1;
    for (size_t i = 0; i < DETECT_NFORMATS; i++)
        if ((rc = detect_compile(i)) != 0)
            goto out;

    /* Insertion sort into rank order (stable, small table). */
    for (size_t i = 0; i < DETECT_NFORMATS; i++) {
        size_t j = i;

        while (j > 0 && detect_rank_cmp(i, order[j - 1]) < 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    memset(detect_by_len_n, 0, sizeof(detect_by_len_n));
    for (size_t k = 0; k < DETECT_NFORMATS; k++) {
        const struct detect_format *f = &detect_formats[order[k]];

        for (unsigned n = f->min_len; n <= f->max_len; n++)
            detect_by_len[n][detect_by_len_n[n]++] = (unsigned char)order[k];
    }

    memset(detect_s10_cc, 0, sizeof(detect_s10_cc));
    for (const char *p = detect_s10_countries; p[0] && p[1]; p += 2)
        detect_s10_cc[p[0] - 'A'] |= 1u << (p[1] - 'A');
    detect_ready = 1;
out:
    if (rc != 0)
        detect_cleanup();
    return rc;
}

void detect_cleanup(void)
{
    for (size_t i = 0; i < DETECT_NFORMATS; i++) {
        pcre2_code_free(detect_compiled[i].re);
        memset(&detect_compiled[i], 0, sizeof(detect_compiled[i]));
    }
    detect_ready = 0;
}

/* Ruby's String#to_i on one character: its digit value, else 0. */
static int detect_digit(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : 0;
}

/* gem mod10: letters count as (code - 3) % 10. */
static int detect_mod10(const struct detect_format *f, const char *s, size_t n,
                        char check)
{
    unsigned long total = f->c;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch =
            (unsigned char)s[(f->flags & DETECT_F_REVERSE) ? n - 1 - i : i];
        unsigned long x = ch >= '0' && ch <= '9' ? (unsigned long)(ch - '0')
                                                 : (unsigned long)(ch - 3) % 10;

        total += x * ((i & 1) ? f->b : f->a);
    }
    return (10 - total % 10) % 10 == (unsigned long)detect_digit(check);
}

static int detect_luhn(const char *s, size_t n, char check)
{
    unsigned long total = 0;

    for (size_t i = 0; i < n; i++) {
        int x = detect_digit(s[n - 1 - i]);

        if ((i & 1) == 0)
            x *= 2;
        if (x > 9)
            x -= 9;
        total += (unsigned long)x;
    }
    return (10 - total % 10) % 10 == (unsigned long)detect_digit(check);
}

static int detect_mod7(const char *s, size_t n, char check)
{
    uint64_t v = 0;

    if (n > 18) /* no format has more; keeps v from overflowing */
        return 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (uint64_t)detect_digit(s[i]);
    return v % 7 == (uint64_t)detect_digit(check);
}

/* Zips serial and weights like Ruby's zip: extra serial digits count 0. */
static unsigned long detect_weighted_sum(const char *s, size_t n, const char *w)
{
    unsigned long total = 0;

    for (size_t i = 0; i < n && w[i] != '\0'; i++)
        total += (unsigned long)(detect_digit(s[i]) * (w[i] - '0'));
    return total;
}

static int detect_s10(const struct detect_format *f, const char *s, size_t n,
                      char check)
{
    unsigned long r = detect_weighted_sum(s, n, f->weights) % 11;
    unsigned long want = r == 1 ? 0 : r == 0 ? 5 : 11 - r;

    return want == (unsigned long)detect_digit(check);
}

static int detect_weighted(const struct detect_format *f, const char *s,
                           size_t n, char check)
{
    unsigned long total = detect_weighted_sum(s, n, f->weights);

    return total % f->a % f->b == (unsigned long)detect_digit(check);
}

static int detect_alnum_val(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A' + 10;
    return 0;
}

/* ISO 7064 MOD 37,36 as in the DPD label specification and the gem. */
static int detect_mod37_36(const char *s, size_t n, char check)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    int cd = 36;

    for (size_t i = 0; i < n; i++) {
        cd += detect_alnum_val(s[i]);
        if (cd > 36)
            cd -= 36;
        cd *= 2;
        if (cd > 36)
            cd -= 37;
    }
    cd = 37 - cd;
    if (cd == 36)
        cd = 0;
    return cd >= 0 && cd < 36 && alphabet[cd] == check;
}

/* The checksum of format f over the match in md. */
static int detect_checksum(const struct detect_format *f,
                           const struct detect_compiled *c, const char *num,
                           pcre2_match_data *md)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t pairs = pcre2_get_ovector_count(md);
    char serial[DETECT_SERIAL_MAX];
    size_t n = 0, plen, slen;
    PCRE2_SIZE s0, s1, c0, c1;

    if (c->serial_grp >= pairs || c->check_grp >= pairs)
        return 0;
    s0 = ov[2 * c->serial_grp];
    s1 = ov[2 * c->serial_grp + 1];
    c0 = ov[2 * c->check_grp];
    c1 = ov[2 * c->check_grp + 1];
    if (s0 == PCRE2_UNSET || c0 == PCRE2_UNSET || c1 - c0 != 1 || s1 < s0)
        return 0;
    slen = s1 - s0;
    if (f->prepend != NULL) {
        plen = strlen(f->prepend);
        if (slen < plen || memcmp(num + s0, f->prepend, plen) != 0) {
            memcpy(serial, f->prepend, plen);
            n = plen;
        }
    }
    if (n + slen > sizeof(serial))
        return 0;
    memcpy(serial + n, num + s0, slen);
    n += slen;

    switch (f->sum) {
    case DETECT_SUM_MOD10:
        return detect_mod10(f, serial, n, num[c0]);
    case DETECT_SUM_LUHN:
        return detect_luhn(serial, n, num[c0]);
    case DETECT_SUM_MOD7:
        return detect_mod7(serial, n, num[c0]);
    case DETECT_SUM_S10:
        return detect_s10(f, serial, n, num[c0]);
    case DETECT_SUM_WEIGHTED:
        return detect_weighted(f, serial, n, num[c0]);
    case DETECT_SUM_MOD37_36:
        return detect_mod37_36(serial, n, num[c0]);
    default:
        return 0;
    }
}

/* The two letters of the CountryCode group, or NULL when unset. */
static const char *detect_country(const struct detect_compiled *c,
                                  const char *num, pcre2_match_data *md)
{
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);

    if (c->country_grp >= pcre2_get_ovector_count(md) ||
        ov[2 * c->country_grp] == PCRE2_UNSET ||
        ov[2 * c->country_grp + 1] - ov[2 * c->country_grp] != 2)
        return NULL;
    return num + ov[2 * c->country_grp];
}

static int detect_s10_member(const char *cc)
{
    if (cc[0] < 'A' || cc[0] > 'Z' || cc[1] < 'A' || cc[1] > 'Z')
        return 0;
    return (detect_s10_cc[cc[0] - 'A'] >> (cc[1] - 'A')) & 1u;
}

/* 1 when format i matches num (len bytes, normalised). */
static int detect_try(size_t i, const char *num, size_t len,
                      pcre2_match_data *md, const char **cc)
{
    const struct detect_format *f = &detect_formats[i];
    const struct detect_compiled *c = &detect_compiled[i];
    int rc;

    if (c->jit)
        rc = pcre2_jit_match(c->re, (PCRE2_SPTR)num, len, 0, 0, md, NULL);
    else
        rc = pcre2_match(c->re, (PCRE2_SPTR)num, len, 0, 0, md, NULL);
    if (rc < 0)
        return 0;
    if (f->sum != DETECT_SUM_NONE && !detect_checksum(f, c, num, md))
        return 0;
    if (f->flags & DETECT_F_S10) {
        *cc = detect_country(c, num, md);
        if (*cc == NULL || !detect_s10_member(*cc))
            return 0;
    }
    return 1;
}

static int detect_has(const struct detect_match *out, size_t n,
                      const char *carrier)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(out[i].carrier, carrier) == 0)
            return 1;
    return 0;
}

/* Appends (carrier, format) unless the carrier is there already. */
static size_t detect_add(struct detect_match *out, size_t n, size_t max,
                         const char *carrier, const char *format)
{
    if (n >= max || detect_has(out, n, carrier))
        return n;
    out[n].carrier = carrier;
    out[n].format = format;
    return n + 1;
}

/* Copies number without ASCII whitespace, upper-cased, NUL-terminated.
   Returns the length, or -1 when it exceeds DETECT_LEN_MAX. */
static int detect_normalise(const char *number, char buf[DETECT_LEN_MAX + 1])
{
    size_t n = 0;

    for (const unsigned char *p = (const unsigned char *)number; *p; p++) {
        if (detect_is_space(*p))
            continue;
        if (n == DETECT_LEN_MAX)
            return -1;
        buf[n++] = (char)(*p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
    }
    buf[n] = '\0';
    return (int)n;
}

int detect_number(const char *number, struct detect_match *out, size_t max)
{
    char num[DETECT_LEN_MAX + 1];
    pcre2_match_data *md = NULL;
    unsigned char first;
    size_t n = 0;
    int len, rc = 0;

    if (number == NULL || (out == NULL && max > 0))
        return WM_EINVAL;
    if (!detect_ready && (rc = detect_init()) != 0)
        return rc;
    if (max > DETECT_MAX)
        max = DETECT_MAX;
    len = detect_normalise(number, num);
    if (len <= 0)
        goto out;
    first = (unsigned char)num[0];
    for (unsigned k = 0; k < detect_by_len_n[len] && n < max; k++) {
        size_t i = detect_by_len[len][k];
        const struct detect_format *f = &detect_formats[i];
        const char *cc = NULL;

        if (!((detect_compiled[i].first[first >> 5] >> (first & 31)) & 1u))
            continue;
        if (detect_has(out, n, f->carrier))
            continue; /* a better format of this carrier matched */
        if (md == NULL) {
            md = pcre2_match_data_create(detect_ovec_max, NULL);
            if (md == NULL) {
                rc = WM_ENOMEM;
                goto out;
            }
        }
        if (!detect_try(i, num, (size_t)len, md, &cc))
            continue;
        n = detect_add(out, n, max, f->carrier, f->id);
        if (cc == NULL)
            continue;
        for (size_t j = 0; j < WM_ARRAY_LEN(detect_s10_carriers); j++)
            if (memcmp(cc, detect_s10_carriers[j].cc, 2) == 0)
                n = detect_add(out, n, max, detect_s10_carriers[j].carrier,
                               f->id);
    }
out:
    pcre2_match_data_free(md);
    return rc < 0 ? rc : (int)n;
}
