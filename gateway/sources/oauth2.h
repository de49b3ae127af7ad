/*
 * OAuth2 client-credentials tokens (RFC 6749 section 4.4), as Microsoft 365 hands them out
 * for IMAP XOAUTH2 (../shared/apis.md): POST token_url with client_id, client_secret, scope
 * and grant_type=client_credentials; the answer holds access_token and expires_in. There
 * is no refresh token: a new token is fetched before the old one expires.
 */
#ifndef INTAKE_OAUTH2_H
#define INTAKE_OAUTH2_H

#include <stdbool.h>
#include <stddef.h>

struct oauth2_opts {
    const char *token_url;     /* borrowed, like every member */
    const char *client_id;
    const char *client_secret;
    const char *scope;
    const char *ca_file;       /* NULL: the system's CAs */
    bool verify;               /* TLS checks; false only when an operator says so */
    long timeout;              /* seconds for the whole request */
};

typedef struct oauth2_client oauth2_client;

/* Makes a client; the options are borrowed and must outlive it. NULL when out of memory.
 * Free with oauth2_client_free. */
oauth2_client *oauth2_client_new(const struct oauth2_opts *o);
void oauth2_client_free(oauth2_client *c);

/* The current access token (borrowed: valid until the next call or the free), fetched
 * anew when there is none or it expires within a tenth of its lifetime (at least 60 s) of
 * `now` (Unix seconds). Returns NULL with a reason in err (errlen bytes; the endpoint's
 * error code, never a secret). *refused is set true when the endpoint rejected the
 * client's credentials (an operator must act), false for failures worth a retry. */
const char *oauth2_token(oauth2_client *c, double now, bool *refused, char *err,
                         size_t errlen);

/* Forgets the token, so that the next oauth2_token call fetches a new one (after the
 * server refused it). */
void oauth2_forget(oauth2_client *c);

#endif
