/*
 * Tracking-number detection: which carriers' formats *and* check digits a
 * number matches, best first. Formats come from jkeen/tracking_number_data
 * (MIT, see tests/fixtures/tracking_number_data) plus the NL/BE formats in
 * the carriers README (PostNL 3S, DHL Parcel, bpost, GLS, DPD).
 * The number is normalised first: ASCII whitespace dropped, ASCII letters
 * upper-cased; a format must then match the whole of it. Pure and reentrant
 * after detect_init() (call it once before starting threads).
 */
#ifndef WISMO_DETECT_H
#define WISMO_DETECT_H

#include <stddef.h>

#define DETECT_MAX 8 /* more candidates than this are cut */

struct detect_match {
    const char *carrier; /* static: a wismo carrier name ("ups", "postnl")
                            or the data's courier code ("amazon", "s10") */
    const char *format;  /* static: the format's id ("fedex_12") */
};

/* Compiles the format table; idempotent. 0 or WM_ENOMEM / WM_EINVAL. */
int detect_init(void);
/* Frees what detect_init() built. */
void detect_cleanup(void);

/*
 * Fills out[0..max) with the carriers whose format and check digit match
 * number (NUL-terminated, any case, spaces allowed), best first, one entry
 * per carrier; at most DETECT_MAX. Best first: a verified check digit
 * before none, then the more specific format (see carriers/detect.c). An
 * S10 (UPU) number gives "s10" and then the wismo carrier of its country
 * suffix (US usps, CA canadapost, NL postnl, BE bpost, DE dhl) with format
 * "s10". Returns how many were stored (0 when none or max is 0), WM_EINVAL
 * for a NULL number (or NULL out with max > 0), WM_ENOMEM. Calls
 * detect_init() itself when needed.
 */
int detect_number(const char *number, struct detect_match *out, size_t max);

#endif
