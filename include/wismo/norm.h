/*
 * Normalisation helpers shared by the carrier adapters (carriers README,
 * section 2): text clean-up, country codes and the IANA zone tables used
 * for offset-less local times.
 */
#ifndef WISMO_NORM_H
#define WISMO_NORM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Collapses runs of white space (space, tab, CR, LF, NBSP) to one space and
 * trims both ends. Returns a new string (free()), or NULL when s is NULL,
 * empty or white space only (rule 3 and 4).
 */
char *norm_text(const char *s);
/* The same for a counted, not NUL-terminated buffer. */
char *norm_textn(const char *s, size_t len);

/* True when s is NULL or only white space. */
bool norm_blank(const char *s);

/*
 * Writes the ISO 3166-1 alpha-2 code for s into out: a two-letter code
 * (any case) or a full English/German country name from rule 5. Returns
 * true when s names a country, else out is "".
 */
bool norm_country(const char *s, char out[3]);

/* IANA zone of a country code, or NULL when the table has none. */
const char *norm_zone_country(const char *cc);
/* IANA zone of a US state or Canadian province (two letters), or NULL. */
const char *norm_zone_us_state(const char *st);
const char *norm_zone_ca_province(const char *pr);
/* The zone for (country, region): US and CA use the region's zone, other
 * countries the country's. Either may be NULL. NULL when unknown. */
const char *norm_zone_region(const char *cc, const char *region);
/* Province from the first letter of a Canadian postal code ("K1A" → ON),
 * or NULL. */
const char *norm_ca_postcode_province(const char *postcode);

/* ASCII case-insensitive substring test. */
bool norm_icontains(const char *hay, const char *needle);

#endif
