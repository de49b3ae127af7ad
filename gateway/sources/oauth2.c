/*
 * OAuth2 client-credentials tokens (see oauth2.h), with libcurl and jansson.
 */
#include "oauth2.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define ANSWER_MAX (64 * 1024) /* a token answer is a few KiB */

struct oauth2_client {
    const struct oauth2_opts *o;
    char *token;       /* owned */
    double expires_at; /* Unix seconds */
    double renew_at;   /* Unix seconds: fetch anew from here */
};

struct answer {
    char buf[ANSWER_MAX];
    size_t len;
    bool overflow;
};

oauth2_client *oauth2_client_new(const struct oauth2_opts *o)
{
    oauth2_client *c = calloc(1, sizeof *c);
    if (c)
        c->o = o;
    return c;
}

static void forget(oauth2_client *c)
{
    if (c->token)
        memset(c->token, 0, strlen(c->token));
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

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    size_t len = size * n;
    if (len > sizeof a->buf - 1 - a->len) {
        a->overflow = true;
        return 0;
    }
    memcpy(a->buf + a->len, p, len);
    a->len += len;
    return len;
}

/* The form body: each value escaped. Returns a string the caller frees, or NULL. */
static char *form_body(CURL *curl, const struct oauth2_opts *o)
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
        char *esc = curl_easy_escape(curl, vals[i], 0);
        if (!esc) {
            free(body);
            return NULL;
        }
        len += (size_t)snprintf(body + len, cap - len, "%s%s=%s", len ? "&" : "", keys[i], esc);
        curl_free(esc);
    }
    return body;
}

/* POSTs the form. Returns the HTTP status, or -1 with a reason (transport failure). */
static long post(const struct oauth2_opts *o, struct answer *a, char *err, size_t errlen)
{
    CURL *curl = curl_easy_init();
    char *body = curl ? form_body(curl, o) : NULL;
    long status = -1;
    if (!body) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    curl_easy_setopt(curl, CURLOPT_URL, o->token_url);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, o->timeout);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, o->verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, o->verify ? 2L : 0L);
    if (o->ca_file)
        curl_easy_setopt(curl, CURLOPT_CAINFO, o->ca_file);
    curl_easy_setopt(curl, CURLOPT_USERAGENT, "intake");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, a);
    CURLcode rc = curl_easy_perform(curl);
    if (rc == CURLE_OK)
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    else
        snprintf(err, errlen, "token endpoint: %s",
                 a->overflow ? "answer too large" : curl_easy_strerror(rc));
done:
    if (body)
        memset(body, 0, strlen(body)); /* it held the client secret */
    free(body);
    curl_easy_cleanup(curl);
    return status;
}

/* Reads the answer: a token, or the endpoint's error code. */
static int parse(oauth2_client *c, const struct answer *a, long status, double now,
                 bool *refused, char *err, size_t errlen)
{
    json_t *j = json_loadb(a->buf, a->len, 0, NULL);
    const char *tok = json_string_value(json_object_get(j, "access_token"));
    json_t *exp = json_object_get(j, "expires_in");
    double life = json_is_integer(exp) ? (double)json_integer_value(exp)
                  : json_is_string(exp) ? atof(json_string_value(exp)) : 3600.0;
    int rc = -1;
    if (status / 100 == 2 && tok && *tok && life > 0) {
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
        snprintf(err, errlen, "token endpoint answered HTTP %ld%s%s", status,
                 known ? ": " : "", known ? code : "");
        *refused = status == 400 || status == 401 || status == 403;
    }
    json_decref(j);
    return rc;
}

const char *oauth2_token(oauth2_client *c, double now, bool *refused, char *err,
                         size_t errlen)
{
    *refused = false;
    if (c->token && now < c->renew_at)
        return c->token;
    struct answer *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    long status = post(c->o, a, err, errlen);
    int rc = status < 0 ? -1 : parse(c, a, status, now, refused, err, errlen);
    memset(a->buf, 0, a->len); /* it held the token */
    free(a);
    if (rc == 0)
        return c->token;
    /* A token still valid is better than none while the endpoint is down. */
    return c->token && now < c->expires_at - 5 ? c->token : NULL;
}
