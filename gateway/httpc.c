/* The shared HTTP client: see include/intake/httpc.h. */
#include "intake/httpc.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define DEFAULT_BODY_CAP (1024 * 1024)
#define CONNECT_TIMEOUT_MAX 10L  /* seconds, capped by the timeout */
#define RETRY_AFTER_MAX 86400.0  /* a remote asking for more than a day gets a day */

struct intake_httpc {
    CURL *curl;
    size_t body_cap;
    char *ca_file;
    char errbuf[CURL_ERROR_SIZE];
    char *body;             /* body_cap + 1 bytes */
    size_t body_len;
    bool truncated;
    size_t head_len;
    char head[INTAKE_HTTPC_HEADERS_CAP + 1];
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
    intake_httpc *c = arg;
    size_t n = size * nmemb, room = c->body_cap - c->body_len;
    size_t take = n < room ? n : room;
    memcpy(c->body + c->body_len, data, take);
    c->body_len += take;
    c->truncated = c->truncated || take < n;
    return n;
}

/* Keeps the header lines of the last response (a new status line starts over, so the
 * headers of a 100 Continue are dropped). */
static size_t on_header(char *data, size_t size, size_t nmemb, void *arg)
{
    intake_httpc *c = arg;
    size_t n = size * nmemb;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        c->head_len = 0;
    size_t room = INTAKE_HTTPC_HEADERS_CAP - c->head_len;
    if (n <= room) {
        memcpy(c->head + c->head_len, data, n);
        c->head_len += n;
    }
    c->head[c->head_len] = '\0';
    return n;
}

static int setup(intake_httpc *c, const struct intake_httpc_conf *conf)
{
    long timeout = conf->timeout < 1 ? 30 : conf->timeout;
    long connect = timeout < CONNECT_TIMEOUT_MAX ? timeout : CONNECT_TIMEOUT_MAX;
    CURL *h = c->curl;
    CURLcode rc = CURLE_OK;
#define SET(opt, val) (rc = rc != CURLE_OK ? rc : curl_easy_setopt(h, opt, val))
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    SET(CURLOPT_TIMEOUT, timeout);
    SET(CURLOPT_CONNECTTIMEOUT, connect);
    SET(CURLOPT_SSL_VERIFYPEER, conf->verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, conf->verify ? 2L : 0L);
    if (c->ca_file)
        SET(CURLOPT_CAINFO, c->ca_file);
#if LIBCURL_VERSION_NUM >= 0x075500
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    SET(CURLOPT_USERAGENT, "intake");
    SET(CURLOPT_ERRORBUFFER, c->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, c);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, c);
#undef SET
    return rc == CURLE_OK ? 0 : -1;
}

intake_httpc *intake_httpc_new(const struct intake_httpc_conf *conf, char *err,
                               size_t errlen)
{
    intake_httpc *c = calloc(1, sizeof *c);
    if (c == NULL) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    c->body_cap = conf->body_cap ? conf->body_cap : DEFAULT_BODY_CAP;
    c->body = malloc(c->body_cap + 1);
    c->ca_file = conf->ca_file ? strdup(conf->ca_file) : NULL;
    c->curl = curl_easy_init();
    if (!c->body || (conf->ca_file && !c->ca_file) || !c->curl || setup(c, conf) != 0) {
        set_err(err, errlen, c->curl ? "cannot set up libcurl" : "out of memory");
        intake_httpc_free(c);
        return NULL;
    }
    return c;
}

void intake_httpc_free(intake_httpc *c)
{
    if (c == NULL)
        return;
    if (c->curl)
        curl_easy_cleanup(c->curl);
    free(c->ca_file);
    free(c->body);
    free(c);
}

static struct curl_slist *header_list(const struct intake_httpc_req *req)
{
    struct curl_slist *list = curl_slist_append(NULL, "Expect:");
    for (size_t i = 0; list && i < req->nheaders; i++) {
        struct curl_slist *l = curl_slist_append(list, req->headers[i]);
        if (l == NULL)
            curl_slist_free_all(list);
        list = l;
    }
    return list;
}

/* Whether a failed transfer may have reached the server: only failures before the
 * request could be written are known not to have. */
static bool maybe_sent(CURLcode rc)
{
    return !(rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST ||
             rc == CURLE_COULDNT_RESOLVE_PROXY || rc == CURLE_SSL_CONNECT_ERROR ||
             rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_URL_MALFORMAT ||
             rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_OUT_OF_MEMORY);
}

static void reset(intake_httpc *c, struct intake_httpc_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    c->errbuf[0] = '\0';
    c->body_len = 0;
    c->truncated = false;
    c->head_len = 0;
    c->head[0] = '\0';
}

int intake_httpc_do(intake_httpc *c, const struct intake_httpc_req *req,
                    struct intake_httpc_resp *resp)
{
    reset(c, resp);
    struct curl_slist *headers = header_list(req);
    bool post = strcmp(req->method, "POST") == 0;
    CURLcode rc = headers ? CURLE_OK : CURLE_OUT_OF_MEMORY;
    if (rc == CURLE_OK) {
        curl_easy_setopt(c->curl, CURLOPT_URL, req->url);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, headers);
        if (post) {
            curl_easy_setopt(c->curl, CURLOPT_POST, 1L);
            curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        } else {
            curl_easy_setopt(c->curl, CURLOPT_HTTPGET, 1L);
        }
        rc = curl_easy_perform(c->curl);
        curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, NULL);
    }
    curl_slist_free_all(headers);
    c->body[c->body_len] = '\0';
    resp->body = c->body;
    resp->body_len = c->body_len;
    resp->truncated = c->truncated;
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
        return 0;
    }
    resp->maybe_sent = maybe_sent(rc);
    snprintf(resp->error, sizeof resp->error, "%.150s",
             rc == CURLE_OPERATION_TIMEDOUT ? "timeout"
             : c->errbuf[0]                 ? c->errbuf
                                            : curl_easy_strerror(rc));
    return -1;
}

const char *intake_httpc_header(const intake_httpc *c, const char *name, char *out,
                                size_t cap)
{
    size_t n = strlen(name);
    for (const char *line = c->head; *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > n && line[n] == ':' && strncasecmp(line, name, n) == 0) {
            const char *v = line + n + 1;
            size_t vl = len - n - 1;
            while (vl && isspace((unsigned char)*v))
                v++, vl--;
            while (vl && isspace((unsigned char)v[vl - 1]))
                vl--;
            snprintf(out, cap, "%.*s", (int)vl, v);
            return out;
        }
        line += eol ? len + 1 : len;
    }
    return NULL;
}

char *intake_http_bearer(const char *token)
{
    if (token == NULL || token[0] == '\0' || strpbrk(token, "\r\n"))
        return NULL;
    size_t n = strlen(token) + sizeof "Authorization: Bearer ";
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "Authorization: Bearer %s", token);
    return h;
}

int intake_http_check_url(const char *url, char *err, size_t errlen)
{
    CURLU *u = curl_url();
    char *scheme = NULL;
    int rc = -1;
    if (u == NULL)
        set_err(err, errlen, "out of memory");
    else if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
             curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK)
        set_err(err, errlen, "not a URL");
    else if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        set_err(err, errlen, "only http:// and https:// are supported");
    else
        rc = 0;
    curl_free(scheme);
    curl_url_cleanup(u);
    return rc;
}

double intake_http_retry_after(const char *v)
{
    if (v == NULL || v[0] == '\0')
        return -1;
    if (strspn(v, "0123456789") == strlen(v)) {
        double d = strtod(v, NULL);
        return d < RETRY_AFTER_MAX ? d : RETRY_AFTER_MAX;
    }
    time_t at = curl_getdate(v, NULL);
    if (at == (time_t)-1)
        return -1;
    double d = difftime(at, time(NULL));
    return d < 0 ? 0 : d < RETRY_AFTER_MAX ? d : RETRY_AFTER_MAX;
}

char *intake_http_escape(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    char *out = e ? strdup(e) : NULL;
    curl_free(e);
    return out;
}
