/* Reading rule folders: files, listings and "key value" lines. */
#include "ruledir.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *ruledir_read(const char *path, intake_diag *diag)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        intake_diag_add(diag, "%s: cannot open", path);
        return NULL;
    }
    char *buf = malloc(RULEDIR_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, RULEDIR_FILE_MAX + 1, f) : 0;
    bool bad = buf == NULL || ferror(f) || n > RULEDIR_FILE_MAX || memchr(buf, '\0', n);
    fclose(f);
    if (bad) {
        intake_diag_add(diag, "%s: cannot read (over 4 MiB, binary, or I/O error)", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return name[0] != '.' && n > s && strcmp(name + n - s, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends "dir/name" to the list. Returns 0, or -1 when memory runs out. */
static int append_path(char ***paths, size_t *n, const char *dir, const char *name)
{
    char **v = realloc(*paths, (*n + 1) * sizeof *v);
    if (v == NULL)
        return -1;
    *paths = v;
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p == NULL)
        return -1;
    snprintf(p, len, "%s/%s", dir, name);
    v[(*n)++] = p;
    return 0;
}

int ruledir_list(const char *dir, const char *suffix, char ***paths, size_t *n)
{
    *paths = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (d == NULL)
        return 1;
    int rc = 0;
    struct dirent *e;
    while (rc == 0 && (e = readdir(d)) != NULL)
        if (has_suffix(e->d_name, suffix))
            rc = append_path(paths, n, dir, e->d_name);
    closedir(d);
    if (rc < 0) {
        ruledir_free_list(*paths, *n);
        *paths = NULL;
        *n = 0;
        return -1;
    }
    qsort(*paths, *n, sizeof **paths, cmp_str);
    return 0;
}

void ruledir_free_list(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

/* Splits a trimmed line into key and value and hands them to fn. */
static bool dispatch(char *line, int lineno, ruledir_line_fn fn, void *ud)
{
    char *value = line;
    while (*value && *value != ' ' && *value != '\t')
        value++;
    if (*value)
        *value++ = '\0';
    while (*value == ' ' || *value == '\t')
        value++;
    return fn(ud, lineno, line, value);
}

int ruledir_each_line(const char *text, ruledir_line_fn fn, void *ud)
{
    char *copy = strdup(text);
    if (copy == NULL)
        return -1;
    char *p = copy;
    bool go_on = true;
    for (int lineno = 1; p != NULL && go_on; lineno++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = '\0';
        char *line = trim(p);
        if (*line != '\0' && *line != '#')
            go_on = dispatch(line, lineno, fn, ud);
        p = nl ? nl + 1 : NULL;
    }
    free(copy);
    return 0;
}
