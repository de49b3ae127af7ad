/*
 * The Facebook source (type "facebook"): polls a Page through the Graph API, through the
 * shared social runtime (social.h). Each poll reads the page feed of the last
 * `window_days` days (GET /{page-id}/feed?since=...), then every comment of each of those
 * posts (GET /{post-id}/comments?filter=stream), following paging.next to the end on both
 * (a short page is not the end). Visitor posts and comments become public items; the
 * page's own posts and comments are skipped. No cursor is stored (Graph cursors go
 * stale): the spool's unique key (source, comment id) turns everything seen before into
 * a no-op. Messenger conversations are left to the webhook source.
 *
 * Limits: the X-App-Usage / X-Page-Usage / X-Business-Use-Case-Usage headers are read on
 * every response; at or over `usage_limit` percent the next poll waits `throttle_wait`
 * seconds (or the estimated_time_to_regain_access, when longer). Throttling errors
 * (error.code 4, 17, 32, 613, 80001, whatever the HTTP status) end the poll with that
 * wait. Code 190 or HTTP 401 puts the source in "needs_reauth".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/social.h"
#include "intake/timefmt.h"

#define MAX_PAGES 200 /* pages per walk; bounds one poll */
#define MAX_POSTS 500 /* posts whose comments are read per poll */
#define URL_MAX 4096
#define FEED_FIELDS "id,message,created_time,from,permalink_url"
#define COMMENT_FIELDS "id,message,created_time,from,parent%%7Bid%%7D,is_hidden," \
                       "can_reply_privately,permalink_url"

static const struct intake_option options[] = {
    INTAKE_SOCIAL_OPTIONS("https://graph.facebook.com/v21.0", false),
    {"page_id", INTAKE_OPT_STRING, NULL, "the Facebook Page's id", NULL, 0, 0, true, false},
    {"window_days", INTAKE_OPT_INT, "7",
     "posts of the last this many days have their comments read", NULL, 1, 90, false, false},
    {"usage_limit", INTAKE_OPT_INT, "80",
     "usage percentage (X-App-Usage and the like) at which polling slows down", NULL, 1, 100,
     false, false},
    {"throttle_wait", INTAKE_OPT_INT, "300",
     "seconds to wait after a throttling error or at the usage limit", NULL, 1, 86400, false,
     false},
    {0},
};

struct fb {
    const char *page_id;
    long window_days;
    double usage_limit;
    double throttle_wait;
    double slow;   /* the wait the usage headers asked for in this poll */
    json_t *posts; /* this poll's posts: [{"id", "permalink"}] */
};

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Reads the usage headers of the last response; sets f->slow when over the limit. */
static void read_usage(struct intake_social *s, struct fb *f)
{
    char app[1024], page[1024], buc[2048];
    double regain = 0, r2 = 0;
    double pct = intake_meta_usage(intake_social_header(s, "X-App-Usage", app, sizeof app),
                                   intake_social_header(s, "X-Business-Use-Case-Usage", buc,
                                                        sizeof buc), &regain);
    double pp = intake_meta_usage(intake_social_header(s, "X-Page-Usage", page, sizeof page),
                                  NULL, &r2);
    pct = pp > pct ? pp : pct;
    double w = regain > f->throttle_wait ? regain : f->throttle_wait;
    if (pct >= f->usage_limit && w > f->slow)
        f->slow = w;
}

/* Judges a response: INTAKE_POLL_OK for a 200 with a JSON object. */
static enum intake_poll judge(struct intake_social *s, struct fb *f, json_t *doc, double *wait,
                              const char **reason)
{
    struct intake_meta_error e;
    read_usage(s, f);
    if (s->resp.status == 200 && json_is_object(doc) && !json_object_get(doc, "error"))
        return INTAKE_POLL_OK;
    intake_meta_error_parse(s->resp.body ? s->resp.body : "", s->resp.body_len, &e);
    switch (e.code ? intake_meta_action_of(e.code) : INTAKE_META_FAIL) {
    case INTAKE_META_THROTTLE:
        *wait = f->slow > f->throttle_wait ? f->slow : f->throttle_wait;
        *reason = "Graph API throttling (error code 4, 17, 32, 613 or 80001): backing off";
        return INTAKE_POLL_WAIT;
    case INTAKE_META_REAUTH:
        *reason = "the Page token is invalid or expired (code 190): renew it and restart";
        return INTAKE_POLL_REAUTH;
    case INTAKE_META_TEMP:
        *reason = "Graph API temporary error";
        return INTAKE_POLL_ERROR;
    case INTAKE_META_FAIL:
        break;
    }
    if (s->resp.status == 401) {
        *reason = "the Page token was refused (HTTP 401): renew it and restart";
        return INTAKE_POLL_REAUTH;
    }
    *reason = s->resp.status == 0 ? "request failed" : s->resp.status == 200 ? "bad response"
                                                                             : "HTTP error";
    return INTAKE_POLL_ERROR;
}

/* One post or comment as an item, or NULL (no id, the page's own, out of memory). */
static json_t *entry_item(const struct fb *f, json_t *e, const char *post_id,
                          const char *post_link)
{
    json_t *from = json_object_get(e, "from");
    const char *id = str(e, "id"), *from_id = str(from, "id");
    const char *link = str(e, "permalink_url") ? str(e, "permalink_url") : post_link;
    if (id == NULL || (from_id && strcmp(from_id, f->page_id) == 0))
        return NULL;
    json_t *item = intake_social_item(id, "facebook", str(e, "message"), true,
                                      str(from, "name"), from_id, link);
    json_t *thread = json_object_get(item, "thread");
    json_t *parent = json_object_get(json_object_get(e, "parent"), "id");
    json_object_set_new(thread, "page_id", json_string(f->page_id));
    json_object_set_new(thread, "post_id", json_string(post_id ? post_id : id));
    json_object_set_new(thread, "conversation_id", json_string(post_id ? post_id : id));
    if (post_id)
        json_object_set_new(thread, "comment_id", json_string(id));
    if (json_is_string(parent))
        json_object_set(thread, "parent_id", parent);
    intake_social_set_time(item, str(e, "created_time"));
    return item;
}

/* A feed page: remembers its posts and takes in visitor posts. */
static json_t *feed_page(struct fb *f, json_t *doc)
{
    json_t *items = json_array(), *p;
    size_t i;
    json_array_foreach(json_object_get(doc, "data"), i, p) {
        const char *id = str(p, "id");
        if (!id || !id[0] || strspn(id, "0123456789_") != strlen(id) ||
            json_array_size(f->posts) >= MAX_POSTS)
            continue; /* ids go into URL paths: Graph ids are digits and '_' */
        json_array_append_new(f->posts, json_pack("{s:s, s:s?}", "id", str(p, "id"),
                                                  "permalink", str(p, "permalink_url")));
        json_t *item = entry_item(f, p, NULL, NULL);
        if (item)
            json_array_append_new(items, item);
    }
    return items;
}

/* A comments page: its comments as items. */
static json_t *comment_page(const struct fb *f, json_t *doc, json_t *post)
{
    json_t *items = json_array(), *c;
    size_t i;
    json_array_foreach(json_object_get(doc, "data"), i, c) {
        json_t *item = entry_item(f, c, str(post, "id"), str(post, "permalink"));
        if (item)
            json_array_append_new(items, item);
    }
    return items;
}

/* Walks pages from url following paging.next; post NULL: the feed, else a post's
 * comments. Each page's items are committed before the next page is asked for. */
static enum intake_poll walk(struct intake_social *s, struct fb *f, const char *url,
                             json_t *post, double *wait, const char **reason)
{
    char *next = strdup(url);
    enum intake_poll rc = next ? INTAKE_POLL_OK : INTAKE_POLL_ERROR;
    for (int page = 0; next && rc == INTAKE_POLL_OK && page < MAX_PAGES; page++) {
        json_t *doc = intake_social_get(s, next);
        free(next);
        next = NULL;
        rc = judge(s, f, doc, wait, reason);
        json_t *items = rc != INTAKE_POLL_OK ? NULL : post ? comment_page(f, doc, post)
                                                           : feed_page(f, doc);
        if (rc == INTAKE_POLL_OK && intake_social_submit(s, items, NULL, NULL) != 0) {
            rc = INTAKE_POLL_ERROR;
            *reason = "cannot store the items";
        }
        const char *n = str(json_object_get(doc, "paging"), "next");
        if (rc == INTAKE_POLL_OK && n)
            next = strdup(n);
        json_decref(items);
        json_decref(doc);
    }
    free(next);
    if (rc == INTAKE_POLL_ERROR && *reason == NULL)
        *reason = "out of memory";
    return rc;
}

static enum intake_poll poll_fb(struct intake_social *s, void *state, double *wait,
                                const char **reason)
{
    struct fb *f = state;
    char url[URL_MAX];
    long since = (long)intake_time_now() - f->window_days * 86400;
    f->slow = 0;
    f->posts = json_array();
    snprintf(url, sizeof url, "%s/%s/feed?fields=" FEED_FIELDS "&since=%ld&limit=25", s->base,
             f->page_id, since);
    enum intake_poll rc = walk(s, f, url, NULL, wait, reason);
    json_t *post;
    size_t i;
    json_array_foreach(f->posts, i, post) {
        if (rc != INTAKE_POLL_OK || intake_source_stopping(s->ctx))
            break;
        snprintf(url, sizeof url, "%s/%s/comments?fields=" COMMENT_FIELDS
                 "&filter=stream&order=reverse_chronological&limit=100", s->base,
                 str(post, "id"));
        rc = walk(s, f, url, post, wait, reason);
    }
    json_decref(f->posts);
    f->posts = NULL;
    if (rc == INTAKE_POLL_OK)
        *wait = f->slow;
    return rc;
}

static int run(intake_source_ctx *ctx)
{
    const struct intake_section *sec = intake_source_section(ctx);
    struct intake_social s;
    struct fb f = {intake_config_get(sec, "page_id"), intake_config_get_int(sec, "window_days", 7),
                   (double)intake_config_get_int(sec, "usage_limit", 80),
                   (double)intake_config_get_int(sec, "throttle_wait", 300), 0, NULL};
    if (intake_social_open(&s, ctx) != 0)
        return -1;
    int rc = intake_social_run(&s, poll_fb, &f);
    intake_social_close(&s);
    return rc;
}

static int check(const intake_config *cfg, const struct intake_section *sec, intake_diag *diag)
{
    return intake_social_check(cfg, sec, "page_id", diag);
}

const struct intake_source_type intake_source_facebook = {
    "facebook", "polls a Facebook Page's feed and the comments on its recent posts", options,
    check, run, NULL,
};
