/*
 * OAuth2 client-credentials tokens (see oauth2.h), over the shared HTTP client (httpc.h).
 */
#include "oauth2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "intake/httpc.h"

#define ANSWER_MAX (64 * 1024) /* a token answer is a few KiB */

struct oauth2_client {
    const struct oauth2_opts *o;
    char *token;       /* owned */
    double expires_at; /* Unix seconds */
    double renew_at;   /* Unix seconds: fetch anew from here */
};

oauth2_client *oauth2_client_new(const struct oauth2_opts *o)
{
    oauth2_client *c = calloc(1, sizeof *c);
    if (c)
        c->o = o;
    return c;
}

static void wipe(char *s)
{
    if (s)
        memset(s, 0, strlen(s));
}

static void forget(oauth2_client *c)
{
    wipe(c->token);
    free(c->token);
    c->token = NULL;
}

void oauth2_client_free(oauth2_client *c)
{
    if (!c)
        return;
    forget(c);
    free(c);
}

void oauth2_forget(oauth2_client *c)
{
    forget(c);
}

/* The form body, each value escaped. Returns a string the caller frees (it holds the
 * client secret), or NULL when out of memory. */
static char *form_body(const struct oauth2_opts *o)
{
    const char *keys[] = {"grant_type", "client_id", "client_secret", "scope"};
    const char *vals[] = {"client_credentials", o->client_id, o->client_secret, o->scope};
    size_t cap = 64, len = 0;
    for (size_t i = 0; i < 4; i++)
        cap += strlen(keys[i]) + 3 * strlen(vals[i] ? vals[i] : "") + 2;
    char *body = malloc(cap);
    for (size_t i = 0; body && i < 4; i++) {
        if (!vals[i] || !*vals[i])
            continue;
        char *esc = intake_http_escape(vals[i]);
        if (!esc) {
            free(body);
            return NULL;
        }
        len += (size_t)snprintf(body + len, cap - len, "%s%s=%s", len ? "&" : "", keys[i], esc);
        wipe(esc);
        free(esc);
    }
    return body;
}

/* Reads a token answer: the token, or the endpoint's error code. */
static int parse(oauth2_client *c, const struct intake_httpc_resp *a, double now,
                 bool *refused, char *err, size_t errlen)
{
    json_t *j = json_loadb(a->body, a->body_len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_t *exp = json_object_get(j, "expires_in");
    double life = json_is_integer(exp) ? (double)json_integer_value(exp)
                  : json_is_string(exp) ? atof(json_string_value(exp)) : 3600.0;
    int rc = -1;
    if (a->status / 100 == 2 && tok && *tok && life > 0) {
        forget(c);
        c->token = strdup(tok);
        c->expires_at = now + life;
        double margin = life / 10 > 60 ? life / 10 : 60;
        c->renew_at = c->expires_at - (margin < life ? margin : life / 2);
        rc = c->token ? 0 : -1;
        if (!c->token)
            snprintf(err, errlen, "out of memory");
    } else {
        const char *code = json_string_value(json_object_get(j, "error"));
        /* The error code is a fixed token (RFC 6749 5.2); anything else is not quoted. */
        bool known = code && strspn(code, "abcdefghijklmnopqrstuvwxyz_") == strlen(code) &&
                     strlen(code) < 40;
        snprintf(err, errlen, "token endpoint answered HTTP %ld%s%s", a->status,
                 known ? ": " : "", known ? code : "");
        *refused = a->status == 400 || a->status == 401 || a->status == 403;
    }
    json_decref(j);
    return rc;
}

/* POSTs the form and reads the answer. Returns 0 with a token, or -1 with a reason. */
static int fetch(oauth2_client *c, double now, bool *refused, char *err, size_t errlen)
{
    const struct oauth2_opts *o = c->o;
    struct intake_httpc_conf conf = {o->timeout, o->verify, o->ca_file, ANSWER_MAX};
    intake_httpc *h = intake_httpc_new(&conf, err, errlen);
    char *body = h ? form_body(o) : NULL;
    int rc = -1;
    if (h && !body)
        snprintf(err, errlen, "out of memory");
    if (body) {
        const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded",
                             "Accept: application/json"};
        struct intake_httpc_req req = {"POST", o->token_url, hdr, 2, body, strlen(body)};
        struct intake_httpc_resp resp = {0};
        if (intake_httpc_do(h, &req, &resp) < 0)
            snprintf(err, errlen, "token endpoint: %s", resp.error);
        else
            rc = parse(c, &resp, now, refused, err, errlen);
        if (resp.body)
            memset((char *)resp.body, 0, resp.body_len); /* it held the token */
    }
    wipe(body);
    free(body);
    intake_httpc_free(h);
    return rc;
}

const char *oauth2_token(oauth2_client *c, double now, bool *refused, char *err,
                         size_t errlen)
{
    *refused = false;
    if (c->token && now < c->renew_at)
        return c->token;
    if (fetch(c, now, refused, err, errlen) == 0)
        return c->token;
    /* A token still valid is better than none while the endpoint is down. */
    return c->token && now < c->expires_at - 5 ? c->token : NULL;
}
