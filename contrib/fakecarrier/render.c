/*
 * Rendering helpers shared by the carriers (see render.h).
 */
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

void fc_render_json(struct fc_response *r, int status, const char *type,
                    json_t *root)
{
    char *text;

    if (root == NULL) { /* a bug of ours: say so rather than send "" */
        fc_error("event=render_failed status=%d", status);
        root = json_pack("{s:s}", "error", "fakecarrier could not render");
        status = 500;
    }
    text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    r->status = status;
    r->content_type = type;
    fc_buf_reset(&r->body);
    if (text != NULL) {
        fc_buf_puts(&r->body, text);
        free(text);
    }
    json_decref(root);
}

void fc_render_retry(struct fc_response *r, int retry_after)
{
    if (retry_after >= 0)
        fc_response_header(r, "Retry-After", "%d", retry_after);
}

json_t *fc_jstr_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *fc_jtime_offset(int64_t t, const char *zone, bool colon)
{
    char buf[FC_ISO_BUFSZ];

    fc_fmt_offset(t, zone, colon, buf);
    return json_string(buf);
}

void fc_render_uuid(char buf[40])
{
    static uint64_t counter;
    uint64_t a = fc_mix((uint64_t)time(NULL) ^ ++counter);
    uint64_t b = fc_mix(a ^ counter);

    snprintf(buf, 40, "%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(a >> 32),
             (unsigned)(a >> 16) & 0xffff, (unsigned)a & 0xfff,
             (unsigned)(b >> 52) & 0xfff,
             (unsigned long long)(b & 0xffffffffffffULL));
}
