/* The literal prefilter: extraction from patterns, the Aho-Corasick scan, and soundness
 * (a rule whose pattern matches a text is never skipped) over the shipped rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acscan.h"
#include "anyword.h"
#include "intake/normalise.h"
#include "literals.h"
#include "ruleset.h"

/* Appends one group, sorted and space-joined, to out. */
static void put_group(lit_set *ls, char *out)
{
    for (size_t i = 0; i < ls->n; i++) {
        for (size_t j = i + 1; j < ls->n; j++)
            if (strcmp(ls->s[j], ls->s[i]) < 0) {
                char *t = ls->s[i];
                ls->s[i] = ls->s[j];
                ls->s[j] = t;
            }
        if (i)
            strcat(out, " ");
        strcat(out, ls->s[i]);
    }
}

/* The prefixes of `pattern`, sorted, space-joined ("" = none). */
static char *prefix(const char *pattern)
{
    static char out[512];
    lit_req req;
    lit_set pre;
    assert_int_equal(literals_required(pattern, strlen(pattern), &req, &pre), 0);
    out[0] = '\0';
    if (pre.ok)
        put_group(&pre, out);
    lit_req_free(&req);
    lit_set_free(&pre);
    return out;
}

/* The literal groups of `pattern`, best first, as "a b & c" ("" = none). */
static char *lits(const char *pattern)
{
    static char out[512];
    lit_req req;
    lit_set pre;
    assert_int_equal(literals_required(pattern, strlen(pattern), &req, &pre), 0);
    lit_set_free(&pre);
    out[0] = '\0';
    for (size_t g = 0; g < req.n; g++) {
        if (g)
            strcat(out, " & ");
        put_group(&req.g[g], out);
    }
    lit_req_free(&req);
    return out;
}

static void extracts_required_literals(void **state)
{
    (void)state;
    assert_string_equal(lits("\\bthank you\\b"), "thank you");
    assert_string_equal(lits("\\b(?:reported|chased)\\b.{0,40}\\btimes\\b"),
                        "chased reported & times");
    assert_string_equal(lits("\\b(?:rang|chased)\\b.{0,40}\\btimes\\b"),
                        "times & chased rang");
    assert_string_equal(lits("a(?:bbb(?:cccc|dddd)e)f"), "cccc dddd & bbb");
    assert_string_equal(lits("(?:xx|yyy zz)q"), "xx yyy zz");
    assert_string_equal(lits("\\b(?:reported|chased|rang)\\b"), "chased rang reported");
    assert_string_equal(lits("Leak(?:s|ing)?"), "leak");
    assert_string_equal(lits("colou?r"), "colo");
    assert_string_equal(lits("ab+c"), "ab");
    assert_string_equal(lits("(?i)MOULD"), "");         /* inline options: not analysed */
    assert_string_equal(lits("(?'n'abc)"), "abc");      /* a named group's name is no text */
    assert_string_equal(lits("(?<n>abc)x"), "abc");
    assert_string_equal(lits("\\pLyz"), "yz");         /* one-letter property */
    assert_string_equal(lits("[[:]x|y]z"), "x y]z");    /* "[:" without ":]" first: no POSIX */
    assert_string_equal(lits("[[:alpha:]]abc"), "abc");
    /* Constructs the analysis leaves alone: the rule then runs everywhere. */
    assert_string_equal(lits("(a)\\g1"), "");
    assert_string_equal(lits("(?<n>ab)\\k'n'"), "");
    assert_string_equal(lits("[\\Qx]\\E]abc"), "");
    assert_string_equal(lits("xab\\E?c"), "");
    assert_string_equal(lits("xyz(?#note)?w"), "");
    assert_string_equal(lits("\\Gabc"), "");
    assert_string_equal(lits("(*UCP)zz"), "");
    /* Escaped parentheses are plain characters, not constructs. */
    assert_string_equal(lits("\\(?(?:80|90) years"), " years & 80 90");
    assert_string_equal(lits("[(?]abc"), "abc");
    assert_string_equal(lits("\\bgas\\s+leak"), "leak & gas");
    assert_string_equal(lits("fire\\.exit"), "fire.exit");
    assert_string_equal(lits("a|b|\\w+"), "");          /* a branch with no literal */
    assert_string_equal(lits("\\w+@\\w+"), "@");
    assert_string_equal(lits("a.b.c.d.e"), "a");
    assert_string_equal(lits("(?:abc)?xyz"), "xyz");
    assert_string_equal(lits("(?:abc)*"), "");
    assert_string_equal(lits("(?!never)ok"), "ok");     /* lookarounds require nothing */
    assert_string_equal(lits("\\Qa.b\\E"), "");         /* not understood: no prefilter */
    assert_string_equal(lits("(?x) a b"), "");
    assert_string_equal(lits("caf\xc3\xa9s"), "caf");   /* stops at non-ASCII */
    assert_string_equal(lits("[abc]def"), "def");
    assert_string_equal(lits("x{2,3}yz"), "yz");
    assert_string_equal(lits("a{,3}b"), "");            /* ambiguous across versions */
    assert_string_equal(lits("(unclosed"), "");
}

static bool starts_word(const char *pattern, bool prefix_set)
{
    lit_req req;
    lit_set pre;
    assert_int_equal(literals_required(pattern, strlen(pattern), &req, &pre), 0);
    bool ws = prefix_set ? pre.ok && pre.word_start : req.n > 0 && req.g[0].word_start;
    lit_req_free(&req);
    lit_set_free(&pre);
    return ws;
}

static void marks_word_starts(void **state)
{
    (void)state;
    assert_true(starts_word("\\bthank", false));
    assert_true(starts_word("\\bthank", true));
    assert_true(starts_word("\\b(?:reported|chased) twice", true));
    assert_true(starts_word("\\b(?:reported|chased)", false));
    assert_true(starts_word("(?:\\breported|\\bchased)", true));
    assert_false(starts_word("(?:\\breported|chased)", true));
    assert_false(starts_word("thank", false));
    assert_false(starts_word("\\bs?he", false));
    assert_false(starts_word("\\b\\w+ing", false));
}

static void extracts_prefixes(void **state)
{
    (void)state;
    assert_string_equal(prefix("\\bthank you\\b"), "thank you");
    assert_string_equal(prefix("\\b(?:got|had) (?:a|the)"), "got had");
    assert_string_equal(prefix("re(?:port|pair)ed"), "repair report");
    assert_string_equal(prefix("(?<!not )happy"), "happy");
    assert_string_equal(prefix("colou?r"), "colo");
    assert_string_equal(prefix("a?bc"), "");
    assert_string_equal(prefix("\\w+ing"), "");
    assert_string_equal(prefix("(?:ab|c?d)e"), "");
    assert_string_equal(prefix("^(?:re|fw):"), "fw re");
    assert_string_equal(prefix("abc\\b\\s+def"), "abc");
    assert_string_equal(prefix("(?:x|y)+z"), "x y");
    assert_string_equal(prefix("\\b(?:\\d+|two) days"), "0 1 2 3 4 5 6 7 8 9 two");
    assert_string_equal(prefix("no\\d"), "no0 no1 no2 no3 no4 no5 no6 no7 no8 no9");
}

static size_t split(const char *p, char *out)
{
    branch_list bl;
    assert_int_equal(literals_split(p, strlen(p), &bl), 0);
    out[0] = '\0';
    for (size_t i = 0; i < bl.n; i++) {
        if (i)
            strcat(out, " ; ");
        strcat(out, bl.s[i]);
    }
    size_t n = bl.n;
    branch_list_free(&bl);
    return n;
}

static void splits_top_level_branches(void **state)
{
    (void)state;
    char out[256];
    assert_int_equal(split("a|\\w+(?:cc|dd)|[|]e|\\|f", out), 5);
    assert_string_equal(out, "a ; \\w+(?:cc) ; \\w+(?:dd) ; [|]e ; \\|f");
    assert_int_equal(split("go(?:ne|t)", out), 1);    /* anchors at "gone"/"got" already */
    assert_int_equal(split("(a|b)", out), 2);
    assert_string_equal(out, "(?:a) ; (?:b)");
    assert_int_equal(split("\\b(?:x )?(a|b\\)c)\\b", out), 2);
    assert_string_equal(out, "\\b(?:x )?(?:a)\\b ; \\b(?:x )?(?:b\\)c)\\b");
    assert_int_equal(split("(?:a|b)+c", out), 1);      /* quantified: not multiplied */
    assert_int_equal(split("(?>a|b)c", out), 1);       /* atomic: not multiplied */
    assert_int_equal(split("(?=a|b)c", out), 1);       /* lookahead: not multiplied */
    assert_int_equal(split("(?i)a|b", out), 1);        /* the option would be lost */
    assert_int_equal(split("(a)x|\\1", out), 1);       /* back-reference */
    assert_int_equal(split("(x|y)(b)(c)(?2)", out), 1); /* numbered recursion */
    assert_int_equal(split("a(*COMMIT)b|ac", out), 1);  /* verbs */
    assert_int_equal(split("^(?:a|b)(?#c)+$", out), 1); /* comment before a quantifier */
    assert_int_equal(split("[]|]a|b", out), 2);
    assert_string_equal(out, "[]|]a ; b");
    assert_int_equal(split("a|", out), 2);
}

static void scans_all_literals(void **state)
{
    (void)state;
    const char *l[] = {"he", "she", "his", "hers", "x"};
    const uint32_t ids[] = {0, 1, 2, 3, 70};
    acscan *ac = acscan_build(l, ids, NULL, 5);
    assert_non_null(ac);
    uint64_t hits[2] = {0, 0};
    struct acscan_occ occ[4];
    size_t nocc;
    acscan_run(ac, "USHERS", 6, hits, occ, 4, &nocc);
    assert_int_equal(hits[0], (1u << 0) | (1u << 1) | (1u << 3));
    assert_int_equal(hits[1], 0);
    hits[0] = hits[1] = 0;
    acscan_run(ac, "a his\xff x", 8, hits, occ, 4, &nocc);
    assert_int_equal(hits[0], 1u << 2);
    assert_int_equal(hits[1], UINT64_C(1) << 6);
    acscan_free(ac);
    ac = acscan_build(NULL, NULL, NULL, 0);
    assert_non_null(ac);
    acscan_run(ac, "anything", 8, hits, occ, 4, &nocc);
    acscan_free(ac);
    /* Positional ids report where each occurrence ends, and count past the cap. */
    const char *p[] = {"ab", "b"};
    const uint32_t pid[] = {ACSCAN_POSITIONAL | 5, 9};
    ac = acscan_build(p, pid, NULL, 2);
    hits[0] = 0;
    acscan_run(ac, "xabab-ABab", 10, hits, occ, 3, &nocc);
    assert_int_equal(nocc, 4);
    assert_int_equal(occ[0].id, 5);
    assert_int_equal(occ[0].end, 3);
    assert_int_equal(occ[1].end, 5);
    assert_int_equal(occ[2].end, 8);
    assert_int_equal(hits[0], 1u << 9);
    acscan_free(ac);
    /* A word-start literal does not count inside a word. */
    const char *w[] = {"imo", "he"};
    const uint32_t wid[] = {1, 2};
    const uint8_t ws[] = {1, 1};
    ac = acscan_build(w, wid, ws, 2);
    hits[0] = 0;
    acscan_run(ac, "timothy, she", 12, hits, occ, 3, &nocc);
    assert_int_equal(hits[0], 0);
    acscan_run(ac, "IMO: he_", 8, hits, occ, 3, &nocc);
    assert_int_equal(hits[0], (1u << 1) | (1u << 2));
    acscan_free(ac);
}

/* Texts to check soundness on: every body in the project's regression set, plus each
 * rule's own examples. */
static size_t load_texts(char ***out)
{
    FILE *f = fopen(INTAKE_FIXTURES "/regression.jsonl", "r");
    assert_non_null(f);
    char **v = NULL;
    size_t n = 0;
    char line[65536];
    while (fgets(line, sizeof line, f)) {
        json_t *o = json_loads(line, 0, NULL);
        const char *body = json_string_value(json_object_get(o, "body"));
        if (body) {
            v = realloc(v, (n + 1) * sizeof *v);
            v[n++] = strdup(body);
        }
        json_decref(o);
    }
    fclose(f);
    *out = v;
    return n;
}

/* True when atom a matches anchored at one of its prefix occurrences. */
static bool anchored_match(const intake_ruleset *rs, size_t a, const char *text, size_t len,
                           const struct acscan_occ *occ, size_t nocc, pcre2_match_data *md)
{
    for (size_t k = 0; k < nocc; k++) {
        const struct poslit *pl = &rs->poslits[occ[k].id];
        if (pl->atom == a && pcre2_match(rs->atoms[a].re, (PCRE2_SPTR)text, len,
                                         occ[k].end - pl->len, PCRE2_ANCHORED, md, NULL) >= 0)
            return true;
    }
    return false;
}

static void check_text(const intake_ruleset *rs, pcre2_match_data *md, const char *raw,
                       size_t *checked)
{
    intake_buf b = {0};
    assert_int_equal(intake_normalise_body(raw, strlen(raw), 1 << 20, RULESET_MAX_SCAN, &b), 0);
    uint64_t *hits = calloc(rs->group_words, sizeof *hits);
    struct acscan_occ occ[4096];
    size_t nocc;
    acscan_run(rs->ac, b.data, b.len, hits, occ, 4096, &nocc);
    assert_true(nocc <= 4096);
    for (size_t i = 0; i < rs->natoms; i++) {
        const struct atom *a = &rs->atoms[i];
        if (!a->prefiltered)
            continue;
        int rc = pcre2_match(a->re, (PCRE2_SPTR)b.data, b.len, 0, 0, md, NULL);
        bool all = true;
        for (size_t k = 0; k < a->ngroups; k++)
            all = all && ((hits[a->group[k] >> 6] >> (a->group[k] & 63)) & 1);
        if (rc >= 0 && !all)
            fail_msg("prefilter skips a branch of rule %s on a text it matches",
                     rs->rules[a->rule].name);
        if (rc >= 0 && a->anchored && !anchored_match(rs, i, b.data, b.len, occ, nocc, md))
            fail_msg("no prefix occurrence starts the match of a branch of rule %s",
                     rs->rules[a->rule].name);
        (*checked)++;
    }
    free(hits);
    intake_buf_free(&b);
}

static void prefilter_is_sound_on_shipped_rules(void **state)
{
    (void)state;
    intake_ruleset *rs;
    intake_diag d = {0};
    assert_int_equal(intake_ruleset_load_dir(INTAKE_RULES_DIR, &rs, &d), 0);
    char **texts;
    size_t n = load_texts(&texts);
    assert_true(n > 50);
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    size_t checked = 0, prefiltered = 0;
    for (size_t i = 0; i < n; i++) {
        check_text(rs, md, texts[i], &checked);
        free(texts[i]);
    }
    for (size_t i = 0; i < rs->natoms; i++)
        prefiltered += rs->atoms[i].prefiltered;
    for (size_t i = 0; i < rs->n; i++) {
        for (size_t k = 0; k < rs->rules[i].nexamples; k++)
            check_text(rs, md, rs->rules[i].examples[k].text, &checked);
    }
    free(texts);
    pcre2_match_data_free(md);
    /* Most branches must have a prefilter, or speed is lost. */
    assert_true(prefiltered * 10 >= rs->natoms * 6);
    assert_true(checked > 1000);
    intake_ruleset_free(rs);
}

/* The redactor's 'needs any' words: anyword_in against a plain search, position by
 * position, over texts where the words (and their near misses) sit at every offset,
 * including the last bytes, where the 16-byte blocks give way to single positions. */
static bool naive_in(const char *s, size_t len, const struct anyword *w, size_t n)
{
    for (size_t i = 0; i < len; i++)
        for (size_t k = 0; k < n; k++) {
            size_t j = 0;
            while (j < w[k].len && i + j < len &&
                   (s[i + j] >= 'A' && s[i + j] <= 'Z' ? s[i + j] + 32 : s[i + j]) ==
                       w[k].text[j])
                j++;
            if (j == w[k].len)
                return true;
        }
    return false;
}

static void finds_any_word(void **state)
{
    (void)state;
    /* the last two have bytes without bit 0x20 (a UTF-8 lead byte, "_") */
    struct anyword w[] = {{"dob", 3},          {"d.o.b", 5}, {"birth", 5}, {"/c", 2},
                          {"x", 1},            {"\xc3\xa9", 2}, {"a_", 2}};
    /* near misses: "@" is "`" with bit 0x20 cleared, "D" and "d" are the same word */
    static const char *const pieces[] = {"DoB", "d.o.B", "BIRTH", "s/c", "X", "do", "d.o",
                                         "birt", "/C", "@", "`ob", "\xc3\xa9", "DOB\n",
                                         " ", "e", "zz", "A_", "a\x7f"};
    const size_t np = sizeof pieces / sizeof *pieces;
    unsigned seed = 12345;
    char text[80];
    for (int round = 0; round < 20000; round++) {
        size_t len = 0;
        while (len < 60) {
            seed = seed * 1103515245u + 12345u;
            const char *p = pieces[(seed >> 16) % np];
            size_t pl = strlen(p);
            if (len + pl > 60)
                break;
            memcpy(text + len, p, pl);
            len += pl;
        }
        size_t cut = (seed >> 8) % (len + 1); /* every length, 0 included */
        for (size_t n = 1; n <= sizeof w / sizeof *w; n++)
            assert_int_equal(anyword_in(text, cut, w, n), naive_in(text, cut, w, n));
    }
    assert_true(anyword_in("Her d.o.b is", 12, w, 2));
    assert_false(anyword_in("doB", 2, w, 1));
    /* more words than one batch: the ninth is found too */
    struct anyword many[9];
    for (int i = 0; i < 9; i++)
        many[i] = (struct anyword){"qq", 2};
    many[8] = (struct anyword){"zebra", 5};
    assert_true(anyword_in("a long text about a ZEBRA at the very end", 41, many, 9));
    assert_false(anyword_in("a long text about a ZEBR at the very end", 40, many, 9));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(extracts_required_literals),
        cmocka_unit_test(extracts_prefixes),
        cmocka_unit_test(marks_word_starts),
        cmocka_unit_test(splits_top_level_branches),
        cmocka_unit_test(scans_all_literals),
        cmocka_unit_test(prefilter_is_sound_on_shipped_rules),
        cmocka_unit_test(finds_any_word),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
