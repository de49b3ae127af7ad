/*
 * The file sink (type "jsonl"): appends each record as one line of a JSON Lines file and
 * fsyncs it before saying "delivered". The file is opened once, O_APPEND, created 0600
 * (records hold personal data). A failed write is cut back off the file so a retry does not
 * leave half a line behind. A line may still appear twice (a crash between the fsync and
 * the core's bookkeeping), so readers dedupe on the record's `id`. No printing.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "intake/sink.h"

static const struct intake_option jsonl_options[] = {
    {.name = "path", .type = INTAKE_OPT_PATH, .required = true,
     .description = "the JSON Lines file records are appended to (created 0600)"},
    {.name = NULL},
};

struct jsonl_sink {
    int fd;
};

/* Makes a new file's directory entry durable too. Best effort: some file systems refuse
 * to fsync a directory. */
static void sync_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return;
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    free(copy);
}

static int jsonl_create(const intake_config *cfg, const struct intake_section *sec,
                        void **state, char *err, size_t errlen)
{
    *state = NULL;
    char *path = intake_config_get_path(cfg, sec, "path");
    struct jsonl_sink *s = path ? malloc(sizeof *s) : NULL;
    if (s == NULL) {
        snprintf(err, errlen, path ? "out of memory" : "path is required");
        free(path);
        return -1;
    }
    s->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        snprintf(err, errlen, "path: cannot open: %s", strerror(errno));
        free(s);
        free(path);
        return -1;
    }
    sync_dir(path);
    free(path);
    *state = s;
    return 0;
}

/* Writes all of iov (two parts: the record, "\n"); returns 0 or an errno value. */
static int write_all(int fd, struct iovec *iov, int cnt)
{
    while (cnt > 0) {
        ssize_t n = writev(fd, iov, cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return errno;
        if (n == 0)
            return EIO;
        for (; cnt > 0 && (size_t)n >= iov->iov_len; iov++, cnt--)
            n -= (ssize_t)iov->iov_len;
        if (cnt > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 0;
}

/* The record on one line: raw line breaks can only be JSON whitespace (never inside a
 * string), so turning them into spaces keeps the JSON the same value. */
static char *one_line(const char *json, size_t len)
{
    char *line = malloc(len ? len : 1);
    if (line == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        line[i] = json[i] == '\n' || json[i] == '\r' ? ' ' : json[i];
    return line;
}

/* Takes a failed append back off the file so that the retry starts on a clean line. Best
 * effort: when even this fails, the reader sees one broken line, never a lost record. */
static void cut_back(int fd, off_t size)
{
    int rc = ftruncate(fd, size);
    (void)rc;
}

static void jsonl_deliver(void *state, const char *record_id, const char *record_json,
                          size_t len, struct intake_delivery_result *res)
{
    struct jsonl_sink *s = state;
    (void)record_id;
    memset(res, 0, sizeof *res);
    res->retry_after = -1;
    char *line = one_line(record_json, len);
    struct stat st;
    off_t start = -1;
    int e = line == NULL ? ENOMEM : fstat(s->fd, &st) != 0 ? errno : 0;
    struct iovec iov[2] = {{line, len}, {"\n", 1}};
    if (e == 0) {
        start = st.st_size;
        e = write_all(s->fd, iov, 2);
    }
    if (e == 0 && fsync(s->fd) != 0)
        e = errno;
    if (e != 0 && start >= 0)
        cut_back(s->fd, start);
    free(line);
    res->outcome = e == 0 ? INTAKE_DELIVERED : INTAKE_RETRY;
    if (e != 0 && strerror_r(e, res->error, sizeof res->error) != 0)
        snprintf(res->error, sizeof res->error, "write error %d", e);
}

static void jsonl_destroy(void *state)
{
    struct jsonl_sink *s = state;
    if (s == NULL)
        return;
    close(s->fd);
    free(s);
}

/* The "jsonl" sink type: appends records to a local file (registered in registry.c). */
const struct intake_sink_type intake_sink_jsonl = {
    .type = "jsonl",
    .description = "appends each record as one line to a local JSON Lines file",
    .options = jsonl_options,
    .check = NULL,
    .create = jsonl_create,
    .deliver = jsonl_deliver,
    .destroy = jsonl_destroy,
};
