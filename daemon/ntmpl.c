/*
 * Notification templates and SMS length rules (see wismo/ntmpl.h).
 */
#include "wismo/ntmpl.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wismo/wm.h"

struct ntmpl_entry {
    char key[64]; /* "<locale>.<channel>.<reason>" */
    char *text;   /* owned */
};

struct ntmpl {
    struct ntmpl_entry *e;
    size_t n, cap;
    size_t builtin;  /* entries compiled in */
    size_t from_dir; /* entries the folder gave (new or overriding) */
};

static void add_entry(struct ntmpl *t, const char *key, const char *text)
{
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].key, key) == 0) {
            free(t->e[i].text);
            t->e[i].text = wm_xstrdup(text);
            return;
        }
    wm_grow((void **)&t->e, &t->cap, t->n + 1, sizeof(*t->e));
    snprintf(t->e[t->n].key, sizeof(t->e[t->n].key), "%s", key);
    t->e[t->n].text = wm_xstrdup(text);
    t->n++;
}

/* Stores the template of reason (the lines in buf, trailing blank lines
 * and spaces dropped) under "<prefix>.<reason>". */
static void flush_entry(struct ntmpl *t, const char *prefix, const char *reason,
                        char *buf, size_t len)
{
    char key[64];

    if (reason[0] == '\0')
        return;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        len--;
    buf[len] = '\0';
    snprintf(key, sizeof(key), "%s.%s", prefix, reason);
    add_entry(t, key, buf);
}

/* Parses one template file's text ("@reason" lines start a template, '#'
 * lines are comments, CR before LF is dropped); returns the entries. */
static size_t parse_text(struct ntmpl *t, const char *text, const char *prefix)
{
    char reason[48] = "", *buf = NULL;
    size_t len = 0, cap = 0, count = 0;

    wm_grow((void **)&buf, &cap, 1, 1);
    for (const char *line = text; *line != '\0';) {
        size_t l = strcspn(line, "\n"), k = l;
        const char *next = line + l + (line[l] == '\n');

        while (k > 0 && line[k - 1] == '\r')
            k--;
        if (line[0] == '@') {
            flush_entry(t, prefix, reason, buf, len);
            count += reason[0] != '\0';
            len = 0;
            size_t rl = strcspn(line + 1, " \r\n");

            snprintf(reason, sizeof(reason), "%.*s", (int)(rl < 40 ? rl : 40),
                     line + 1);
        } else if (line[0] != '#') {
            wm_grow((void **)&buf, &cap, len + k + 2, 1);
            memcpy(buf + len, line, k);
            len += k;
            buf[len++] = '\n';
        }
        line = next;
    }
    flush_entry(t, prefix, reason, buf, len);
    count += reason[0] != '\0';
    free(buf);
    return count;
}

/* A whole file (owned), or NULL. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, got;

    if (f == NULL)
        return NULL;
    do {
        wm_grow((void **)&buf, &cap, len + 4097, 1);
        got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
    } while (got > 0);
    buf[len] = '\0';
    fclose(f);
    return buf;
}

struct ntmpl *ntmpl_load(const char *dir)
{
    static const char *const locales[] = {"en", "nl", "de", "fr", "es",
                                          "it", "pl", "da", "sv"};
    static const char *const channels[] = {"sms", "email"};
    struct ntmpl *t = wm_xcalloc(1, sizeof(*t));
    char path[1024], prefix[32];

    for (const struct ntmpl_file *f = ntmpl_builtin; f->name != NULL; f++)
        parse_text(t, f->text, f->name);
    t->builtin = t->n;
    for (size_t i = 0; dir != NULL && i < WM_ARRAY_LEN(locales); i++)
        for (size_t j = 0; j < WM_ARRAY_LEN(channels); j++) {
            char *text;

            snprintf(path, sizeof(path), "%s/%s.%s", dir, locales[i],
                     channels[j]);
            snprintf(prefix, sizeof(prefix), "%s.%s", locales[i], channels[j]);
            if ((text = read_file(path)) != NULL)
                t->from_dir += parse_text(t, text, prefix);
            free(text);
        }
    return t;
}

void ntmpl_free(struct ntmpl *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n; i++)
        free(t->e[i].text);
    free(t->e);
    free(t);
}

size_t ntmpl_count(const struct ntmpl *t)
{
    return t->n;
}

size_t ntmpl_builtin_count(const struct ntmpl *t)
{
    return t->builtin;
}

size_t ntmpl_dir_count(const struct ntmpl *t)
{
    return t->from_dir;
}

static const char *lookup(const struct ntmpl *t, const char *lang,
                          const char *channel, const char *reason)
{
    char key[64];

    snprintf(key, sizeof(key), "%s.%s.%s", lang, channel, reason);
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(t->e[i].key, key) == 0)
            return t->e[i].text;
    return NULL;
}

/* A growing string. */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_addn(struct sbuf *b, const char *s, size_t n)
{
    wm_grow((void **)&b->p, &b->cap, b->len + n + 1, 1);
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(struct sbuf *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

static const char *var(const json_t *vars, const char *name, size_t n)
{
    char key[64];
    const char *v;

    if (n >= sizeof(key))
        return NULL;
    memcpy(key, name, n);
    key[n] = '\0';
    v = json_string_value(json_object_get(vars, key));
    return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Adds a value, breaking any "{{" or "}}" in it so that no placeholder can
 * come from data. */
static void sb_add_value(struct sbuf *b, const char *v)
{
    for (; *v != '\0'; v++) {
        sb_addn(b, v, 1);
        if ((v[0] == '{' && v[1] == '{') || (v[0] == '}' && v[1] == '}'))
            sb_add(b, " ");
    }
}

static void expand(struct sbuf *b, const char *s, size_t len,
                   const json_t *vars, int depth)
{
    const char *end = s + len;

    while (s < end) {
        const char *o = strstr(s, "{{"), *c;
        size_t nl;

        if (o == NULL || o >= end) {
            sb_addn(b, s, (size_t)(end - s));
            return;
        }
        sb_addn(b, s, (size_t)(o - s));
        c = strstr(o + 2, "}}");
        if (c == NULL || c >= end) {
            return; /* an unclosed "{{": the rest is dropped */
        }
        if (o[2] == '#' && depth < 4) {
            const char *name = o + 3, *close, *cs;
            char tag[72];

            nl = (size_t)(c - name);
            snprintf(tag, sizeof(tag), "{{/%.*s}}", (int)nl, name);
            cs = c + 2;
            close = strstr(cs, tag);
            if (close == NULL || close > end) {
                s = c + 2;
                continue;
            }
            if (var(vars, name, nl) != NULL)
                expand(b, cs, (size_t)(close - cs), vars, depth + 1);
            s = close + strlen(tag);
            continue;
        }
        if (o[2] != '#' && o[2] != '/') {
            const char *v;

            nl = (size_t)(c - (o + 2));
            v = var(vars, o + 2, nl);
            if (v != NULL)
                sb_add_value(b, v);
        }
        s = c + 2;
    }
}

char *ntmpl_expand(const char *text, const json_t *vars)
{
    struct sbuf b = {0};

    sb_add(&b, "");
    expand(&b, text, strlen(text), vars, 0);
    return b.p;
}

/* The language of a locale ("nl-BE" -> "nl"); "en" when none. */
static void locale_lang(const char *locale, char lang[8])
{
    size_t l = locale != NULL ? strcspn(locale, "-_") : 0;

    strcpy(lang, "en");
    if (l == 0 || l >= 8)
        return;
    for (size_t i = 0; i < l; i++)
        lang[i] = (char)(locale[i] | 0x20);
    lang[l] = '\0';
}

/* A subject is one line, without blanks around it (in place). */
static char *one_line(char *s)
{
    size_t n;

    for (char *p = s; *p != '\0'; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    n = strspn(s, " ");
    memmove(s, s + n, strlen(s + n) + 1);
    n = strlen(s);
    while (n > 0 && s[n - 1] == ' ')
        s[--n] = '\0';
    return s;
}

/* An e-mail template's first line "Subject: ..." (the text after the
 * colon, owned, into *subject) and its body (returned, borrowed). A
 * template without that line has no subject (*subject NULL). */
static const char *split_subject(const char *text, char **subject)
{
    const char *nl = strchr(text, '\n');
    size_t sl = nl != NULL ? (size_t)(nl - text) : strlen(text);

    *subject = NULL;
    if (strncmp(text, "Subject:", 8) != 0)
        return text;
    *subject = wm_xstrndup(text + 8, sl - 8);
    text = nl != NULL ? nl + 1 : "";
    while (*text == '\n')
        text++;
    return text;
}

char *ntmpl_render(const struct ntmpl *t, const char *reason,
                   const char *channel, const char *locale, const json_t *vars,
                   char **subject)
{
    char lang[8], *subj_tmpl = NULL, *subj, *body;
    const char *text;
    bool email = strcmp(channel, "email") == 0;

    locale_lang(locale, lang);
    text = lookup(t, lang, channel, reason);
    if (text == NULL)
        text = lookup(t, "en", channel, reason);
    if (text != NULL && email)
        text = split_subject(text, &subj_tmpl);
    if (text == NULL) /* a reason no template knows */
        text = "Update on your order {{order_id}}.";
    if (subj_tmpl == NULL)
        subj_tmpl = wm_xstrdup("Update on your order {{order_id}}");
    subj = one_line(ntmpl_expand(subj_tmpl, vars));
    free(subj_tmpl);
    body = ntmpl_expand(text, vars);
    if (!email)
        ntmpl_sms_fit(body, 2);
    if (subject != NULL)
        *subject = email ? subj : NULL;
    if (subject == NULL || !email)
        free(subj);
    return body;
}

/* --- SMS --- */

/* Decodes one UTF-8 character; returns its length (1 on bad bytes, which
 * count as U+FFFD). */
static size_t utf8_next(const unsigned char *s, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    if ((s[0] & 0xE0) == 0xC0 && (s[1] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if ((s[0] & 0xF0) == 0xE0 && (s[1] & 0xC0) == 0x80 &&
        (s[2] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) |
              (s[2] & 0x3F);
        return 3;
    }
    if ((s[0] & 0xF8) == 0xF0 && (s[1] & 0xC0) == 0x80 &&
        (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80) {
        *cp = ((uint32_t)(s[0] & 0x07) << 18) |
              ((uint32_t)(s[1] & 0x3F) << 12) | ((uint32_t)(s[2] & 0x3F) << 6) |
              (s[3] & 0x3F);
        return 4;
    }
    *cp = 0xFFFD;
    return 1;
}

/* Septets of cp in GSM 03.38: 1 (basic), 2 (extension), 0 (not GSM). */
static int gsm_septets(uint32_t cp)
{
    static const uint32_t basic_hi[] = {
        0x00A3, 0x00A5, 0x00E8, 0x00E9, 0x00F9, 0x00EC, 0x00F2, 0x00C7,
        0x00D8, 0x00F8, 0x00C5, 0x00E5, 0x0394, 0x03A6, 0x0393, 0x039B,
        0x03A9, 0x03A0, 0x03A8, 0x03A3, 0x0398, 0x039E, 0x00C6, 0x00E6,
        0x00DF, 0x00C9, 0x00A4, 0x00A1, 0x00C4, 0x00D6, 0x00D1, 0x00DC,
        0x00A7, 0x00BF, 0x00E4, 0x00F6, 0x00F1, 0x00FC, 0x00E0};

    if (cp == '\n' || cp == '\r')
        return 1;
    if (cp >= 0x20 && cp < 0x7F) {
        if (strchr("^{}\\[~]|", (int)cp) != NULL)
            return 2;
        return cp == '`' ? 0 : 1;
    }
    if (cp == 0x20AC || cp == 0x0C) /* euro sign, form feed */
        return 2;
    for (size_t i = 0; i < WM_ARRAY_LEN(basic_hi); i++)
        if (basic_hi[i] == cp)
            return 1;
    return 0;
}

static bool is_gsm7(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;

    while (*p != '\0') {
        p += utf8_next(p, &cp);
        if (gsm_septets(cp) == 0)
            return false;
    }
    return true;
}

/* Walks s, counting segments of per units where a character never
 * straddles two segments. single: units that fit in one segment. Returns
 * segments; *units the total. When stop_at > 0, returns the byte offset
 * where segment stop_at+1 would start in *cut (or strlen). */
static int count_segments(const char *s, bool gsm, size_t *units,
                          int limit_segments, size_t limit_units_last,
                          size_t *cut)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t total = 0, in_seg = 0, per = gsm ? 153 : 67;
    int segs = 1;
    uint32_t cp;

    if (cut != NULL)
        *cut = strlen(s);
    while (*p != '\0') {
        size_t l = utf8_next(p, &cp);
        size_t u = gsm ? (size_t)gsm_septets(cp) : (cp > 0xFFFF ? 2u : 1u);

        if (in_seg + u > per) {
            segs++;
            in_seg = 0;
        }
        if (cut != NULL && limit_segments > 0 &&
            (segs > limit_segments ||
             (segs == limit_segments && in_seg + u > limit_units_last))) {
            *cut = (size_t)((const char *)p - s);
            cut = NULL;
        }
        in_seg += u;
        total += u;
        p += l;
    }
    if (units != NULL)
        *units = total;
    return segs;
}

int ntmpl_sms_segments(const char *utf8, bool *gsm7, size_t *units)
{
    bool gsm = is_gsm7(utf8);
    size_t total;
    int segs;

    segs = count_segments(utf8, gsm, &total, 0, 0, NULL);
    if (gsm7 != NULL)
        *gsm7 = gsm;
    if (units != NULL)
        *units = total;
    if (total == 0)
        return 0;
    if (total <= (gsm ? 160u : 70u))
        return 1;
    return segs;
}

void ntmpl_sms_fit(char *s, int max_segments)
{
    bool gsm;
    size_t cut, per;

    if (ntmpl_sms_segments(s, &gsm, NULL) <= max_segments)
        return;
    per = gsm ? 153 : 67;
    if (max_segments == 1) {
        /* one segment holds 160 / 70 units; leave room for "..." */
        count_segments(s, gsm, NULL, 1, per - 3, &cut);
    } else {
        count_segments(s, gsm, NULL, max_segments, per - 3, &cut);
    }
    while (cut > 0 && s[cut - 1] == ' ')
        cut--;
    memcpy(s + cut, "...", 4);
}

/* s[0, n) as HTML text or attribute value (in double quotes). */
static void sb_add_escaped(struct sbuf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<':
            sb_add(b, "&lt;");
            break;
        case '>':
            sb_add(b, "&gt;");
            break;
        case '&':
            sb_add(b, "&amp;");
            break;
        case '"':
            sb_add(b, "&quot;");
            break;
        default:
            sb_addn(b, s + i, 1);
        }
    }
}

char *ntmpl_html(const char *text)
{
    struct sbuf b = {0};
    const char *p = text;

    sb_add(&b, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head>"
               "<body><p>");
    while (*p != '\0') {
        if (strncmp(p, "https://", 8) == 0 || strncmp(p, "http://", 7) == 0) {
            size_t l = strcspn(p, " \n\t<>\"");
            sb_add(&b, "<a href=\"");
            sb_add_escaped(&b, p, l); /* "?a=1&b=2": &amp; in HTML */
            sb_add(&b, "\">");
            sb_add_escaped(&b, p, l);
            sb_add(&b, "</a>");
            p += l;
            continue;
        }
        switch (*p) {
        case '<':
        case '>':
        case '&':
        case '"':
            sb_add_escaped(&b, p, 1);
            break;
        case '\n':
            if (p[1] == '\n') {
                sb_add(&b, "</p>\n<p>");
                while (p[1] == '\n')
                    p++;
            } else {
                sb_add(&b, "<br>\n");
            }
            break;
        default:
            sb_addn(&b, p, 1);
        }
        p++;
    }
    sb_add(&b, "</p></body></html>\n");
    return b.p;
}
