/*
 * The maildir source: watches a folder and takes in each file as one item.
 *
 * - A Maildir (the folder has new/ and cur/): each file in new/ is an item; after the
 *   commit it moves to cur/ with the Seen flag (":2,S").
 * - Otherwise a drop folder: each "*.json" file is an item; after the commit it moves to
 *   done/. Writers should write elsewhere (or under another name) and rename, so that a
 *   half-written file is never read.
 * Either way a file that can never be accepted (not JSON, no id, too large) moves to
 * failed/ with a log line (which does not name the file: writers choose the names), and
 * the files behind it keep flowing; a temporary spool failure leaves the file where it is
 * for the next poll.
 *
 * Drop-folder files hold JSON items (the `intake classify` shape). An item without "id"
 * takes the file's name (up to a Maildir ':' flag suffix) as its source_id, so a
 * re-delivered file is a no-op. Maildir files are RFC 5322 messages, made items by the
 * MIME parser (include/intake/mime.h; the id is the Message-ID); a Maildir file that
 * starts with '{' is read as a JSON item.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "intake/log.h"
#include "intake/mime.h"
#include "intake/source.h"

#define MAX_PATH 4096
#define MAX_PER_POLL 1000 /* files taken per poll, so a flood does not starve the stop */

static const struct intake_option options[] = {
    {"path", INTAKE_OPT_PATH, NULL,
     "the Maildir (with new/ and cur/) or drop folder of *.json files to watch", NULL, 0, 0,
     true, false},
    {"max_size", INTAKE_OPT_INT, "8388608",
     "largest file accepted, in bytes (at most 8 MiB); larger files move to failed/", NULL, 1,
     8L * 1024 * 1024, false, false},
    {0},
};

struct watch {
    intake_source_ctx *ctx;
    char *root;     /* the configured folder */
    bool maildir;   /* new/ -> cur/, else *.json -> done/ */
    long max_size;
};

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Joins a folder and a name into buf. Returns buf, or NULL when too long. */
static char *join(char *buf, const char *dir, const char *name)
{
    int n = snprintf(buf, MAX_PATH, "%s/%s", dir, name);
    return n > 0 && n < MAX_PATH ? buf : NULL;
}

static bool wanted(const struct watch *w, const char *name)
{
    if (name[0] == '.')
        return false;
    if (w->maildir)
        return true;
    size_t n = strlen(name);
    return n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/* Reads a whole regular file of at most max bytes. Returns 0; 1 when it can never be
 * read as an item (too large, not a regular file, a symlink, no permission); 2 when it
 * went away; -1 on an I/O error worth another try. O_NONBLOCK keeps a FIFO from
 * blocking the open. */
static int read_file(const char *path, long max, char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return errno == ENOENT ? 2 : (errno == EINTR || errno == EMFILE || errno == ENFILE ||
                                      errno == ENOMEM || errno == EIO) ? -1 : 1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > max) {
        close(fd);
        return 1;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got != st.st_size) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = (size_t)got;
    return 0;
}

/* Moves `name` from `from` into the sub-folder `to` of the root (made when missing),
 * adding `suffix` to its name. */
static int move_file(const struct watch *w, const char *from, const char *name,
                     const char *to, const char *suffix)
{
    char src[MAX_PATH], dir[MAX_PATH], dst[MAX_PATH + 8];
    if (!join(src, from, name) || !join(dir, w->root, to))
        return -1;
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return -1;
    snprintf(dst, sizeof dst, "%s/%s%s", dir, name, suffix);
    return rename(src, dst);
}

/* The source_id for an item without one: the file name without a Maildir flag suffix. */
static void default_id(json_t *item, const char *name)
{
    if (!json_is_object(item) || json_object_get(item, "id"))
        return;
    size_t n = strcspn(name, ":");
    json_object_set_new(item, "id", json_stringn(name, n));
}

static json_t *parse_file(const struct watch *w, const char *text, size_t len,
                          const char *name, const char **why)
{
    json_error_t jerr;
    json_t *raw = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!raw) {
        *why = "not valid JSON";
        return NULL;
    }
    default_id(raw, name);
    char *again = json_dumps(raw, JSON_COMPACT);
    json_decref(raw);
    if (!again) {
        *why = "cannot be serialised";
        return NULL;
    }
    json_t *item = intake_item_parse(again, strlen(again), intake_source_section(w->ctx), why);
    free(again);
    return item;
}

/* Whether a Maildir file holds a JSON item rather than a message. */
static bool json_file(const char *text, size_t len)
{
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i < len && text[i] == '{';
}

/* A Maildir message through the MIME parser. */
static json_t *parse_message(const char *text, size_t len, const char **why)
{
    static const struct intake_mime_opts opts = INTAKE_MIME_OPTS_DEFAULT;
    char err[128];
    json_t *item = intake_mime_parse(text, len, &opts, err, sizeof err);
    *why = item ? intake_spool_item_invalid(item) : "not an e-mail message";
    if (*why) {
        json_decref(item);
        return NULL;
    }
    return item;
}

static void reject(const struct watch *w, const char *dir, const char *name, const char *why)
{
    intake_log(INTAKE_LOG_WARN, "file_rejected", "source", intake_source_name(w->ctx),
               "reason", why, "moved_to", "failed/", NULL);
    if (move_file(w, dir, name, "failed", "") < 0)
        intake_log(INTAKE_LOG_ERROR, "file_move_failed", "source", intake_source_name(w->ctx),
                   NULL);
}

/* Takes in one file. Returns 0 when it was stored or rejected, -1 when it must wait for a
 * later poll (a temporary failure). */
static int take_file(const struct watch *w, const char *dir, const char *name)
{
    char path[MAX_PATH];
    char *text = NULL;
    size_t len = 0;
    const char *why = NULL;
    if (!join(path, dir, name))
        return reject(w, dir, name, "path too long"), 0;
    int r = read_file(path, w->max_size, &text, &len);
    if (r == 1)
        reject(w, dir, name, "too large, not a regular file or not readable");
    if (r != 0)
        return r > 0 ? 0 : -1;
    json_t *item = w->maildir && !json_file(text, len) ? parse_message(text, len, &why)
                                                       : parse_file(w, text, len, name, &why);
    free(text);
    if (!item)
        return reject(w, dir, name, why), 0;
    struct intake_submit_result res;
    int rc = intake_source_submit(w->ctx, &item, 1, NULL, NULL, &res);
    json_decref(item);
    if (rc == INTAKE_SPOOL_FATAL)
        reject(w, dir, name, "the spool refused it");
    if (rc != INTAKE_SPOOL_OK)
        return rc == INTAKE_SPOOL_FATAL ? 0 : -1;
    if (move_file(w, dir, name, w->maildir ? "cur" : "done", w->maildir ? ":2,S" : "") < 0)
        intake_log(INTAKE_LOG_ERROR, "file_move_failed", "source", intake_source_name(w->ctx),
                   "record", res.record_id, NULL);
    return 0;
}

/* One pass over the folder, taking at most MAX_PER_POLL files. Returns 0 when the folder
 * was drained, 1 when files are left for the next pass, or -1 when the folder cannot be
 * read or the spool failed for a while. */
static int poll_once(const struct watch *w)
{
    char dir[MAX_PATH];
    if (!(w->maildir ? join(dir, w->root, "new") : strcpy(dir, w->root)))
        return -1;
    DIR *dh = opendir(dir);
    if (!dh)
        return -1;
    int rc = 0, taken = 0;
    struct dirent *de;
    while (rc == 0 && taken < MAX_PER_POLL && (de = readdir(dh)) != NULL &&
           !intake_source_stopping(w->ctx)) {
        if (!wanted(w, de->d_name))
            continue;
        rc = take_file(w, dir, de->d_name);
        taken++;
    }
    closedir(dh);
    return rc < 0 ? -1 : taken >= MAX_PER_POLL;
}

static int run(intake_source_ctx *ctx)
{
    const struct intake_section *sec = intake_source_section(ctx);
    struct watch w = {ctx, intake_config_get_path(intake_source_config(ctx), sec, "path"),
                      false, intake_config_get_int(sec, "max_size", 8388608)};
    if (!w.root)
        return -1;
    double interval = (double)intake_config_get_int(sec, "poll_interval", 60);
    int rc = 0;
    do {
        char sub[MAX_PATH];
        w.maildir = join(sub, w.root, "new") && is_dir(sub);
        rc = poll_once(&w);
        if (rc < 0)
            intake_source_state(ctx, "error", "cannot read the folder or store an item");
        else
            intake_source_state(ctx, "ok", NULL);
        if (rc == 0)
            intake_source_polled(ctx);
    } while (!intake_source_sleep(ctx, rc == 1 ? 0 : interval));
    free(w.root);
    return 0;
}

const struct intake_source_type intake_source_maildir = {
    "maildir", "a Maildir or a drop folder of JSON item files", options, NULL, run, NULL,
};
