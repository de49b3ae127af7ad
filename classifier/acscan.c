/* Aho-Corasick multi-literal scanner: see acscan.h. */
#include "acscan.h"

#include <stdlib.h>
#include <string.h>

#include "textutil.h"

#define OUT_FLAG 0x40000000 /* in a transition: the target state reports ids */

struct out {
    uint32_t id;
    uint16_t len;       /* the literal's length, to find where it starts */
    uint8_t word_start; /* must not follow a word character */
};

struct acscan {
    uint8_t cls[256];   /* byte -> alphabet class; 0 for bytes in no literal */
    size_t ncls;
    size_t nstates;
    int32_t *next;      /* nstates * ncls transitions (freed once next16 is made) */
    uint16_t *next16;   /* the same in half the memory, when the states fit */
    uint32_t *out_start; /* per state: index into outs */
    uint32_t *out_len;
    struct out *outs;   /* reported per state, own and inherited through fail links */
};

void acscan_free(acscan *ac)
{
    if (ac == NULL)
        return;
    free(ac->next);
    free(ac->next16);
    free(ac->out_start);
    free(ac->out_len);
    free(ac->outs);
    free(ac);
}

static void make_classes(acscan *ac, const char *const *lits, size_t n)
{
    ac->ncls = 1;
    for (size_t i = 0; i < n; i++) {
        for (const unsigned char *p = (const unsigned char *)lits[i]; *p; p++) {
            unsigned char c = textutil_lower(*p);
            if (ac->cls[c] == 0 && ac->ncls < 255) {
                ac->cls[c] = (uint8_t)ac->ncls++;
                if (c >= 'a' && c <= 'z')
                    ac->cls[c - 32] = ac->cls[c];
            }
        }
    }
}

/* Builds the trie; terminal ids are kept per state in own_ids (a linked list through
 * own_next, -1 terminated). */
static void build_trie(acscan *ac, const char *const *lits, size_t n, int32_t *own_head,
                       int32_t *own_next)
{
    ac->nstates = 1;
    for (size_t i = 0; i < n; i++) {
        int32_t s = 0;
        for (const unsigned char *p = (const unsigned char *)lits[i]; *p; p++) {
            int32_t *t = &ac->next[(size_t)s * ac->ncls + ac->cls[*p]];
            if (*t <= 0)
                *t = (int32_t)ac->nstates++;
            s = *t;
        }
        own_next[i] = own_head[s];
        own_head[s] = (int32_t)i;
    }
}

static size_t own_count(const int32_t *own_head, const int32_t *own_next, int32_t s)
{
    size_t k = 0;
    for (int32_t i = own_head[s]; i >= 0; i = own_next[i])
        k++;
    return k;
}

/* Breadth-first: fail links, full transitions, and output lists. */
/* Makes room for `extra` more output ids. Returns 0 or -1. */
static int outs_reserve(acscan *ac, size_t *cap, size_t used, size_t extra)
{
    if (used + extra <= *cap)
        return 0;
    size_t ncap = *cap ? *cap : 64;
    while (ncap < used + extra)
        ncap *= 2;
    struct out *o = realloc(ac->outs, ncap * sizeof *o);
    if (o == NULL)
        return -1;
    ac->outs = o;
    *cap = ncap;
    return 0;
}

static int link_states(acscan *ac, const char *const *lits, const uint32_t *ids,
                       const uint8_t *word_start, const int32_t *own_head,
                       const int32_t *own_next)
{
    int32_t *queue = malloc(ac->nstates * sizeof *queue);
    int32_t *fail = calloc(ac->nstates, sizeof *fail);
    int rc = -1;
    size_t head = 0, tail = 0, used = 0, cap = 0;
    if (queue == NULL || fail == NULL)
        goto done;
    queue[tail++] = 0;
    while (head < tail) {
        int32_t s = queue[head++];
        int32_t *row = &ac->next[(size_t)s * ac->ncls];
        const int32_t *frow = &ac->next[(size_t)fail[s] * ac->ncls];
        for (size_t c = 0; c < ac->ncls; c++) {
            if (row[c] > 0) {
                fail[row[c]] = s == 0 ? 0 : frow[c];
                queue[tail++] = row[c];
            } else {
                row[c] = s == 0 ? 0 : frow[c];
            }
        }
        int32_t f = s == 0 ? 0 : fail[s];
        size_t inherit = s == 0 ? 0 : ac->out_len[f];
        if (outs_reserve(ac, &cap, used, own_count(own_head, own_next, s) + inherit) != 0)
            goto done;
        ac->out_start[s] = (uint32_t)used;
        for (int32_t i = own_head[s]; i >= 0; i = own_next[i])
            ac->outs[used++] = (struct out){.id = ids[i],
                                            .len = (uint16_t)strlen(lits[i]),
                                            .word_start = word_start && word_start[i]};
        for (size_t k = 0; k < inherit; k++)
            ac->outs[used++] = ac->outs[ac->out_start[f] + k];
        ac->out_len[s] = (uint32_t)(used - ac->out_start[s]);
    }
    rc = 0;
done:
    free(queue);
    free(fail);
    return rc;
}

/* Marks every transition into a state with output, so the scan loop reads one table. */
static void flag_outputs(acscan *ac)
{
    size_t cells = ac->nstates * ac->ncls;
    for (size_t i = 0; i < cells; i++)
        if (ac->out_len[ac->next[i]] > 0)
            ac->next[i] |= OUT_FLAG;
}

#define OUT_FLAG16 0x8000

/* Copies the table into 16-bit cells when every state number fits beside the flag: a
 * smaller table stays in cache, which is most of the scan's cost. */
static int shrink_table(acscan *ac)
{
    if (ac->nstates >= OUT_FLAG16)
        return 0;
    size_t cells = ac->nstates * ac->ncls;
    ac->next16 = malloc(cells * sizeof *ac->next16);
    if (ac->next16 == NULL)
        return -1;
    for (size_t i = 0; i < cells; i++) {
        int32_t t = ac->next[i];
        ac->next16[i] = (uint16_t)((t & ~OUT_FLAG) | ((t & OUT_FLAG) ? OUT_FLAG16 : 0));
    }
    free(ac->next);
    ac->next = NULL;
    return 0;
}

acscan *acscan_build(const char *const *lits, const uint32_t *ids, const uint8_t *word_start,
                     size_t n)
{
    acscan *ac = calloc(1, sizeof *ac);
    size_t maxstates = 1;
    for (size_t i = 0; i < n; i++)
        maxstates += strlen(lits[i]);
    int32_t *own_head = malloc(maxstates * sizeof *own_head);
    int32_t *own_next = malloc((n ? n : 1) * sizeof *own_next);
    if (ac == NULL || own_head == NULL || own_next == NULL)
        goto fail;
    memset(own_head, 0xff, maxstates * sizeof *own_head);
    make_classes(ac, lits, n);
    ac->next = calloc(maxstates * ac->ncls, sizeof *ac->next);
    ac->out_start = calloc(maxstates, sizeof *ac->out_start);
    ac->out_len = calloc(maxstates, sizeof *ac->out_len);
    if (ac->next == NULL || ac->out_start == NULL || ac->out_len == NULL)
        goto fail;
    build_trie(ac, lits, n, own_head, own_next);
    if (link_states(ac, lits, ids, word_start, own_head, own_next) != 0)
        goto fail;
    flag_outputs(ac);
    if (shrink_table(ac) != 0)
        goto fail;
    free(own_head);
    free(own_next);
    return ac;
fail:
    free(own_head);
    free(own_next);
    acscan_free(ac);
    return NULL;
}

static bool word_byte(unsigned char c)
{
    return textutil_is_alnum(c) || c == '_';
}

static void report(const struct out *o, uint32_t k, const unsigned char *text, uint32_t end,
                   uint64_t *hits, struct acscan_occ *occ, size_t occ_cap, size_t *nocc)
{
    for (uint32_t j = 0; j < k; j++) {
        uint32_t start = end - o[j].len;
        if (o[j].word_start && start > 0 && word_byte(text[start - 1]))
            continue;
        uint32_t id = o[j].id;
        if (!(id & ACSCAN_POSITIONAL)) {
            hits[id >> 6] |= UINT64_C(1) << (id & 63);
            continue;
        }
        if (*nocc < occ_cap)
            occ[*nocc] = (struct acscan_occ){.id = id & ~ACSCAN_POSITIONAL, .end = end};
        (*nocc)++;
    }
}

static void run16(const acscan *ac, const unsigned char *p, size_t len, uint64_t *hits,
                  struct acscan_occ *occ, size_t occ_cap, size_t *nocc)
{
    const uint16_t *next = ac->next16;
    size_t ncls = ac->ncls;
    uint32_t s = 0;
    for (size_t i = 0; i < len; i++) {
        s = next[s * ncls + ac->cls[p[i]]];
        if (!(s & OUT_FLAG16))
            continue;
        s &= ~(uint32_t)OUT_FLAG16;
        report(ac->outs + ac->out_start[s], ac->out_len[s], p, (uint32_t)(i + 1), hits, occ,
               occ_cap, nocc);
    }
}

void acscan_run(const acscan *ac, const char *text, size_t len, uint64_t *hits,
                struct acscan_occ *occ, size_t occ_cap, size_t *nocc)
{
    const unsigned char *p = (const unsigned char *)text;
    *nocc = 0;
    if (ac->next16 != NULL) {
        run16(ac, p, len, hits, occ, occ_cap, nocc);
        return;
    }
    const int32_t *next = ac->next;
    size_t ncls = ac->ncls;
    int32_t s = 0;
    for (size_t i = 0; i < len; i++) {
        s = next[(size_t)s * ncls + ac->cls[p[i]]];
        if (!(s & OUT_FLAG))
            continue;
        s &= ~OUT_FLAG;
        report(ac->outs + ac->out_start[s], ac->out_len[s], p, (uint32_t)(i + 1), hits, occ,
               occ_cap, nocc);
    }
}
