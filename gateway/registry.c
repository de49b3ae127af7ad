/* The source and sink types this build has. Adding a connector means one line here and
 * one file in sources/ or sinks/; no other connector changes. */
#include <string.h>

#include "intake/sink.h"
#include "intake/source.h"

extern const struct intake_source_type intake_source_pipe;
extern const struct intake_source_type intake_source_imap;
extern const struct intake_source_type intake_source_maildir;
extern const struct intake_source_type intake_source_webhook;
extern const struct intake_source_type intake_source_facebook;
extern const struct intake_source_type intake_source_x;
extern const struct intake_source_type intake_source_mastodon;
extern const struct intake_sink_type intake_sink_http;
extern const struct intake_sink_type intake_sink_jsonl;
extern const struct intake_sink_type intake_sink_smtp;
extern const struct intake_sink_type intake_sink_social_actions;

const struct intake_source_type *const intake_source_types[] = {
    &intake_source_pipe,
    &intake_source_maildir,
    &intake_source_webhook,
    &intake_source_imap,
    &intake_source_facebook,
    &intake_source_x,
    &intake_source_mastodon,
    NULL,
};

const struct intake_sink_type *const intake_sink_types[] = {
    &intake_sink_http,
    &intake_sink_jsonl,
    &intake_sink_smtp,
    &intake_sink_social_actions,
    NULL,
};

const struct intake_source_type *intake_source_type_find(const char *type)
{
    for (size_t i = 0; type && intake_source_types[i]; i++)
        if (strcmp(intake_source_types[i]->type, type) == 0)
            return intake_source_types[i];
    return NULL;
}

const struct intake_sink_type *intake_sink_type_find(const char *type)
{
    for (size_t i = 0; type && intake_sink_types[i]; i++)
        if (strcmp(intake_sink_types[i]->type, type) == 0)
            return intake_sink_types[i];
    return NULL;
}
