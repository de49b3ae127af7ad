/*
 * Rule-set loading and compilation: read every file, then compile each pattern once with
 * JIT, bind meta names, put meta rules in dependency order, and build the literal
 * prefilter. After this the rule set is read-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "literals.h"
#include "ruledir.h"
#include "ruleset.h"
#include "textutil.h"

#ifdef HAVE_VALGRIND_H
#include <valgrind/valgrind.h>
#else
#define RUNNING_ON_VALGRIND 0
#endif


static intake_ruleset *ruleset_new(void)
{
    intake_ruleset *rs = calloc(1, sizeof *rs);
    if (rs == NULL)
        return NULL;
    rs->default_category = INTAKE_CAT_OTHER;
    rs->flag_threshold = 1.0;
    return rs;
}

static void rule_free(struct rule *r)
{
    free(r->name);
    free(r->describe);
    free(r->pattern);
    free(r->meta_src);
    for (size_t i = 0; i < r->nexamples; i++)
        free(r->examples[i].text);
    free(r->examples);
    pcre2_code_free(r->re);
    meta_free(r->meta);
}

void intake_ruleset_free(intake_ruleset *rs)
{
    if (rs == NULL)
        return;
    for (size_t i = 0; i < rs->n; i++)
        rule_free(&rs->rules[i]);
    free(rs->rules);
    for (size_t i = 0; i < rs->nfiles; i++)
        free(rs->files[i]);
    free(rs->files);
    for (size_t i = 0; i < rs->natoms; i++) {
        pcre2_code_free(rs->atoms[i].re);
        pcre2_code_free(rs->atoms[i].re_anchored);
        free(rs->atoms[i].src);
    }
    free(rs->atoms);
    free(rs->poslits);
    free(rs->group_atom);
    free(rs->always_atoms);
    free(rs->meta_order);
    acscan_free(rs->ac);
    free(rs);
}

long ruleset_find(const intake_ruleset *rs, const char *name)
{
    for (size_t i = 0; i < rs->n; i++)
        if (strcmp(rs->rules[i].name, name) == 0)
            return (long)i;
    return -1;
}

/* Keeps a copy of a file name for the rules that come from it. Returns it, or NULL. */
static const char *keep_file_name(intake_ruleset *rs, const char *name)
{
    char **files = realloc(rs->files, (rs->nfiles + 1) * sizeof *files);
    if (files == NULL)
        return NULL;
    rs->files = files;
    files[rs->nfiles] = strdup(name);
    return files[rs->nfiles] ? files[rs->nfiles++] : NULL;
}

/* ---- compilation ------------------------------------------------------------------- */

static uint32_t compile_options(const struct rule *r)
{
    /* No PCRE2_UCP: \w, \d, \b and \s stay ASCII, which is several times faster and
     * enough for text the normaliser has already folded; letters still match case-
     * insensitively across Unicode. No PCRE2_MATCH_INVALID_UTF either: the normaliser
     * guarantees valid UTF-8, and in PCRE2 10.42 that option breaks \W, \D and \S on
     * non-ASCII text under JIT (fixed upstream in 10.43). */
    uint32_t opts = PCRE2_UTF;
    return r->match_case ? opts : opts | PCRE2_CASELESS;
}

/* Compiles the whole pattern once to check it. Returns 0, 1 for a bad pattern (reported
 * to diag), or -1. */
static int compile_pattern(struct rule *r, intake_diag *diag)
{
    int err;
    PCRE2_SIZE off;
    r->re = pcre2_compile((PCRE2_SPTR)r->pattern, PCRE2_ZERO_TERMINATED, compile_options(r),
                          &err, &off, NULL);
    if (r->re != NULL)
        return 0;
    PCRE2_UCHAR msg[160];
    pcre2_get_error_message(err, msg, sizeof msg);
    if (intake_diag_add(diag, "%s:%d: rule %s: bad pattern at offset %zu: %s", r->file,
                        r->line, r->name, (size_t)off, (const char *)msg) != 0)
        return -1;
    return 1;
}

static bool has_jit(const pcre2_code *re)
{
    size_t jit_size = 0;
    pcre2_pattern_info(re, PCRE2_INFO_JITSIZE, &jit_size);
    return jit_size > 0;
}

static void jit(pcre2_code *re)
{
    /* Without JIT (an unsupported CPU) the interpreter runs the same pattern, slower.
     * Under valgrind, JIT code reads past the subject on purpose (vector loads) and
     * valgrind cannot tell; the interpreter keeps valgrind runs about our own code. */
    if (!RUNNING_ON_VALGRIND)
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
}

/* Compiles one branch; JIT-compiles it too when `with_jit`. */
static pcre2_code *compile_branch(const struct rule *r, const char *p, size_t len,
                                  uint32_t extra, bool with_jit)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)p, len, compile_options(r) | extra, &err, &off,
                                   NULL);
    if (re != NULL && with_jit)
        jit(re);
    return re;
}

/* Adds an atom for one branch; takes `src`. Returns 0, 1 when the branch does not
 * compile on its own, or -1. */
static int add_atom(intake_ruleset *rs, uint32_t rule, char *src)
{
    /* JIT comes later, once it is known whether this form is the one matched often. */
    pcre2_code *re = compile_branch(&rs->rules[rule], src, strlen(src), 0, false);
    struct atom *a = re ? realloc(rs->atoms, (rs->natoms + 1) * sizeof *a) : NULL;
    if (a == NULL) {
        pcre2_code_free(re);
        free(src);
        return re == NULL ? 1 : -1;
    }
    rs->atoms = a;
    a[rs->natoms++] = (struct atom){.rule = rule, .re = re, .src = src};
    return 0;
}

static void drop_atoms_from(intake_ruleset *rs, size_t first)
{
    while (rs->natoms > first) {
        struct atom *a = &rs->atoms[--rs->natoms];
        pcre2_code_free(a->re);
        free(a->src);
    }
}

/* Splits rule i's pattern into atoms, one per branch. Returns 0 or -1. */
static int make_atoms(intake_ruleset *rs, uint32_t i)
{
    const char *pattern = rs->rules[i].pattern;
    branch_list bl;
    if (literals_split(pattern, strlen(pattern), &bl) != 0)
        return -1;
    size_t first = rs->natoms;
    int rc = 0;
    for (size_t k = 0; k < bl.n && rc == 0; k++) {
        rc = add_atom(rs, i, bl.s[k]);
        bl.s[k] = NULL;
    }
    branch_list_free(&bl);
    if (rc == 1) { /* a branch that does not stand alone: keep the pattern whole */
        drop_atoms_from(rs, first);
        char *whole = strdup(pattern);
        rc = whole ? add_atom(rs, i, whole) : -1;
    }
    return rc == 0 ? 0 : -1;
}

static int bind_meta(intake_ruleset *rs, struct rule *r, intake_diag *diag)
{
    int problems = 0;
    for (size_t i = 0; i < meta_name_count(r->meta); i++) {
        const char *name = meta_name(r->meta, i);
        long idx = ruleset_find(rs, name);
        if (idx < 0) {
            if (intake_diag_add(diag, "%s:%d: rule %s: meta refers to unknown rule %s",
                                r->file, r->line, r->name, name) != 0)
                return -1;
            problems++;
            continue;
        }
        meta_bind(r->meta, i, (uint32_t)idx);
    }
    return problems;
}

/* Depth-first visit for the dependency order. mark: 0 new, 1 on the path, 2 done. */
static int order_visit(intake_ruleset *rs, uint32_t i, uint8_t *mark, intake_diag *diag)
{
    struct rule *r = &rs->rules[i];
    if (r->meta == NULL || mark[i] == 2)
        return 0;
    if (mark[i] == 1) {
        if (intake_diag_add(diag, "%s:%d: rule %s: meta rules refer to each other in a loop",
                            r->file, r->line, r->name) != 0)
            return -1;
        return 1;
    }
    mark[i] = 1;
    for (size_t k = 0; k < meta_name_count(r->meta); k++) {
        int rc = order_visit(rs, meta_bound(r->meta, k), mark, diag);
        if (rc != 0)
            return rc;
    }
    mark[i] = 2;
    rs->meta_order[rs->nmeta++] = i;
    return 0;
}

static int order_metas(intake_ruleset *rs, intake_diag *diag)
{
    uint8_t *mark = calloc(rs->n ? rs->n : 1, 1);
    rs->meta_order = malloc((rs->n ? rs->n : 1) * sizeof *rs->meta_order);
    if (mark == NULL || rs->meta_order == NULL) {
        free(mark);
        return -1;
    }
    int problems = 0;
    for (uint32_t i = 0; i < rs->n && problems >= 0; i++) {
        int rc = order_visit(rs, i, mark, diag);
        problems = rc < 0 ? -1 : problems + rc;
    }
    free(mark);
    return problems;
}

/* Literal lists for the prefilter, growing as atoms are added. */
struct litlist {
    char **s;
    uint32_t *id;
    uint8_t *word_start;
    size_t n;
    size_t cap;
};

#define MAX_LITERAL 64 /* longer strings are cut: any part of one is required too */

/* Moves the strings of one group into the list, all reporting group id `id`. */
static int litlist_take(struct litlist *ll, lit_set *ls, uint32_t id)
{
    if (ll->n + ls->n > ll->cap) {
        size_t cap = ll->cap ? ll->cap : 256;
        while (cap < ll->n + ls->n)
            cap *= 2;
        char **s = realloc(ll->s, cap * sizeof *s);
        if (s != NULL)
            ll->s = s;
        uint32_t *idv = realloc(ll->id, cap * sizeof *idv);
        if (idv != NULL)
            ll->id = idv;
        uint8_t *ws = realloc(ll->word_start, cap * sizeof *ws);
        if (ws != NULL)
            ll->word_start = ws;
        if (s == NULL || idv == NULL || ws == NULL)
            return -1;
        ll->cap = cap;
    }
    for (size_t i = 0; i < ls->n; i++) {
        char *lit = ls->s[i];
        if (strlen(lit) > MAX_LITERAL)
            lit[MAX_LITERAL] = '\0';
        ll->s[ll->n] = lit;
        /* After \b, a literal that starts with a word character cannot follow one. */
        ll->word_start[ll->n] = ls->word_start && (textutil_is_alnum((unsigned char)lit[0]) ||
                                                   lit[0] == '_');
        ll->id[ll->n++] = id;
    }
    free(ls->s);
    *ls = (lit_set){0};
    return 0;
}

/* Every field but `public` is in the text the prefilter scans. */
static bool field_prefiltered(enum rule_field f)
{
    return f != FIELD_PUBLIC && f != FIELD_NONE;
}


/* Registers the prefix strings of atom `a` as positional literals, and compiles the
 * anchored form it is matched with at those places. Takes the strings. */
static int anchor_atom(intake_ruleset *rs, uint32_t a, lit_set *pre, struct litlist *ll)
{
    struct atom *at = &rs->atoms[a];
    const struct rule *r = &rs->rules[at->rule];
    at->re_anchored = compile_branch(r, at->src, strlen(at->src), PCRE2_ANCHORED, true);
    if (at->re_anchored == NULL)
        return 0; /* compiled once already, so only memory can fail: stay unanchored */
    at->jit_anchored = has_jit(at->re_anchored);
    struct poslit *pl = realloc(rs->poslits, (rs->nposlits + pre->n) * sizeof *pl);
    if (pl == NULL)
        return -1;
    rs->poslits = pl;
    size_t first = rs->nposlits;
    for (size_t i = 0; i < pre->n; i++) {
        size_t len = strlen(pre->s[i]);
        pl[rs->nposlits++] = (struct poslit){.atom = a,
                                             .len = (uint32_t)(len < MAX_LITERAL ? len
                                                                                 : MAX_LITERAL)};
    }
    /* Each string has its own id, which tells the scan its length. */
    for (size_t i = 0; i < pre->n; i++) {
        lit_set moved = {.s = malloc(sizeof(char *)), .n = 1, .ok = true,
                         .word_start = pre->word_start};
        if (moved.s == NULL)
            return -1;
        moved.s[0] = pre->s[i];
        pre->s[i] = NULL;
        if (litlist_take(ll, &moved, ACSCAN_POSITIONAL | (uint32_t)(first + i)) != 0) {
            lit_set_free(&moved);
            return -1;
        }
    }
    rs->atoms[a].anchored = true;
    return 0;
}

/* Gives one atom its literal groups, and its anchors when it has a usable prefix. Returns
 * 0 or -1. */
static int prefilter_atom(intake_ruleset *rs, uint32_t a, struct litlist *ll)
{
    struct atom *at = &rs->atoms[a];
    struct rule *r = &rs->rules[at->rule];
    lit_req req = {0};
    lit_set pre = {0};
    if (field_prefiltered(r->field) &&
        literals_required(at->src, strlen(at->src), &req, &pre) != 0)
        return -1;
    if (literals_prefix_usable(&pre) && anchor_atom(rs, a, &pre, ll) != 0) {
        lit_set_free(&pre);
        lit_req_free(&req);
        return -1;
    }
    lit_set_free(&pre);
    if (!at->anchored) { /* the unanchored form is the one used: make it fast */
        jit(at->re);
        at->jit = has_jit(at->re);
    }
    at->prefiltered = req.n > 0;
    r->prefiltered = r->prefiltered && at->prefiltered;
    if (!at->prefiltered) /* no group to wake it: it runs on every message */
        return 0;
    for (size_t k = 0; k < req.n; k++) {
        at->group[at->ngroups++] = (uint32_t)rs->ngroups;
        if (litlist_take(ll, &req.g[k], (uint32_t)rs->ngroups++) != 0) {
            lit_req_free(&req);
            return -1;
        }
    }
    return 0;
}

/* Maps each literal group to its atom and lists the atoms that always run. */
static int index_atoms(intake_ruleset *rs)
{
    rs->group_atom = malloc((rs->ngroups ? rs->ngroups : 1) * sizeof *rs->group_atom);
    rs->always_atoms = malloc((rs->natoms ? rs->natoms : 1) * sizeof *rs->always_atoms);
    if (rs->group_atom == NULL || rs->always_atoms == NULL)
        return -1;
    for (uint32_t a = 0; a < rs->natoms; a++) {
        const struct atom *at = &rs->atoms[a];
        for (size_t k = 0; k < at->ngroups; k++)
            rs->group_atom[at->group[k]] = a;
        if (at->ngroups == 0)
            rs->always_atoms[rs->nalways++] = a;
    }
    return 0;
}

/* Builds the Aho-Corasick prefilter over the literal groups of every atom. */
static int build_prefilter(intake_ruleset *rs)
{
    struct litlist ll = {0};
    int rc = -1;
    for (uint32_t i = 0; i < rs->n; i++)
        rs->rules[i].prefiltered = rs->rules[i].pattern != NULL &&
                                   field_prefiltered(rs->rules[i].field);
    for (uint32_t a = 0; a < rs->natoms; a++)
        if (prefilter_atom(rs, a, &ll) != 0)
            goto done;
    if (index_atoms(rs) != 0)
        goto done;
    rs->group_words = (rs->ngroups + 63) / 64 + 1;
    rs->ac = acscan_build((const char *const *)ll.s, ll.id, ll.word_start, ll.n);
    rc = rs->ac ? 0 : -1;
done:
    for (size_t i = 0; i < ll.n; i++)
        free(ll.s[i]);
    free(ll.s);
    free(ll.id);
    free(ll.word_start);
    return rc;
}

int ruleset_compile(intake_ruleset *rs, intake_diag *diag)
{
    int problems = 0;
    for (size_t i = 0; i < rs->n; i++) {
        struct rule *r = &rs->rules[i];
        int rc = r->pattern ? compile_pattern(r, diag) : r->meta ? bind_meta(rs, r, diag) : 0;
        if (rc == 0 && r->pattern && make_atoms(rs, (uint32_t)i) != 0)
            return -1;
        if (rc < 0)
            return -1;
        problems += rc;
    }
    if (problems)
        return problems;
    int rc = order_metas(rs, diag);
    if (rc != 0)
        return rc;
    rs->words = (rs->n + 63) / 64 + 1;
    if (build_prefilter(rs) != 0)
        return -1;
    return 0;
}

/* ---- loading --------------------------------------------------------------------- */

static int report_oom(intake_diag *diag)
{
    intake_diag_add(diag, "out of memory while loading rules");
    return -1;
}

static int finish_load(intake_ruleset *rs, int problems, intake_ruleset **out,
                       intake_diag *diag)
{
    if (problems == 0)
        problems = ruleset_compile(rs, diag);
    if (problems != 0) {
        if (problems < 0)
            report_oom(diag);
        intake_ruleset_free(rs);
        return -1;
    }
    *out = rs;
    return 0;
}

int intake_ruleset_load_text(const char *filename, const char *text, intake_ruleset **out,
                             intake_diag *diag)
{
    *out = NULL;
    intake_ruleset *rs = ruleset_new();
    const char *file = rs ? keep_file_name(rs, filename) : NULL;
    if (file == NULL) {
        intake_ruleset_free(rs);
        return report_oom(diag);
    }
    return finish_load(rs, ruleset_parse_text(rs, file, text, diag), out, diag);
}

static int load_one(intake_ruleset *rs, const char *path, intake_diag *diag)
{
    const char *file = keep_file_name(rs, path);
    char *text = file ? ruledir_read(path, diag) : NULL;
    int rc = file == NULL ? -1 : text == NULL ? 1 : ruleset_parse_text(rs, file, text, diag);
    free(text);
    return rc;
}

int intake_ruleset_load_dir(const char *dir, intake_ruleset **out, intake_diag *diag)
{
    *out = NULL;
    char **paths = NULL;
    size_t n = 0;
    int listed = ruledir_list(dir, ".rules", &paths, &n);
    if (listed != 0) {
        if (listed > 0)
            intake_diag_add(diag, "%s: cannot open rules folder", dir);
        return listed > 0 ? -1 : report_oom(diag);
    }
    intake_ruleset *rs = ruleset_new();
    int problems = rs ? 0 : -1;
    if (n == 0 && rs) {
        intake_diag_add(diag, "%s: no *.rules files", dir);
        problems = 1;
    }
    for (size_t i = 0; i < n && problems >= 0; i++) {
        int rc = load_one(rs, paths[i], diag);
        problems = rc < 0 ? -1 : problems + rc;
    }
    ruledir_free_list(paths, n);
    if (rs == NULL)
        return report_oom(diag);
    return finish_load(rs, problems, out, diag);
}

/* ---- accessors ------------------------------------------------------------------- */

size_t intake_ruleset_count(const intake_ruleset *rs)
{
    return rs->n;
}

const char *intake_rule_name(const intake_ruleset *rs, size_t i)
{
    return i < rs->n ? rs->rules[i].name : NULL;
}

const char *intake_rule_describe(const intake_ruleset *rs, size_t i)
{
    return i < rs->n ? rs->rules[i].describe : NULL;
}

bool intake_rule_is_meta(const intake_ruleset *rs, size_t i)
{
    return i < rs->n && rs->rules[i].meta != NULL;
}

bool intake_rule_has_prefilter(const intake_ruleset *rs, size_t i)
{
    return i < rs->n && rs->rules[i].prefiltered;
}
