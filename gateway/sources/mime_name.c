/*
 * Attachment names (gateway/sources/mime_internal.h): Content-Disposition filename and
 * Content-Type name, in RFC 2231 form (name*=charset'lang'pct-encoded, and continuations
 * name*0*, name*1, ...), which libetpan leaves undecoded, or plain (RFC 2047 words
 * allowed, as many mailers write them).
 */
#include "mime_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "intake/normalise.h"

#define MAX_SECTIONS 64

/* The value of parameter `name` (any case) of the part's disposition (disp) or content
 * type, or NULL. Borrowed from the part. */
static const char *param(const struct mailmime *m, bool disp, const char *name)
{
    const struct mailmime_disposition *d = NULL;
    if (disp) {
        clistiter *it = m->mm_mime_fields ? clist_begin(m->mm_mime_fields->fld_list) : NULL;
        for (; it && !d; it = clist_next(it)) {
            const struct mailmime_field *f = clist_content(it);
            d = f->fld_type == MAILMIME_FIELD_DISPOSITION ? f->fld_data.fld_disposition : NULL;
        }
    }
    clist *list = disp ? (d ? d->dsp_parms : NULL)
                       : (m->mm_content_type ? m->mm_content_type->ct_parameters : NULL);
    for (clistiter *it = list ? clist_begin(list) : NULL; it; it = clist_next(it)) {
        const struct mailmime_parameter *p = clist_content(it);
        if (disp) {
            const struct mailmime_disposition_parm *dp = clist_content(it);
            if (dp->pa_type == MAILMIME_DISPOSITION_PARM_FILENAME)
                p = NULL; /* "filename": read below through its own member */
            else if (dp->pa_type == MAILMIME_DISPOSITION_PARM_PARAMETER)
                p = dp->pa_data.pa_parameter;
            else
                continue;
            if (!p && strcasecmp(name, "filename") == 0)
                return dp->pa_data.pa_filename;
        }
        if (p && p->pa_name && strcasecmp(p->pa_name, name) == 0)
            return p->pa_value;
    }
    return NULL;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Appends a %-encoded value, decoded. */
static int append_pct(intake_buf *b, const char *s)
{
    for (; *s; s++) {
        int hi = s[0] == '%' ? hex_digit(s[1]) : -1, lo = hi >= 0 ? hex_digit(s[2]) : -1;
        char c = lo >= 0 ? (char)(hi * 16 + lo) : *s;
        if (intake_buf_append(b, &c, 1) < 0)
            return -1;
        s += lo >= 0 ? 2 : 0;
    }
    return 0;
}

/* Splits "charset'lang'value" of a first extended section: the charset into cs, returns
 * the value. */
static const char *split_charset(const char *v, char *cs, size_t cap)
{
    const char *q1 = strchr(v, '\''), *q2 = q1 ? strchr(q1 + 1, '\'') : NULL;
    if (!q2) {
        snprintf(cs, cap, "us-ascii");
        return v;
    }
    size_t n = (size_t)(q1 - v) < cap ? (size_t)(q1 - v) : cap - 1;
    memcpy(cs, v, n);
    cs[n] = '\0';
    return q2 + 1;
}

/* The RFC 2231 value of `base` (name*, or name*0[*], name*1[*], ...) as raw bytes in b
 * with its charset in cs. Returns 1 when there is one, 0 when not, -1 when memory runs
 * out. */
static int rfc2231(const struct mailmime *m, bool disp, const char *base, intake_buf *b,
                   char *cs, size_t cap)
{
    char name[64];
    snprintf(name, sizeof name, "%s*", base);
    const char *v = param(m, disp, name);
    if (v)
        return append_pct(b, split_charset(v, cs, cap)) < 0 ? -1 : 1;
    snprintf(cs, cap, "us-ascii");
    int k = 0;
    for (; k < MAX_SECTIONS; k++) {
        snprintf(name, sizeof name, "%s*%d*", base, k);
        bool ext = (v = param(m, disp, name)) != NULL;
        snprintf(name, sizeof name, "%s*%d", base, k);
        if (!ext && !(v = param(m, disp, name)))
            break;
        if (ext && k == 0)
            v = split_charset(v, cs, cap);
        if (ext ? append_pct(b, v) < 0 : intake_buf_append(b, v, strlen(v)) < 0)
            return -1;
    }
    return k > 0;
}

char *mime_part_name(const struct mailmime *m, size_t max, json_t *problems, bool *oom)
{
    static const struct {
        bool disp;
        const char *base;
    } where[] = {{true, "filename"}, {false, "name"}};
    *oom = false;
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        intake_buf b = {0};
        char cs[48];
        int r = rfc2231(m, where[i].disp, where[i].base, &b, cs, sizeof cs);
        char *utf8 = r > 0 ? mime_to_utf8(cs, b.data ? b.data : "", b.len, max, problems, NULL)
                           : NULL;
        intake_buf_free(&b);
        const char *raw = r > 0 ? utf8 : r == 0 ? param(m, where[i].disp, where[i].base) : NULL;
        char *name = raw ? mime_header_text(raw, max, problems) : NULL;
        bool failed = r < 0 || (r > 0 && !utf8) || (raw && !name);
        free(utf8);
        if (failed) {
            *oom = true;
            free(name);
            return NULL;
        }
        if (name && *name)
            return name;
        free(name);
    }
    return NULL;
}
