/* Rule-file parser: good files load, bad files give file:line messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "intake/classifier.h"

static const char good[] =
    "# a comment\n"
    "set default_category service_request\n"
    "set flag_threshold 1.5\n"
    "\n"
    "rule LEAK\n"
    "  describe  A leak\n"
    "  field     body\n"
    "  match     /\\bleak(?:s|ing)?\\b/\n"
    "  score     service_request 1, urgent 0.5\n"
    "  score     damp_mould 0.25\n"
    "  example+  water is leaking\n"
    "  example-  a leaky argument\n"
    "rule LEAK_AGAIN\n"
    "  describe  A leak, again\n"
    "  meta      LEAK && !(LEAK && !LEAK)\n"
    "  score     complaint 1\n"
    "  example+  it leaks\n"
    "  example-  nothing\n";

static void loads_a_good_file(void **state)
{
    (void)state;
    intake_diag d = {0};
    intake_ruleset *rs = NULL;
    assert_int_equal(intake_ruleset_load_text("good.rules", good, &rs, &d), 0);
    assert_non_null(rs);
    assert_int_equal(d.n, 0);
    assert_int_equal(intake_ruleset_count(rs), 2);
    assert_string_equal(intake_rule_name(rs, 0), "LEAK");
    assert_string_equal(intake_rule_describe(rs, 1), "A leak, again");
    assert_true(intake_rule_has_prefilter(rs, 0));
    assert_false(intake_rule_has_prefilter(rs, 1));
    assert_false(intake_rule_is_meta(rs, 0));
    assert_true(intake_rule_is_meta(rs, 1));
    size_t checked = 0;
    assert_int_equal(intake_ruleset_check_examples(rs, &d, &checked), 0);
    assert_int_equal(checked, 4);
    intake_ruleset_free(rs);
}

/* Loads `text` expecting failure and a diagnostic containing `want`. */
static void expect_problem(const char *text, const char *want)
{
    intake_diag d = {0};
    intake_ruleset *rs = NULL;
    assert_int_equal(intake_ruleset_load_text("bad.rules", text, &rs, &d), -1);
    assert_null(rs);
    bool found = false;
    for (size_t i = 0; i < d.n; i++)
        found = found || strstr(d.lines[i], want) != NULL;
    if (!found) {
        for (size_t i = 0; i < d.n; i++)
            print_error("got: %s\n", d.lines[i]);
        fail_msg("no diagnostic contains '%s'", want);
    }
    intake_diag_clear(&d);
}

#define RULE_HEAD "rule R\n describe d\n field body\n"
#define EXAMPLES " example+ x\n example- y\n"

static void reports_file_and_line(void **state)
{
    (void)state;
    expect_problem(RULE_HEAD " match /x/\n score nonsense 1\n" EXAMPLES,
                   "bad.rules:5: unknown category or flag in score: nonsense");
    expect_problem(RULE_HEAD " match /(unclosed/\n score complaint 1\n" EXAMPLES,
                   "bad.rules:1: rule R: bad pattern at offset");
    expect_problem("\n\n describe orphan\n", "bad.rules:3: key outside a rule block");
    expect_problem(RULE_HEAD " match /x/\n score complaint abc\n" EXAMPLES,
                   "bad.rules:5: score weight must be a number");
    expect_problem(RULE_HEAD " match x\n score complaint 1\n" EXAMPLES,
                   "bad.rules:4: a pattern is written between slashes");
    expect_problem(RULE_HEAD " match /x/i\n score complaint 1\n" EXAMPLES,
                   "bad.rules:4: the only pattern option is 'c'");
    expect_problem(RULE_HEAD " colour blue\n", "bad.rules:4: unknown key");
    expect_problem("rule R\n describe d\n field nose\n", "bad.rules:3: unknown field");
    expect_problem("set colour blue\n", "bad.rules:1: unknown setting");
    expect_problem("set default_category grumble\n", "bad.rules:1: unknown category");
    expect_problem("rule bad-name\n", "bad.rules:1: a rule name is letters");
}

static void reports_incomplete_rules(void **state)
{
    (void)state;
    expect_problem("rule R\n field body\n match /x/\n score complaint 1\n" EXAMPLES,
                   "bad.rules:1: rule has no 'describe' line: R");
    expect_problem(RULE_HEAD " match /x/\n" EXAMPLES, "rule has no 'score' line");
    expect_problem(RULE_HEAD " score complaint 1\n" EXAMPLES, "needs a 'match' or a 'meta'");
    expect_problem(RULE_HEAD " match /x/\n score complaint 1\n example+ x\n",
                   "at least one 'example+' and one 'example-'");
    expect_problem("rule R\n describe d\n match /x/\n score complaint 1\n" EXAMPLES,
                   "has a 'match' but no 'field'");
    expect_problem(RULE_HEAD " match /x/\n match /y/\n score complaint 1\n" EXAMPLES,
                   "bad.rules:5: repeated key in one rule: match");
    expect_problem(RULE_HEAD " match /x/\n score complaint 1\n" EXAMPLES
                   "rule R\n describe d\n",
                   "bad.rules:8: duplicate rule name: R");
}

static void reports_meta_problems(void **state)
{
    (void)state;
    expect_problem("rule M\n describe d\n meta A &&\n score complaint 1\n" EXAMPLES,
                   "bad.rules:3: bad meta expression: expected a rule name");
    expect_problem("rule M\n describe d\n meta (A\n score complaint 1\n" EXAMPLES,
                   "bad.rules:3: bad meta expression: missing ')'");
    expect_problem("rule M\n describe d\n meta NOPE\n score complaint 1\n" EXAMPLES,
                   "bad.rules:1: rule M: meta refers to unknown rule NOPE");
    expect_problem("rule A\n describe d\n meta B\n score complaint 1\n" EXAMPLES
                   "rule B\n describe d\n meta A\n score complaint 1\n" EXAMPLES,
                   "meta rules refer to each other in a loop");
    expect_problem("rule M\n describe d\n meta M\n score complaint 1\n" EXAMPLES,
                   "in a loop");
}

static void reports_failing_examples(void **state)
{
    (void)state;
    const char *text = RULE_HEAD " match /\\bflood/\n score urgent 2\n"
                                 " example+ the kitchen is flooded\n"
                                 " example+ nothing here\n"
                                 " example- a flood of thanks\n";
    intake_diag d = {0};
    intake_ruleset *rs = NULL;
    assert_int_equal(intake_ruleset_load_text("ex.rules", text, &rs, &d), 0);
    assert_int_equal(intake_ruleset_check_examples(rs, &d, NULL), 2);
    assert_int_equal(d.n, 2);
    assert_string_equal(d.lines[0], "ex.rules:7: rule R does not fire on its example+");
    assert_string_equal(d.lines[1], "ex.rules:8: rule R fires on its example-");
    intake_diag_clear(&d);
    intake_ruleset_free(rs);
}

static void loads_a_directory(void **state)
{
    (void)state;
    intake_diag d = {0};
    intake_ruleset *rs = NULL;
    assert_int_equal(intake_ruleset_load_dir(INTAKE_RULES_DIR, &rs, &d), 0);
    assert_true(intake_ruleset_count(rs) > 50);
    intake_ruleset_free(rs);
    assert_int_equal(intake_ruleset_load_dir("/nonexistent-intake-dir", &rs, &d), -1);
    assert_int_equal(d.n, 1);
    assert_non_null(strstr(d.lines[0], "cannot open rules folder"));
    intake_diag_clear(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loads_a_good_file),
        cmocka_unit_test(reports_file_and_line),
        cmocka_unit_test(reports_incomplete_rules),
        cmocka_unit_test(reports_meta_problems),
        cmocka_unit_test(reports_failing_examples),
        cmocka_unit_test(loads_a_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
