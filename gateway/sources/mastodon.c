/*
 * The Mastodon source (type "mastodon"): polls the account's mention notifications
 * (GET /api/v1/notifications?types[]=mention&min_id=...), through the shared social
 * runtime (social.h). min_id pages forward without gaps: each page is committed together
 * with its newest notification id as the new min_id cursor, in one transaction, and the
 * walk goes on until a page comes back empty. The first run starts from min_id 0 (every
 * mention the instance still keeps), MAX_PAGES pages per poll.
 *
 * The status's HTML content becomes text (html.h); `visibility: direct` makes a private
 * item, any other visibility a public one. Rate limits: the X-RateLimit-* headers (the
 * reset is an ISO 8601 time) are read on every response; a used-up window is waited out
 * (reset + 1 s), 429 ends the poll with that wait, and the next poll comes no sooner than
 * the remaining budget allows. HTTP 401 puts the source in "needs_reauth".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/html.h"
#include "intake/social.h"
#include "intake/timefmt.h"

#define MAX_PAGES 50
#define URL_MAX 4096
#define TEXT_MAX (64 * 1024) /* bytes of text kept from one status */

static const struct intake_option options[] = {
    INTAKE_SOCIAL_OPTIONS(NULL, true),
    {"limit", INTAKE_OPT_INT, "40", "notifications asked for per page (1 to 80)", NULL, 1, 80,
     false, false},
    {0},
};

struct masto {
    long limit;
    struct intake_rate rate;
};

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void read_rate(struct intake_social *s, struct masto *m)
{
    char l[32], r[32], t[64];
    intake_rate_parse_mastodon(intake_social_header(s, "X-RateLimit-Limit", l, sizeof l),
                               intake_social_header(s, "X-RateLimit-Remaining", r, sizeof r),
                               intake_social_header(s, "X-RateLimit-Reset", t, sizeof t),
                               &m->rate);
}

/* The status's HTML content as text; NULL when memory runs out. */
static char *status_text(json_t *status)
{
    const char *html = str(status, "content");
    return intake_html_to_text(html ? html : "", html ? strlen(html) : 0, TEXT_MAX, NULL);
}

/* One mention notification as an item, or NULL (not a mention, no status, no memory). */
static json_t *mention_item(json_t *n)
{
    json_t *status = json_object_get(n, "status");
    json_t *account = json_object_get(status, "account");
    const char *sid = str(status, "id"), *vis = str(status, "visibility");
    const char *type = str(n, "type"), *acct = str(account, "acct");
    const char *name = str(account, "display_name");
    if (!type || strcmp(type, "mention") != 0 || !sid || !str(n, "id"))
        return NULL;
    char *text = status_text(status);
    char handle[256];
    snprintf(handle, sizeof handle, "@%.250s", acct ? acct : "");
    json_t *item = text ? intake_social_item(sid, "mastodon", text,
                                             !(vis && strcmp(vis, "direct") == 0),
                                             name && name[0] ? name : str(account, "username"),
                                             acct ? handle : NULL,
                                             str(status, "url") ? str(status, "url")
                                                                : str(status, "uri"))
                        : NULL;
    free(text);
    json_t *thread = json_object_get(item, "thread");
    const char *reply_to = str(status, "in_reply_to_id");
    json_object_set_new(thread, "status_id", json_string(sid));
    json_object_set_new(thread, "notification_id", json_string(str(n, "id")));
    json_object_set_new(thread, "conversation_id", json_string(reply_to ? reply_to : sid));
    if (reply_to)
        json_object_set_new(thread, "in_reply_to_id", json_string(reply_to));
    if (vis)
        json_object_set_new(thread, "visibility", json_string(vis));
    intake_social_set_time(item, str(status, "created_at"));
    return item;
}

/* The page's mentions as items; *newest gets the highest notification id (borrowed from
 * page), or NULL when the page is empty. */
static json_t *page_items(json_t *page, const char **newest)
{
    json_t *items = json_array(), *n;
    size_t i;
    *newest = NULL;
    json_array_foreach(page, i, n) {
        const char *id = str(n, "id");
        if (id && strspn(id, "0123456789") == strlen(id) &&
            (*newest == NULL || intake_id_cmp(id, *newest) > 0))
            *newest = id;
        json_t *item = mention_item(n);
        if (item)
            json_array_append_new(items, item);
    }
    return items;
}

static enum intake_poll failed(struct intake_social *s, struct masto *m, double *wait,
                               const char **reason)
{
    long st = s->resp.status;
    enum intake_poll out;
    if (intake_social_refused(st, &m->rate, 300, &out, wait, reason))
        return out;
    *reason = st == 0 ? "request failed" : st == 200 ? "bad response" : "HTTP error";
    return INTAKE_POLL_ERROR;
}

/* Fetches and commits one page after min_id. Returns OK with *more set when the page held
 * notifications (cursor moved to *cursor, which is replaced). */
static enum intake_poll one_page(struct intake_social *s, struct masto *m, char **cursor,
                                 bool *more, double *wait, const char **reason)
{
    char url[URL_MAX];
    const char *newest;
    *more = false;
    if (snprintf(url, sizeof url, "%s/api/v1/notifications?types%%5B%%5D=mention&limit=%ld"
                 "&min_id=%s", s->base, m->limit, *cursor) >= (int)sizeof url)
        return *reason = "the URL is too long", INTAKE_POLL_ERROR;
    json_t *doc = intake_social_get(s, url);
    read_rate(s, m);
    if (s->resp.status != 200 || !json_is_array(doc)) {
        json_decref(doc);
        return failed(s, m, wait, reason);
    }
    json_t *items = page_items(doc, &newest);
    enum intake_poll rc = INTAKE_POLL_OK;
    if (newest && intake_social_submit(s, items, "min_id", newest) != 0)
        rc = INTAKE_POLL_ERROR, *reason = "cannot store the items";
    char *next = rc == INTAKE_POLL_OK && newest ? strdup(newest) : NULL;
    if (next) {
        free(*cursor);
        *cursor = next;
        *more = true;
    }
    json_decref(items);
    json_decref(doc);
    return rc;
}

static enum intake_poll poll_masto(struct intake_social *s, void *state, double *wait,
                                   const char **reason)
{
    struct masto *m = state;
    char *cursor = NULL;
    bool more = true;
    enum intake_poll rc = INTAKE_POLL_OK;
    m->rate.known = false;
    if (intake_source_cursor_get(s->ctx, "min_id", &cursor) != INTAKE_SPOOL_OK)
        return *reason = "cannot read the cursor", INTAKE_POLL_ERROR;
    if (cursor == NULL && (cursor = strdup("0")) == NULL)
        return *reason = "out of memory", INTAKE_POLL_ERROR;
    for (int page = 0; rc == INTAKE_POLL_OK && more && page < MAX_PAGES; page++) {
        if (!intake_social_await(s, &m->rate))
            break;
        rc = one_page(s, m, &cursor, &more, wait, reason);
    }
    free(cursor);
    if (rc == INTAKE_POLL_OK)
        *wait = intake_rate_wait(&m->rate, intake_time_now(), 0);
    return rc;
}

static int run(intake_source_ctx *ctx)
{
    struct intake_social s;
    struct masto m = {intake_config_get_int(intake_source_section(ctx), "limit", 40), {0}};
    if (intake_social_open(&s, ctx) != 0)
        return -1;
    int rc = intake_social_run(&s, poll_masto, &m);
    intake_social_close(&s);
    return rc;
}

static int check(const intake_config *cfg, const struct intake_section *sec, intake_diag *diag)
{
    return intake_social_check(cfg, sec, NULL, diag);
}

const struct intake_source_type intake_source_mastodon = {
    "mastodon", "polls a Mastodon account's mentions", options, check, run, NULL,
};
