/*
 * The X source (type "x"): polls the mentions of the landlord's account
 * (GET /2/users/:id/mentions) and, optionally, a recent search for the landlord's name
 * (GET /2/tweets/search/recent), through the shared social runtime (social.h).
 *
 * Each endpoint keeps its own cursor in the spool. A poll walks the pages
 * (pagination_token / next_token) newest first; every page is committed as it comes
 * together with where the walk stands (since_id, the first page's meta.newest_id, the
 * next token), and the last page together with that newest_id as the new since_id, so
 * the cursor moves only once everything up to it is stored. A walk longer than max_pages
 * pages (or cut by an error) resumes at its next page on the next poll, so a long
 * backlog is read to its end. A crash in between re-reads the same page (duplicates are
 * no-ops through the spool's unique key).
 *
 * Rate limits: every response's x-rate-limit-* headers are read. A page is not requested
 * while the window is used up (the poll waits until reset + 1 s); 429 ends the poll with a
 * wait until reset + 1 s; the next poll comes no sooner than the window's remaining
 * requests allow (so a tier of 10 requests per 15 minutes polls about every 90 s).
 * 401 puts the source in "needs_reauth". Posts by the account itself are skipped.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intake/social.h"
#include "intake/timefmt.h"

#define ID_MAX 32      /* X ids: digits */
#define TOKEN_MAX 512  /* X page tokens: letters, digits, '_', '-' */
#define CURSOR_MAX (2 * ID_MAX + TOKEN_MAX + 8)
#define URL_MAX 4096
#define TWEET_FIELDS "tweet.fields=created_at,author_id,conversation_id,in_reply_to_user_id" \
                     "&expansions=author_id&user.fields=username,name"

static const struct intake_option options[] = {
    INTAKE_SOCIAL_OPTIONS("https://api.x.com", false),
    {"user_id", INTAKE_OPT_STRING, NULL,
     "the landlord's numeric X user id, whose mentions are read", NULL, 0, 0, true, false},
    {"search_query", INTAKE_OPT_STRING, NULL,
     "also run this recent-search query (e.g. \"Riverside Homes\" -is:retweet); "
     "unset: mentions only", NULL, 0, 0, false, false},
    {"max_results", INTAKE_OPT_INT, "100", "posts asked for per page (5 to 100)", NULL, 5,
     100, false, false},
    {"max_pages", INTAKE_OPT_INT, "50", "pages read per endpoint per poll; a longer backlog "
     "is resumed where it stopped at the next poll", NULL, 1, 1000, false, false},
    {0},
};

/* One endpoint: where it is and how it pages. */
struct endpoint {
    const char *cursor;     /* the spool cursor holding its since_id */
    char *path;             /* "/2/users/<id>/mentions?..." or "/2/tweets/search/recent?..." */
    const char *page_param; /* "pagination_token" or "next_token" */
};

struct xsrc {
    const char *user_id;
    struct endpoint ep[2];
    size_t nep;
    struct intake_rate rate; /* of the last response */
    long max_pages;
};

/* Reads the x-rate-limit-* headers of the last response into x->rate. */
static void read_rate(struct intake_social *s, struct xsrc *x)
{
    char l[32], r[32], t[32];
    intake_rate_parse_x(intake_social_header(s, "x-rate-limit-limit", l, sizeof l),
                        intake_social_header(s, "x-rate-limit-remaining", r, sizeof r),
                        intake_social_header(s, "x-rate-limit-reset", t, sizeof t), &x->rate);
}

/* The user object of includes.users with this id, or NULL. */
static json_t *find_user(json_t *doc, const char *id)
{
    json_t *users = json_object_get(json_object_get(doc, "includes"), "users"), *u;
    size_t i;
    json_array_foreach(users, i, u) {
        const char *uid = json_string_value(json_object_get(u, "id"));
        if (uid && id && strcmp(uid, id) == 0)
            return u;
    }
    return NULL;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* X's API sends a post's text with &, < and > escaped as HTML entities (and no others).
 * Returns a new string the caller frees with the three turned back, in one pass (so that
 * an "&amp;amp;" the author typed as "&amp;" stays "&amp;"), or NULL when memory runs
 * out. */
static char *unescape_text(const char *s)
{
    static const struct {
        const char *ent;
        size_t len;
        char c;
    } ents[] = {{"&amp;", 5, '&'}, {"&lt;", 4, '<'}, {"&gt;", 4, '>'}};
    char *out = malloc(strlen(s) + 1), *o = out;
    while (out != NULL && *s) {
        size_t k = 0;
        while (k < sizeof ents / sizeof *ents && strncmp(s, ents[k].ent, ents[k].len) != 0)
            k++;
        if (k < sizeof ents / sizeof *ents) {
            *o++ = ents[k].c;
            s += ents[k].len;
        } else {
            *o++ = *s++;
        }
    }
    if (out != NULL)
        *o = '\0';
    return out;
}

/* One post as an item; NULL when it has no id or text, or when memory runs out. */
static json_t *post_item(json_t *doc, json_t *t)
{
    const char *id = str(t, "id"), *author = str(t, "author_id");
    json_t *user = find_user(doc, author);
    const char *username = str(user, "username");
    char handle[64], link[256];
    if (id == NULL || str(t, "text") == NULL || strlen(id) > 64)
        return NULL;
    snprintf(handle, sizeof handle, "@%.60s", username ? username : "");
    if (username)
        snprintf(link, sizeof link, "https://x.com/%.60s/status/%s", username, id);
    else
        snprintf(link, sizeof link, "https://x.com/i/web/status/%s", id);
    char *text = unescape_text(str(t, "text"));
    if (text == NULL)
        return NULL;
    json_t *item = intake_social_item(id, "x", text, true, str(user, "name"),
                                      username ? handle : NULL, link);
    free(text);
    if (item == NULL)
        return NULL;
    json_t *thread = json_object_get(item, "thread");
    json_object_set_new(thread, "post_id", json_string(id));
    if (str(t, "conversation_id"))
        json_object_set_new(thread, "conversation_id", json_string(str(t, "conversation_id")));
    if (author)
        json_object_set_new(thread, "author_id", json_string(author));
    intake_social_set_time(item, str(t, "created_at"));
    return item;
}

/* The page's posts as items (the account's own posts left out). */
static json_t *page_items(const struct xsrc *x, json_t *doc)
{
    json_t *items = json_array(), *t;
    size_t i;
    json_array_foreach(json_object_get(doc, "data"), i, t) {
        const char *author = str(t, "author_id");
        if (author && strcmp(author, x->user_id) == 0)
            continue;
        json_t *item = post_item(doc, t);
        if (item)
            json_array_append_new(items, item);
    }
    return items;
}

static int page_url(struct intake_social *s, const struct endpoint *ep, const char *since,
                    const char *token, char *url)
{
    int n = snprintf(url, URL_MAX, "%s%s%s%s%s%s%s", s->base, ep->path,
                     since ? "&since_id=" : "", since ? since : "", token ? "&" : "",
                     token ? ep->page_param : "", token ? "=" : "");
    if (n > 0 && n < URL_MAX && token)
        n += snprintf(url + n, URL_MAX - (size_t)n, "%s", token);
    return n > 0 && n < URL_MAX ? 0 : -1;
}

/* Judges a response that is not a 200 with a JSON body. */
static enum intake_poll failed(struct intake_social *s, struct xsrc *x, double *wait,
                               const char **reason)
{
    long st = s->resp.status;
    enum intake_poll out;
    if (intake_social_refused(st, &x->rate, 15 * 60, &out, wait, reason))
        return out;
    *reason = st == 0 ? "request failed" : st == 403 ? "HTTP 403: the API tier or the "
              "app's permissions do not allow this endpoint" : st == 200 ? "bad response"
              : "HTTP error";
    return INTAKE_POLL_ERROR;
}

/* Where an endpoint's walk stands, as its spool cursor holds it: "<since_id>" between
 * walks; "<since_id> <newest_id> <next_token>" while a walk is cut short (the page cap of
 * a poll, an error), so the next poll resumes at that page instead of starting again from
 * the newest (which never reached the end of a long backlog). "-" stands for none. Each
 * page is committed with the state after it; the walk's end commits newest_id as the new
 * since_id. The strings are owned (free()). */
struct walk_state {
    char *since, *newest, *token;
};

static bool id_ok(const char *id)
{
    size_t n = id ? strlen(id) : 0;
    return n > 0 && n <= ID_MAX && strspn(id, "0123456789") == n;
}

static bool token_ok(const char *t)
{
    size_t n = t ? strlen(t) : 0;
    return n > 0 && n <= TOKEN_MAX &&
           strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == n;
}

static void walk_state_free(struct walk_state *w)
{
    free(w->since);
    free(w->newest);
    free(w->token);
    memset(w, 0, sizeof *w);
}

/* The i-th space-separated field of `v` as a new string; NULL when missing (or out of
 * memory). */
static char *field(const char *v, int i)
{
    for (; i > 0 && v; i--)
        v = strchr(v, ' ') ? strchr(v, ' ') + 1 : NULL;
    size_t n = v ? strcspn(v, " ") : 0;
    return n ? strndup(v, n) : NULL;
}

/* Reads the endpoint's cursor into *w (zeroed first). Returns 0, or -1 when the spool
 * failed. A value not of the form above counts as no cursor. */
static int walk_state_read(struct intake_social *s, const char *key, struct walk_state *w)
{
    char *v = NULL;
    memset(w, 0, sizeof *w);
    if (intake_source_cursor_get(s->ctx, key, &v) != INTAKE_SPOOL_OK)
        return -1;
    w->since = field(v, 0);
    w->newest = field(v, 1);
    w->token = field(v, 2);
    if (!id_ok(w->since))
        free(w->since), w->since = NULL;
    if (!id_ok(w->newest))
        free(w->newest), w->newest = NULL;
    if (!token_ok(w->token))
        free(w->token), w->token = NULL;
    free(v);
    return 0;
}

/* The cursor value after a page into out[CURSOR_MAX]: the pending walk while a next page
 * is due, else the new since_id. */
static const char *walk_state_text(const struct walk_state *w, char *out)
{
    if (w->token)
        snprintf(out, CURSOR_MAX, "%s %s %s", w->since ? w->since : "-",
                 w->newest ? w->newest : "-", w->token);
    else
        snprintf(out, CURSOR_MAX, "%s", w->newest ? w->newest : w->since ? w->since : "-");
    return out;
}

/* Takes a page's meta into *w: its newest_id when it opens a walk, and its next_token
 * (NULL on the last page). Returns 0, or -1 when the token is not of X's form or memory
 * ran out. */
static int walk_state_step(struct walk_state *w, json_t *meta, bool opens)
{
    const char *newest = str(meta, "newest_id"), *next = str(meta, "next_token");
    free(w->token);
    w->token = NULL;
    if (opens && id_ok(newest) && !(w->newest = strdup(newest)))
        return -1;
    if (next && (!token_ok(next) || !(w->token = strdup(next))))
        return -1;
    return 0;
}

/* X refused the saved next_token (HTTP 400: tokens do not live for ever): forgets the
 * pending walk, so the next poll starts again from since_id (nothing is lost: the pages
 * already read are stored, and re-reading them is harmless). */
static enum intake_poll restart_walk(struct intake_social *s, const struct endpoint *ep,
                                     struct walk_state *w, const char **reason)
{
    char value[CURSOR_MAX];
    free(w->token);
    free(w->newest);
    w->token = w->newest = NULL;
    *reason = intake_social_submit(s, NULL, ep->cursor, walk_state_text(w, value)) == 0
                  ? "the saved page token was refused (HTTP 400): the walk starts again"
                  : "cannot store the cursor";
    return INTAKE_POLL_ERROR;
}

/* Walks one endpoint's pages from its since_id to the end, or resumes a walk a former
 * poll left pending; at most max_pages pages per poll. */
static enum intake_poll walk(struct intake_social *s, struct xsrc *x, const struct endpoint *ep,
                             double *wait, const char **reason)
{
    struct walk_state w;
    char url[URL_MAX], value[CURSOR_MAX];
    enum intake_poll rc = INTAKE_POLL_OK;
    if (walk_state_read(s, ep->cursor, &w) != 0)
        return *reason = "cannot read the cursor", INTAKE_POLL_ERROR;
    bool resumed = w.token != NULL;
    for (long page = 0; rc == INTAKE_POLL_OK && page < x->max_pages; page++) {
        if (!intake_social_await(s, &x->rate) || page_url(s, ep, w.since, w.token, url) != 0) {
            rc = INTAKE_POLL_ERROR;
            *reason = "stopping, or the URL is too long";
            break;
        }
        json_t *doc = intake_social_get(s, url);
        read_rate(s, x);
        json_t *meta = json_object_get(doc, "meta");
        if (s->resp.status != 200 || !json_is_object(meta)) {
            json_decref(doc);
            rc = failed(s, x, wait, reason);
            if (resumed && page == 0 && s->resp.status == 400)
                rc = restart_walk(s, ep, &w, reason);
            break;
        }
        bool opens = page == 0 && !resumed;
        json_t *items = page_items(x, doc);
        int bad = walk_state_step(&w, meta, opens);
        json_decref(doc);
        if (bad || intake_social_submit(s, items, ep->cursor, walk_state_text(&w, value)) != 0) {
            rc = INTAKE_POLL_ERROR;
            *reason = bad ? "bad next_token in the response" : "cannot store the items";
        }
        json_decref(items);
        if (!w.token)
            break;
    }
    walk_state_free(&w);
    return rc;
}

static enum intake_poll poll_x(struct intake_social *s, void *state, double *wait,
                               const char **reason)
{
    struct xsrc *x = state;
    enum intake_poll rc = INTAKE_POLL_OK;
    double spread = 0;
    for (size_t i = 0; i < x->nep && rc == INTAKE_POLL_OK; i++) {
        x->rate.known = false;
        rc = walk(s, x, &x->ep[i], wait, reason);
        double w = intake_rate_wait(&x->rate, intake_time_now(), 0);
        spread = w > spread ? w : spread;
    }
    if (rc == INTAKE_POLL_OK)
        *wait = spread;
    return rc;
}

/* "<fixed part>?<fields>&max_results=N[&query=...]" into a new string. */
static char *endpoint_path(const char *fmt, const char *arg, long max, const char *query)
{
    char *q = query ? intake_http_escape(query) : NULL;
    size_t n = strlen(fmt) + strlen(arg) + sizeof TWEET_FIELDS + (q ? strlen(q) : 0) + 64;
    char *p = (!query || q) ? malloc(n) : NULL;
    if (p)
        snprintf(p, n, fmt, arg);
    if (p)
        snprintf(p + strlen(p), n - strlen(p), "?" TWEET_FIELDS "&max_results=%ld%s%s", max,
                 q ? "&query=" : "", q ? q : "");
    free(q);
    return p;
}

static int run(intake_source_ctx *ctx)
{
    const struct intake_section *sec = intake_source_section(ctx);
    struct intake_social s;
    struct xsrc x = {intake_config_get(sec, "user_id"), {{0}}, 0, {0},
                     intake_config_get_int(sec, "max_pages", 50)};
    const char *query = intake_config_get(sec, "search_query");
    long max = intake_config_get_int(sec, "max_results", 100);
    if (intake_social_open(&s, ctx) != 0)
        return -1;
    x.ep[0] = (struct endpoint){"mentions_since_id",
                                endpoint_path("/2/users/%s/mentions", x.user_id, max, NULL),
                                "pagination_token"};
    x.nep = 1;
    if (query && query[0])
        x.ep[x.nep++] = (struct endpoint){"search_since_id",
                                          endpoint_path("/2/tweets/search/recent%s", "", max < 10 ? 10 : max,
                                                        query), "next_token"};
    int rc = x.ep[0].path && (x.nep == 1 || x.ep[1].path) ? intake_social_run(&s, poll_x, &x)
                                                          : -1;
    for (size_t i = 0; i < x.nep; i++)
        free(x.ep[i].path);
    intake_social_close(&s);
    return rc;
}

static int check(const intake_config *cfg, const struct intake_section *sec, intake_diag *diag)
{
    return intake_social_check(cfg, sec, "user_id", diag);
}

const struct intake_source_type intake_source_x = {
    "x", "polls X (Twitter) mentions of the landlord's account, and optionally a search",
    options, check, run, NULL,
};
