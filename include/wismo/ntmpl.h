/*
 * Notification texts: templates per locale and channel, rendering with
 * placeholders that never leave "{{...}}" behind, and SMS length rules
 * (GSM-7 with its extension table vs UCS-2, 1-2 segments).
 *
 * Template files (contrib/templates/<locale>.<channel>, channel "sms" or
 * "email"): lines "@<reason>" start a template; an e-mail template's first
 * line is "Subject: ..." and the rest is the plain-text body (the HTML part
 * is derived from it). '#' lines are comments. Placeholders: {{name}} (a
 * missing value renders as nothing) and {{#name}}...{{/name}} (kept only
 * when name has a value). The files of contrib/templates are compiled in
 * (ntmpl_builtin, generated at build time); a templates folder adds to
 * them and overrides them entry by entry. Locales fall back to "en", and
 * a reason no template knows gets a generic English text, so a reason
 * always has a message.
 */
#ifndef WISMO_NTMPL_H
#define WISMO_NTMPL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct ntmpl;

/* A template file compiled into the binary. */
struct ntmpl_file {
    const char *name; /* "<locale>.<channel>" */
    const char *text; /* the file's content */
};
/* contrib/templates at build time; ends with {NULL, NULL}. */
extern const struct ntmpl_file ntmpl_builtin[];

/* The built-in templates, then every <locale>.sms and <locale>.email
 * under dir over them (NULL or missing: built-ins only). Never NULL. */
struct ntmpl *ntmpl_load(const char *dir);
void ntmpl_free(struct ntmpl *t);
/* Template entries: in all, compiled in, and given by the folder. */
size_t ntmpl_count(const struct ntmpl *t);
size_t ntmpl_builtin_count(const struct ntmpl *t);
size_t ntmpl_dir_count(const struct ntmpl *t);

/* Renders reason for channel ("sms" or "email") in locale ("nl", "nl-BE",
 * "de_DE"...). vars: object of string values (borrowed). *subject gets
 * the e-mail subject (NULL for SMS). Returns the body (owned), never NULL;
 * SMS bodies are cut to fit 2 segments. */
char *ntmpl_render(const struct ntmpl *t, const char *reason,
                   const char *channel, const char *locale, const json_t *vars,
                   char **subject);

/* Renders one template text with vars (owned result). */
char *ntmpl_expand(const char *text, const json_t *vars);

/* SMS length: true when every character is in GSM 03.38 (basic table or
 * extension). units: septets (GSM-7, an extension character counts 2) or
 * UTF-16 code units (UCS-2). Returns the number of segments (0 for ""). */
int ntmpl_sms_segments(const char *utf8, bool *gsm7, size_t *units);
/* Cuts s (in place) at a character boundary so that it fits max_segments;
 * an ellipsis ("...") marks the cut. */
void ntmpl_sms_fit(char *s, int max_segments);

/* Plain text to a small HTML document (escaped, paragraphs, links). */
char *ntmpl_html(const char *text);

#endif
