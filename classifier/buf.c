/* Growable byte buffer: see include/intake/normalise.h. */
#include "intake/normalise.h"

#include <stdlib.h>
#include <string.h>

int intake_buf_reserve(intake_buf *b, size_t extra)
{
    if (extra > (size_t)-1 / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL)
        return -1;
    b->data = data;
    b->cap = cap;
    return 0;
}

int intake_buf_append(intake_buf *b, const char *s, size_t n)
{
    if (intake_buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

void intake_buf_free(intake_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
