/* The person-name detector (classifier/pii_names.c) over the shipped lists in
 * rules/names: titles, lists, sign-offs, relations, hints, negatives, UTF-8, byte offsets,
 * and load errors. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../classifier/pii_names.h" /* internal to the classifier library */

#define NAMES_DIR INTAKE_RULES_DIR "/names"

static pii_names *names;

static int setup(void **state)
{
    (void)state;
    intake_diag d = {0};
    int rc = pii_names_load(NAMES_DIR, &names, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    intake_diag_clear(&d);
    return rc;
}

static int teardown(void **state)
{
    (void)state;
    pii_names_free(names);
    return 0;
}

/* The names found in text (with the author's name `hint`, may be NULL), joined by "|". */
static const char *found(const char *text, const char *hint)
{
    static char buf[4096];
    struct pii_spanlist out = {0};
    struct intake_redact_hints h = {hint, hint ? strlen(hint) : 0, NULL, 0};
    assert_int_equal(pii_names_find(names, text, strlen(text), hint ? &h : NULL, &out), 0);
    buf[0] = '\0';
    for (size_t i = 0; i < out.n; i++) {
        const struct intake_span *s = &out.v[i];
        assert_int_equal(s->type, INTAKE_PII_PERSON);
        assert_true(s->start < s->end && s->end <= strlen(text));
        if (i > 0) {
            assert_true(out.v[i - 1].end <= s->start);
            strcat(buf, "|");
        }
        strncat(buf, text + s->start, s->end - s->start);
    }
    free(out.v);
    return buf;
}

static void titles(void **state)
{
    (void)state;
    assert_string_equal(found("Dear Mr Ford, thank you.", NULL), "Ford");
    assert_string_equal(found("Please contact Miss Ford only on the safe number.", NULL), "Ford");
    assert_string_equal(found("Yours faithfully,\n\nMrs D. Ingham\n9 Coniston Avenue", NULL),
                        "D. Ingham");
    assert_string_equal(found("Account name: Miss R Hodgson", NULL), "R Hodgson");
    assert_string_equal(found("My constituents, Mr and Mrs Vikram Shah of 9 Sorrel Street",
                              NULL),
                        "Vikram Shah");
    assert_string_equal(found("Cllr Pat Dunleavy\nWard Councillor", NULL), "Pat Dunleavy");
    assert_string_equal(found("Councillor Rob Kettle asked", NULL), "Rob Kettle");
    assert_string_equal(found("I am writing on behalf of Helen Marsden MP about", NULL),
                        "Helen Marsden");
    assert_string_equal(found("Rt Hon Margaret Ellison MP\nMember of Parliament", NULL),
                        "Margaret Ellison");
    assert_string_equal(found("With kind regards,\n\nEdith Marsden (Mrs)\nFlat 9", NULL),
                        "Edith Marsden");
    assert_string_equal(found("Mr Grundy's arrears built up", NULL), "Grundy");
    assert_string_equal(found("Dear Sir/Madam,\nDear Sirs,", NULL), "");
}

static void lists_and_pairs(void **state)
{
    (void)state;
    assert_string_equal(found("Jodie you promised me you'd ring back", NULL), "Jodie");
    assert_string_equal(found("Sharon Booth is the worst housing officer", NULL), "Sharon Booth");
    assert_string_equal(found("Kayleigh Brown we should take the kids", NULL), "Kayleigh Brown");
    assert_string_equal(found("Tell that clown Dean he is a disgrace", NULL), "Dean");
    assert_string_equal(found("We moved Ryan Tootell into the flat", NULL), "Ryan Tootell");
    assert_string_equal(found("I spoke to Bill about it.", NULL), "Bill");
    assert_string_equal(found("My diary manager, Grace Holden, can be reached", NULL),
                        "Grace Holden");
    assert_string_equal(found("Mrs O'Brien and Jo Smith-Jones came", NULL), "O'Brien|Jo Smith-Jones");
    assert_string_equal(found("Kieran's van was outside", NULL), "Kieran");
    assert_string_equal(found("Graham and Sue Wood\n28 Ashdown Road", NULL), "Graham|Sue Wood");
    assert_string_equal(found("said Bill would sort it. Bill never rang", NULL), "Bill|Bill");
    assert_string_equal(found("@Shannon Pollard this is where he works", NULL), "Shannon Pollard");
}

static void utf8_names_and_offsets(void **state)
{
    (void)state;
    assert_string_equal(found("Thanks to Zoë for the help", NULL), "Zoë");
    assert_string_equal(found("Siân Roberts\nSupport Worker", NULL), "Siân Roberts");
    assert_string_equal(found("My neighbour Łukasz Nowak helped", NULL), "Łukasz Nowak");
    assert_string_equal(found("Ask for Róisín.", NULL), "Róisín");
    /* byte offsets, not characters */
    const char *t = "Zoë and Siân met Gary";
    struct pii_spanlist out = {0};
    assert_int_equal(pii_names_find(names, t, strlen(t), NULL, &out), 0);
    assert_int_equal(out.n, 3);
    assert_int_equal(out.v[0].start, 0);
    assert_int_equal(out.v[0].end, 4);
    assert_int_equal(out.v[1].start, 9);
    assert_int_equal(out.v[1].end, 14);
    assert_int_equal(out.v[2].start, 19);
    assert_int_equal(out.v[2].end, 23);
    free(out.v);
}

static void sign_offs(void **state)
{
    (void)state;
    assert_string_equal(found("The tap drips.\n\nRegards,\nJane", NULL), "Jane");
    assert_string_equal(found("Please call.\nThanks\nJane Smith\n07700 900123", NULL), "Jane Smith");
    assert_string_equal(found("One of our party is vegetarian. Many thanks, Tom", NULL), "Tom");
    assert_string_equal(found("See you then. Cheers, Priya", NULL), "Priya");
    assert_string_equal(found("Best regards,\nLan", NULL), "Lan");
    assert_string_equal(found("With thanks in anticipation,\n\nArthur Leigh\n(01632) 960 094",
                              NULL),
                        "Arthur Leigh");
    assert_string_equal(found("> Yours sincerely,\n> Mark Whitfield\n> Director", NULL),
                        "Mark Whitfield");
    assert_string_equal(found("Thanks,\nRyan and Chloe Whittaker", NULL), "Ryan|Chloe Whittaker");
    /* closings followed by something that is not a person */
    assert_string_equal(found("Kind regards,\nNorthgate Homes", NULL), "");
    assert_string_equal(found("Kind regards,\nThe Summit Roofing Team", NULL), "");
    assert_string_equal(found("Thanks\nSent from my iPhone", NULL), "");
    assert_string_equal(found("Thanks for the letter telling me nothing.", NULL), "");
}

static void greetings(void **state)
{
    (void)state;
    assert_string_equal(found("Dear Lorraine,\nThank you.", NULL), "Lorraine");
    assert_string_equal(found("Hi Sharon, thanks.", NULL), "Sharon");
    assert_string_equal(found("thanks sharon for all your help x", NULL), "sharon");
    assert_string_equal(found("Dear Will,\nThe boiler is fixed.", NULL), "Will");
    assert_string_equal(found("hiya ive lost my keys", NULL), "");
    assert_string_equal(found("Hi Team,\nDear Complaints Team,", NULL), "");
}

static void relations(void **state)
{
    (void)state;
    assert_string_equal(found("Absolute disgrace. My neighbour Gary at number 12", NULL), "Gary");
    assert_string_equal(found("your surveyor Tom said it was fine", NULL), "Tom");
    assert_string_equal(found("On Sunday my son Zayn, who is 3, was ill", NULL), "Zayn");
    assert_string_equal(found("her partner Dean is abusive", NULL), "Dean");
    assert_string_equal(found("I told the caretaker, Steve, about it", NULL), "Steve");
    assert_string_equal(found("Kieran the caretaker is a star", NULL), "Kieran");
    assert_string_equal(found("Lift out again. My wife Pat is on oxygen", NULL), "Pat");
    assert_string_equal(found("a young lad called Reece noticed", NULL), "Reece");
    assert_string_equal(found("my sister grace is disabled and lives here", NULL), "grace");
    assert_string_equal(found("Name: Kelly Brennan\nDate of birth", NULL), "Kelly Brennan");
    assert_string_equal(found("a table for 6, name of Fell. Thanks", NULL), "Fell");
    assert_string_equal(found("hello i am Abdi, i report the mould", NULL), "Abdi");
    assert_string_equal(found("Just to say May from the estates team is lovely", NULL), "May");
}

static void hints(void **state)
{
    (void)state;
    assert_string_equal(found("Please come soon.\n\nRay Ormerod\nFlat 8, Tudor House",
                              "Ray Ormerod"),
                        "Ray Ormerod");
    assert_string_equal(found("dont threaten me with court\n\nmick yates\n07700 900 334",
                              "Mick Yates"),
                        "mick yates");
    assert_string_equal(found("Please note that Helen can only take up cases",
                              "Office of Helen Marsden MP"),
                        "Helen");
    assert_string_equal(found("Please reply.\n\nPat", "Cllr Pat Dunleavy"), "Pat");
    assert_string_equal(found("I am writing again.\n\nOkafor", "Mrs Okafor"), "Okafor");
    assert_string_equal(found("Please help.\n\nM Osei", "Martin Osei"), "M Osei");
    /* a display name that is not a person's adds nothing */
    assert_string_equal(found("Mail was not delivered. Delivery failed.", "Mail Delivery System"),
                        "");
    assert_string_equal(found("Residents at Cedar House are angry", "Cedar House resident"), "");
    /* without the hint, a common-word name at a line start is left alone */
    assert_string_equal(found("Please reply.\n\nPat", NULL), "");
    /* parts that are not a short word of ASCII letters are matched by their keys, not
     * their hashes: accents, and a surname of 16 letters or more, in any case */
    assert_string_equal(found("any news?\n\nsi\xc3\xa2n gruffydd", "Si\xc3\xa2n Gruffydd"),
                        "si\xc3\xa2n gruffydd");
    assert_string_equal(found("please call\n\nanna wolfeschlegelsteinhausen",
                              "Anna Wolfeschlegelsteinhausen"),
                        "anna wolfeschlegelsteinhausen");
    /* only the name before " from ", " at ", " - " or "|" is the person's: the full name
     * in lower case is found, and the rest of the display name is not part of it */
    assert_string_equal(found("ok\n\njake ormerod resolveiq", "Jake Ormerod from ResolveIQ"),
                        "jake ormerod");
    assert_string_equal(found("ok\n\njake ormerod northgate", "Jake Ormerod - Northgate"),
                        "jake ormerod");
    assert_string_equal(found("ok\n\njake ormerod northgate", "Jake Ormerod Northgate"),
                        "jake ormerod northgate");
}

static void not_names(void **state)
{
    (void)state;
    assert_string_equal(found("Dear Northgate Homes, Riverside Housing and Citizens Advice", NULL),
                        "");
    assert_string_equal(found("Ashworth Borough Council and Hollis & Grant LLP replied", NULL), "");
    assert_string_equal(found("Sophie Hart\nHart Hall Family Law", NULL), "Sophie Hart");
    assert_string_equal(found("I went to Preston and Chelsea on Friday.", NULL), "");
    assert_string_equal(found("I will ring in May. There is a grace period.", NULL), "");
    assert_string_equal(found("Mark the date. Brown water came out. Hope you are well.", NULL), "");
    assert_string_equal(found("Rose Court, Victoria Street and Willow Bank", NULL), "");
    assert_string_equal(found("at 22 Willow Bank and 7 Linden Court", NULL), "");
    assert_string_equal(found("the St Mark's Church Hall meeting before Storm Darragh", NULL), "");
    assert_string_equal(found("contractors across the North West and Moss Side", NULL), "");
    assert_string_equal(found("Ivy growing through the window frame", NULL), "");
    assert_string_equal(found("@NorthgateHomes #Gary email jane.ellis@example.com", NULL), "");
    assert_string_equal(found("3 WEEKS AND STILL NO HOT WATER SHARON", NULL), "");
    assert_string_equal(found("The surveyor, a housing officer and the caretaker came.", NULL),
                        "");
    assert_string_equal(found("", NULL), "");
}

static void appends_and_long_text(void **state)
{
    (void)state;
    struct pii_spanlist out = {0};
    const char *a = "Thanks Jodie";
    assert_int_equal(pii_names_find(names, a, strlen(a), NULL, &out), 0);
    assert_int_equal(pii_names_find(names, a, strlen(a), NULL, &out), 0);
    assert_int_equal(out.n, 2); /* appends, never clears */
    free(out.v);
    /* more words than the detector keeps on its stack; bytes that are not UTF-8; NULs */
    size_t n = 5000 * 6 + 64;
    char *big = malloc(n);
    assert_non_null(big);
    size_t o = 0;
    for (int i = 0; i < 5000; i++)
        o += (size_t)snprintf(big + o, n - o, "%s ", i % 7 ? "word" : "\xff\xfe\x00");
    o += (size_t)snprintf(big + o, n - o, "ask Gary");
    out = (struct pii_spanlist){0};
    assert_int_equal(pii_names_find(names, big, o, NULL, &out), 0);
    assert_int_equal(out.n, 1);
    assert_memory_equal(big + out.v[0].start, "Gary", 4);
    free(out.v);
    free(big);
}

/* Writes `body` to dir/name. */
static void put(const char *dir, const char *name, const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
}

/* Loads a names folder made of the given files; returns the diag lines joined by "\n". */
static char *load_errors(const char *first, const char *sur, const char *contexts, int *rc)
{
    char dir[] = "/tmp/test_pii_names.XXXXXX";
    assert_non_null(mkdtemp(dir));
    if (first)
        put(dir, "first_names.txt", first);
    if (sur)
        put(dir, "surnames.txt", sur);
    put(dir, "words.txt", "# words\nthe\nwill\n");
    put(dir, "places.txt", "Preston\n");
    if (contexts)
        put(dir, "contexts.txt", contexts);
    intake_diag d = {0};
    pii_names *nm = NULL;
    *rc = pii_names_load(dir, &nm, &d);
    if (*rc == 0)
        pii_names_free(nm);
    else
        assert_null(nm);
    size_t len = 1;
    for (size_t i = 0; i < d.n; i++)
        len += strlen(d.lines[i]) + 1;
    char *all = calloc(1, len);
    for (size_t i = 0; i < d.n; i++) {
        char *rel = strstr(d.lines[i], dir);
        strcat(all, rel ? rel + strlen(dir) + 1 : d.lines[i]); /* without the temp path */
        strcat(all, "\n");
    }
    intake_diag_clear(&d);
    const char *files[] = {"first_names.txt", "surnames.txt", "words.txt", "places.txt",
                           "contexts.txt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return all;
}

static void load_errors_say_file_and_line(void **state)
{
    (void)state;
    int rc;
    char *e = load_errors("Gary\nGrace\talso-word\n", "Smith\n", "[title]\nmr\n", &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(e, "");
    free(e);

    e = load_errors("# header\nGary\nGrace\tsometimes\nMary Ann\n", "Smith\n",
                    "mr\n[titles]\nmr\n[title]\nmr\n", &rc);
    assert_int_equal(rc, -1);
    assert_string_equal(e, "first_names.txt:3: unknown marker (also-word or mostly-word "
                           "expected): \"sometimes\"\n"
                           "first_names.txt:4: not one word (letters, with ' or - inside) "
                           "\"Mary Ann\"\n"
                           "contexts.txt:1: entry before any [section] \"mr\"\n"
                           "contexts.txt:2: unknown section \"[titles]\"\n");
    free(e);

    e = load_errors(NULL, "# only a comment\n", "[title]\nmr\n", &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e, "first_names.txt: cannot read: No such file or directory\n"));
    assert_non_null(strstr(e, "surnames.txt: no entries\n"));
    free(e);

    e = load_errors("Gary\n\xff\xfe\n", "Smith\n", "[title]\nmr\n", &rc);
    assert_int_equal(rc, -1);
    assert_non_null(strstr(e, "first_names.txt:2: not one word"));
    free(e);
}

/* The shipped lists hold what the detector relies on. */
static void shipped_lists(void **state)
{
    (void)state;
    assert_string_equal(found("Thanks Gareth, Chantelle, Imran and Łukasz", NULL),
                        "Gareth|Chantelle|Imran|Łukasz");
    /* names of the words list and months are only names in a context */
    assert_string_equal(found("Summer is here. August was wet. Will it rain?", NULL), "");
    assert_string_equal(found("my daughter Summer and my son Will", NULL), "Summer|Will");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(titles),
        cmocka_unit_test(lists_and_pairs),
        cmocka_unit_test(utf8_names_and_offsets),
        cmocka_unit_test(sign_offs),
        cmocka_unit_test(greetings),
        cmocka_unit_test(relations),
        cmocka_unit_test(hints),
        cmocka_unit_test(not_names),
        cmocka_unit_test(appends_and_long_text),
        cmocka_unit_test(load_errors_say_file_and_line),
        cmocka_unit_test(shipped_lists),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
