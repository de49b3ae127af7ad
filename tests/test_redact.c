/*
 * The redactor: the shipped detectors (rules/redact) one by one, the validators behind
 * them, overlaps, placeholders, offsets on multi-byte and invalid UTF-8, the scan cap, the
 * pattern-file reader's messages, the examples check, two threads, and the `intake
 * classify` contract with each --redact mode.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../classifier/redact_check.h"
#include "intake/jsonl.h"
#include "intake/redact.h"

static intake_redactor *shipped;
static intake_redact_ctx *ctx;

static int load_shipped(void **state)
{
    (void)state;
    intake_diag d = {0};
    int rc = intake_redactor_load_dir(INTAKE_RULES_DIR, &shipped, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    intake_diag_clear(&d);
    ctx = rc == 0 ? intake_redact_ctx_new(shipped) : NULL;
    return ctx ? 0 : -1;
}

static int free_shipped(void **state)
{
    (void)state;
    intake_redact_ctx_free(ctx);
    intake_redactor_free(shipped);
    return 0;
}

/* Runs the shipped redactor over a NUL-terminated text. */
static const struct intake_span *find(const char *text, size_t *n)
{
    const struct intake_span *spans;
    assert_int_equal(intake_redact_find(ctx, text, strlen(text), NULL, &spans, n), 0);
    return spans;
}

/* Asserts that `text` has exactly `want` as a span of `type`. */
static void has(const char *text, int type, const char *want)
{
    size_t n;
    const struct intake_span *s = find(text, &n);
    const char *at = strstr(text, want);
    assert_non_null(at);
    uint32_t a = (uint32_t)(at - text), b = a + (uint32_t)strlen(want);
    for (size_t i = 0; i < n; i++)
        if (s[i].start == a && s[i].end == b && s[i].type == type)
            return;
    for (size_t i = 0; i < n; i++)
        fprintf(stderr, "  found %s '%.*s'\n", intake_pii_type_name(s[i].type),
                (int)(s[i].end - s[i].start), text + s[i].start);
    fail_msg("no %s span '%s' in '%s'", intake_pii_type_name(type), want, text);
}

/* Asserts that no span of `type` is found in `text`. */
static void none(const char *text, int type)
{
    size_t n;
    const struct intake_span *s = find(text, &n);
    for (size_t i = 0; i < n; i++)
        if (s[i].type == type)
            fail_msg("unexpected %s span '%.*s' in '%s'", intake_pii_type_name(type),
                     (int)(s[i].end - s[i].start), text + s[i].start, text);
}

/* ---- types ------------------------------------------------------------------------- */

static void type_names_and_placeholders(void **state)
{
    (void)state;
    static const char *const names[] = {"person", "phone", "email", "postcode", "address",
                                        "nino",   "bank",  "card",  "dob"};
    static const char *const ph[] = {"[NAME]", "[PHONE]", "[EMAIL]", "[POSTCODE]",
                                     "[ADDRESS]", "[NINO]", "[BANK]", "[CARD]", "[DOB]"};
    for (int t = 0; t < INTAKE_PII_COUNT; t++) {
        assert_string_equal(intake_pii_type_name(t), names[t]);
        assert_string_equal(intake_pii_placeholder(t), ph[t]);
        assert_int_equal(intake_pii_type_from_name(names[t]), t);
    }
    assert_null(intake_pii_type_name(INTAKE_PII_COUNT));
    assert_null(intake_pii_placeholder(-1));
    assert_int_equal(intake_pii_type_from_name("passport"), -1);
}

/* ---- phone ------------------------------------------------------------------------- */

static void phone_every_writing(void **state)
{
    (void)state;
    has("Ring me on 07700 900123 after 5", INTAKE_PII_PHONE, "07700 900123");
    has("mobile 07700 900 123.", INTAKE_PII_PHONE, "07700 900 123");
    has("text 07700900123", INTAKE_PII_PHONE, "07700900123");
    has("call +44 7700 900123 today", INTAKE_PII_PHONE, "+44 7700 900123");
    has("call +447700900123 today", INTAKE_PII_PHONE, "+447700900123");
    has("call +44 (0)7700 900123 today", INTAKE_PII_PHONE, "+44 (0)7700 900123");
    has("number is 0044 7700 900123", INTAKE_PII_PHONE, "0044 7700 900123");
    has("Tel: (01632) 960 094", INTAKE_PII_PHONE, "(01632) 960 094");
    has("Tel 01632 960217", INTAKE_PII_PHONE, "01632 960217");
    has("London 020 7946 0418.", INTAKE_PII_PHONE, "020 7946 0418");
    has("Leeds 0113 496 0735", INTAKE_PII_PHONE, "0113 496 0735");
    has("call 07700.900.123 or", INTAKE_PII_PHONE, "07700.900.123");
    has("call 07700-900-123 or", INTAKE_PII_PHONE, "07700-900-123");
    has("council 0300 123 4567", INTAKE_PII_PHONE, "0300 123 4567");
    has("free on 0800 123 456", INTAKE_PII_PHONE, "0800 123 456");
    has("Krakow +48 512 345 678", INTAKE_PII_PHONE, "+48 512 345 678");
    has("US +1 (555) 123-4567", INTAKE_PII_PHONE, "+1 (555) 123-4567");
    /* a stray group after the number is left out */
    has("call 07700 900 123 4 times", INTAKE_PII_PHONE, "07700 900 123");
}

static void phone_wrong_lengths_and_ranges(void **state)
{
    (void)state;
    none("ring 07700 90012 please", INTAKE_PII_PHONE);      /* mobile, 9 after the 0 */
    none("ring 07700 900 1234 please", INTAKE_PII_PHONE);   /* mobile, 11 after the 0 */
    none("ring 020 7946 04 please", INTAKE_PII_PHONE);      /* London, 8 after the 0 */
    none("ring 0300 123 45678 please", INTAKE_PII_PHONE);   /* 03, 11 after the 0 */
    none("ring +44 7700 90012 please", INTAKE_PII_PHONE);   /* +44 mobile too short */
    none("ref 04123 456789", INTAKE_PII_PHONE);             /* 04 is not used */
    none("ref 06123 456789", INTAKE_PII_PHONE);             /* 06 is not used */
    none("ref 00123456789", INTAKE_PII_PHONE);              /* 00, not 44 */
    none("+1 234 56", INTAKE_PII_PHONE);                    /* international, 7 digits */
    none("+1 234 567 890 123 456", INTAKE_PII_PHONE);       /* international, 16 digits */
    none("on 01/02/2024 at 10:14:02", INTAKE_PII_PHONE);
    none("tenancy ref T0048821", INTAKE_PII_PHONE);
}

static void phone_check_directly(void **state)
{
    (void)state;
    size_t keep;
    assert_true(pii_check_uk_phone("07700900123", 11, &keep));
    assert_int_equal(keep, 11);
    assert_true(pii_check_uk_phone("016977 2345", 11, &keep)); /* 9 after the 0 */
    assert_false(pii_check_uk_phone("0770090012", 10, &keep));
    assert_false(pii_check_uk_phone("+44 7700", 8, &keep));
    assert_false(pii_check_uk_phone("07700 9001x3", 12, &keep));
    assert_true(pii_check_uk_phone("07700 900123 45", 15, &keep));
    assert_int_equal(keep, 12);
}

/* ---- email ------------------------------------------------------------------------- */

static void email(void **state)
{
    (void)state;
    has("Contact jane.smith@example.co.uk please", INTAKE_PII_EMAIL, "jane.smith@example.co.uk");
    has("to <m.hewitt47@btinternet.con> failed", INTAKE_PII_EMAIL, "m.hewitt47@btinternet.con");
    has("O'Brien.P+housing@mail.example.org.", INTAKE_PII_EMAIL,
        "O'Brien.P+housing@mail.example.org");
    has("EMAIL: JOE@EXAMPLE.COM", INTAKE_PII_EMAIL, "JOE@EXAMPLE.COM");
    none("Thanks @NorthgateHomes for sorting it", INTAKE_PII_EMAIL);
    none("meet @ 5pm", INTAKE_PII_EMAIL);
    none("user@localhost has no domain", INTAKE_PII_EMAIL);
}

/* ---- postcode ---------------------------------------------------------------------- */

static void postcode_shapes(void **state)
{
    (void)state;
    has("Manchester M1 1AE", INTAKE_PII_POSTCODE, "M1 1AE");          /* A9 9AA */
    has("Birmingham B33 8TH", INTAKE_PII_POSTCODE, "B33 8TH");        /* A99 9AA */
    has("Croydon CR2 6XH.", INTAKE_PII_POSTCODE, "CR2 6XH");          /* AA9 9AA */
    has("Leyland PR25 2LW.", INTAKE_PII_POSTCODE, "PR25 2LW");        /* AA99 9AA */
    has("London W1A 0AX", INTAKE_PII_POSTCODE, "W1A 0AX");            /* A9A 9AA */
    has("London EC1A 1BB", INTAKE_PII_POSTCODE, "EC1A 1BB");          /* AA9A 9AA */
    has("Bootle GIR 0AA", INTAKE_PII_POSTCODE, "GIR 0AA");
    has("at 9 wagtail close bb1 6ln,", INTAKE_PII_POSTCODE, "bb1 6ln"); /* lower case */
    has("postcode PR253DQ", INTAKE_PII_POSTCODE, "PR253DQ");           /* no space */
}

static void postcode_near_misses(void **state)
{
    (void)state;
    none("my code is ABC 123", INTAKE_PII_POSTCODE);
    none("model A12 3CD", INTAKE_PII_POSTCODE);  /* C never in the inward code */
    none("EC1Z 1BB", INTAKE_PII_POSTCODE);       /* Z never fourth */
    none("W1L 0AX", INTAKE_PII_POSTCODE);        /* L never third */
    none("PR25 2L and more", INTAKE_PII_POSTCODE);
    none("PR255 2LW", INTAKE_PII_POSTCODE);
    none("XX1 1AA", INTAKE_PII_POSTCODE);
    none("PR25  2LW", INTAKE_PII_POSTCODE);      /* two spaces */
}

static void postcode_letters_by_position(void **state)
{
    (void)state;
    assert_true(pii_check_postcode("PR25 2LW", 8));
    assert_true(pii_check_postcode("pr252lw", 7));
    assert_true(pii_check_postcode("GIR 0AA", 7));
    /* first position: not Q V X */
    assert_false(pii_check_postcode("Q1 1AA", 6));
    assert_false(pii_check_postcode("V1 1AA", 6));
    assert_false(pii_check_postcode("X1 1AA", 6));
    /* second position: not I J Z */
    assert_false(pii_check_postcode("AI1 1AA", 7));
    assert_false(pii_check_postcode("AJ1 1AA", 7));
    assert_false(pii_check_postcode("AZ1 1AA", 7));
    /* third (A9A): only A B C D E F G H J K P S T U W */
    assert_true(pii_check_postcode("W1W 1AA", 7));
    assert_false(pii_check_postcode("W1I 1AA", 7));
    assert_false(pii_check_postcode("W1L 1AA", 7));
    assert_false(pii_check_postcode("W1Q 1AA", 7));
    /* fourth (AA9A): only A B E H M N P R V W X Y */
    assert_true(pii_check_postcode("SW1Y 1AA", 8));
    assert_false(pii_check_postcode("SW1C 1AA", 8));
    assert_false(pii_check_postcode("SW1Z 1AA", 8));
    /* inward letters: not C I K M O V */
    const char *bad = "CIKMOV";
    for (const char *p = bad; *p; p++) {
        char pc[] = "M1 1AA";
        pc[4] = *p;
        assert_false(pii_check_postcode(pc, 6));
        pc[4] = 'A';
        pc[5] = *p;
        assert_false(pii_check_postcode(pc, 6));
    }
    /* shapes */
    assert_false(pii_check_postcode("ABC 123", 7));
    assert_false(pii_check_postcode("M1 1A", 5));
    assert_false(pii_check_postcode("SW1AA 1AA", 9));
    assert_false(pii_check_postcode("M1A1 1AA", 8));
    assert_false(pii_check_postcode("M 11AA", 6)); /* the space not before the inward code */
}

/* ---- address ----------------------------------------------------------------------- */

static void address(void **state)
{
    (void)state;
    has("I live at 12 Elm Road, Leyland", INTAKE_PII_ADDRESS, "12 Elm Road");
    has("12a Elm Rd was flooded", INTAKE_PII_ADDRESS, "12a Elm Rd");
    has("22 Mill Lane, Leyland PR25", INTAKE_PII_ADDRESS, "22 Mill Lane");
    has("at 41 Cherry Tree Lane.", INTAKE_PII_ADDRESS, "41 Cherry Tree Lane");
    has("AT 14 BIRCH AVENUE. 3 KIDS", INTAKE_PII_ADDRESS, "14 BIRCH AVENUE");
    has("5 Linden Court, Chorley Road, Ashworth", INTAKE_PII_ADDRESS,
        "5 Linden Court, Chorley Road");
    has("Flat 2B, 9 Quay Street", INTAKE_PII_ADDRESS, "Flat 2B, 9 Quay Street");
    has("Flat 41, Cedar House", INTAKE_PII_ADDRESS, "Flat 41, Cedar House");
    has("tbh. flat 5 elm house", INTAKE_PII_ADDRESS, "flat 5 elm house");
    has("ring me - Tina, flat 14", INTAKE_PII_ADDRESS, "flat 14");
    has("at 8 Lapwing Crescent, Burnley", INTAKE_PII_ADDRESS, "8 Lapwing Crescent");
    has("the Mews: 3 Stable Mews", INTAKE_PII_ADDRESS, "3 Stable Mews");
    has("at 9 thrush lane wigan", INTAKE_PII_ADDRESS, "9 thrush lane");
    none("I have rung 3 times about the road", INTAKE_PII_ADDRESS);
    none("we moved in 2 years ago", INTAKE_PII_ADDRESS);
    none("the flat 2 weeks ago was cold", INTAKE_PII_ADDRESS);
    none("a 2 bedroom flat on Elm Road", INTAKE_PII_ADDRESS);
    none("Northgate Homes, Ashworth Road", INTAKE_PII_ADDRESS);
    none("2 doors down the road", INTAKE_PII_ADDRESS);
}

/* ---- National Insurance numbers ----------------------------------------------------- */

static void nino_valid(void **state)
{
    (void)state;
    has("It is PC 84 21 60 A.", INTAKE_PII_NINO, "PC 84 21 60 A");
    has("NI ME309147D.", INTAKE_PII_NINO, "ME309147D");
    has("ni no jh457219b", INTAKE_PII_NINO, "jh457219b");
    has("NI: AB 123456 C", INTAKE_PII_NINO, "AB 123456 C");
    assert_true(pii_check_nino("AB123456D", 9));
}

static void nino_forbidden_prefixes(void **state)
{
    (void)state;
    char buf[64];
    for (const char *p = "DFIQUV"; *p; p++) { /* never first */
        snprintf(buf, sizeof buf, "%cA123456A", *p);
        assert_false(pii_check_nino(buf, 9));
        snprintf(buf, sizeof buf, "NI %cA 12 34 56 A", *p);
        none(buf, INTAKE_PII_NINO);
    }
    for (const char *p = "DFIOQUV"; *p; p++) { /* never second */
        snprintf(buf, sizeof buf, "A%c123456A", *p);
        assert_false(pii_check_nino(buf, 9));
        snprintf(buf, sizeof buf, "NI A%c 12 34 56 A", *p);
        none(buf, INTAKE_PII_NINO);
    }
    static const char *const never[] = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        snprintf(buf, sizeof buf, "%s123456A", never[i]);
        assert_false(pii_check_nino(buf, 9));
        snprintf(buf, sizeof buf, "NI %s 12 34 56 A", never[i]);
        none(buf, INTAKE_PII_NINO);
    }
    assert_false(pii_check_nino("AB123456E", 9)); /* suffix A-D only */
    assert_false(pii_check_nino("AB12345A", 8));
    assert_false(pii_check_nino("AB1234567A", 10));
    none("NI AB 12 34 56 E", INTAKE_PII_NINO);
    none("NI AB 12 34 5 A", INTAKE_PII_NINO);
}

/* ---- bank -------------------------------------------------------------------------- */

static void bank_with_and_without_context(void **state)
{
    (void)state;
    has("pay 20-45-77 41132723 please", INTAKE_PII_BANK, "20-45-77 41132723");
    has("details 60-83-71 / 20093745.", INTAKE_PII_BANK, "60-83-71 / 20093745");
    has("Sort code: 09-01-28\nAccount no: 75090595", INTAKE_PII_BANK, "09-01-28");
    has("Sort code: 09-01-28\nAccount no: 75090595", INTAKE_PII_BANK, "75090595");
    has("my sort code is 200415", INTAKE_PII_BANK, "200415");
    has("Account number: 89070818", INTAKE_PII_BANK, "89070818");
    has("acc no 1234 5678", INTAKE_PII_BANK, "1234 5678");
    /* without context a sort code or an account number alone is not taken */
    none("the code 20-45-77 is on the door", INTAKE_PII_BANK);
    none("reference 41132723", INTAKE_PII_BANK);
    none("account opened in 2019", INTAKE_PII_BANK);
    none("dates 20-04-2024 41132723", INTAKE_PII_BANK);
}

/* ---- card -------------------------------------------------------------------------- */

static void card(void **state)
{
    (void)state;
    has("card: 4960 3082 4628 1940, name", INTAKE_PII_CARD, "4960 3082 4628 1940");
    has("card number 4526018159083012", INTAKE_PII_CARD, "4526018159083012");
    has("card 4111-1111-1111-1111 ok", INTAKE_PII_CARD, "4111-1111-1111-1111");
    has("amex 3782 822463 10005", INTAKE_PII_CARD, "3782 822463 10005");
    none("card 4960 3082 4628 1941", INTAKE_PII_CARD); /* fails Luhn */
    none("card 4526018159083013", INTAKE_PII_CARD);    /* fails Luhn */
    none("card 4444 4444 4444 4444", INTAKE_PII_CARD); /* one digit repeated */
    none("order 123456789012", INTAKE_PII_CARD);       /* 12 digits */
    size_t keep;
    assert_true(pii_check_luhn("4111111111111111", 16, &keep));
    assert_false(pii_check_luhn("4111111111111112", 16, &keep));
    assert_false(pii_check_luhn("411111111111", 12, &keep));
    /* a stray group after a card number is left out */
    assert_true(pii_check_luhn("4111 1111 1111 1111 1111", 24, &keep));
    assert_int_equal(keep, 19);
}

/* ---- dob --------------------------------------------------------------------------- */

static void dob_with_and_without_context(void **state)
{
    (void)state;
    has("Miss Ford (DOB 02/05/2001)", INTAKE_PII_DOB, "02/05/2001");
    has("Date of birth: 03/07/1991\n", INTAKE_PII_DOB, "03/07/1991");
    has("My DOB is 22/09/1987 and", INTAKE_PII_DOB, "22/09/1987");
    has("Mr Birch (born 3rd July 1933)", INTAKE_PII_DOB, "3rd July 1933");
    has("date of birth 9 May 1995.", INTAKE_PII_DOB, "9 May 1995");
    has("d.o.b. 1984-02-01", INTAKE_PII_DOB, "1984-02-01");
    has("born on 29/02/1996", INTAKE_PII_DOB, "29/02/1996");
    none("I moved in on 03/07/1991", INTAKE_PII_DOB);       /* no context */
    none("The visit is on 9 May 2025.", INTAKE_PII_DOB);
    none("DOB 31/02/1980", INTAKE_PII_DOB);                /* no such day */
    none("date of birth 29/02/1997", INTAKE_PII_DOB);      /* not a leap year */
    none("born in 1990", INTAKE_PII_DOB);
    assert_true(pii_check_date("3rd July 1933", 13));
    assert_true(pii_check_date("July 3, 1933", 12));
    assert_false(pii_check_date("32/01/1990", 10));
    assert_true(pii_check_date("01/13/1990", 10)); /* month/day when only that is a date */
    assert_false(pii_check_date("13/13/1990", 10));
    assert_false(pii_check_date("01/01/1850", 10));
    assert_false(pii_check_date("3 Jly 1933", 10));
}

/* ---- overlaps, placeholders, offsets ------------------------------------------------ */

/* Writes `files` (name, text pairs, NULL-terminated) into a new rules folder whose names
 * folder is the shipped one. Returns the folder (static storage). */
static const char *make_rules(const char *const *files)
{
    static char dir[64];
    char path[256];
    strcpy(dir, "/tmp/intake-redact-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/redact", dir);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof path, "%s/names", dir);
    assert_int_equal(symlink(INTAKE_RULES_DIR "/names", path), 0);
    for (size_t i = 0; files[i]; i += 2) {
        snprintf(path, sizeof path, "%s/redact/%s", dir, files[i]);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(files[i + 1], f);
        fclose(f);
    }
    return dir;
}

static void remove_rules(const char *dir, const char *const *files)
{
    char path[256];
    for (size_t i = 0; files[i]; i += 2) {
        snprintf(path, sizeof path, "%s/redact/%s", dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof path, "%s/redact", dir);
    rmdir(path);
    snprintf(path, sizeof path, "%s/names", dir);
    unlink(path);
    rmdir(dir);
}

static const char overlap_rules[] =
    "detector SHORT\n describe s\n type phone\n pattern /abc/\n"
    " example+ abc => abc\n example- xyz\n"
    "detector LONG\n describe l\n type email\n pattern /abcdef/\n"
    " example+ abcdef => abcdef\n example- abc\n"
    "detector TIE_FIRST\n describe t\n type card\n pattern /xyz/\n"
    " example+ xyz => xyz\n example- abc\n"
    "detector TIE_SECOND\n describe t\n type dob\n pattern /xyz/\n"
    " example+ xyz => xyz\n example- abc\n"
    "detector LATE\n describe t\n type bank\n pattern /efgh/\n"
    " example+ efgh => efgh\n example- abc\n";

static void overlaps_longest_wins(void **state)
{
    (void)state;
    const char *const files[] = {"a.pii", overlap_rules, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r;
    intake_diag d = {0};
    assert_int_equal(intake_redactor_load_dir(dir, &r, &d), 0);
    intake_redact_ctx *c = intake_redact_ctx_new(r);
    const char *text = "--abcdefgh-- xyz";
    const struct intake_span *s;
    size_t n;
    assert_int_equal(intake_redact_find(c, text, strlen(text), NULL, &s, &n), 0);
    /* abcdef (6) beats abc (3) and efgh (4, overlapping it); xyz: a tie, the earlier
     * detector wins */
    assert_int_equal(n, 2);
    assert_int_equal(s[0].start, 2);
    assert_int_equal(s[0].end, 8);
    assert_int_equal(s[0].type, INTAKE_PII_EMAIL);
    assert_int_equal(s[1].start, 13);
    assert_int_equal(s[1].end, 16);
    assert_int_equal(s[1].type, INTAKE_PII_CARD);
    intake_redact_ctx_free(c);
    intake_redactor_free(r);
    remove_rules(dir, files);
}

static void overlaps_in_shipped_rules(void **state)
{
    (void)state;
    /* the sort code alone and the pair: one span, the pair */
    const char *text = "sort code 20-45-77 41132723 thanks";
    size_t n;
    const struct intake_span *s = find(text, &n);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].type, INTAKE_PII_BANK);
    assert_int_equal(s[0].start, 10);
    assert_int_equal(s[0].end, 27);
    /* spans come sorted and never overlap */
    text = "Flat 3, 14 Victoria Street, PR25 2LW, 07700 900123, a@b.com, DOB 01/02/1990";
    s = find(text, &n);
    assert_int_equal(n, 5);
    for (size_t i = 1; i < n; i++)
        assert_true(s[i - 1].end <= s[i].start);
}

static void apply_writes_placeholders(void **state)
{
    (void)state;
    const char *text = "Ring 07700 900123 or email a@b.com at 5 Elm Road";
    size_t n;
    const struct intake_span *s = find(text, &n);
    intake_buf out = {0};
    assert_int_equal(intake_redact_apply(text, strlen(text), s, n, &out), 0);
    assert_string_equal(out.data, "Ring [PHONE] or email [EMAIL] at [ADDRESS]");
    /* no spans: the text as it is; out is replaced, not appended to */
    assert_int_equal(intake_redact_apply("plain", 5, NULL, 0, &out), 0);
    assert_string_equal(out.data, "plain");
    /* spans out of order or out of range are skipped, never overrun */
    struct intake_span bad[] = {{4, 6, INTAKE_PII_PHONE}, {1, 3, INTAKE_PII_DOB},
                                {5, 99, INTAKE_PII_CARD}, {0, 1, INTAKE_PII_COUNT}};
    assert_int_equal(intake_redact_apply("abcdefgh", 8, bad, 4, &out), 0);
    assert_string_equal(out.data, "abcd[PHONE]gh");
    intake_buf_free(&out);
}

static void offsets_after_multibyte_utf8(void **state)
{
    (void)state;
    /* "Café ☕ — ring " is 19 bytes: é, ☕ and — are 2, 3 and 3 bytes */
    const char *text = "Caf\xc3\xa9 \xe2\x98\x95 \xe2\x80\x94 ring 07700 900123";
    size_t n;
    const struct intake_span *s = find(text, &n);
    assert_int_equal(n, 1);
    assert_int_equal(s[0].start, 19);
    assert_int_equal(s[0].end, 31);
    has("\xc5\x81\xc3\xb3" "d\xc5\xba: ul. 12 Elm Road", INTAKE_PII_ADDRESS, "12 Elm Road");
    has("\xe2\x80\x9cPR25 2LW\xe2\x80\x9d", INTAKE_PII_POSTCODE, "PR25 2LW");
}

static void invalid_utf8_input(void **state)
{
    (void)state;
    const char text[] = "\xff\xfe ring 07700 900123 \xc3 or \xe2\x82 a@b.com\xff";
    const struct intake_span *s;
    size_t n;
    assert_int_equal(intake_redact_find(ctx, text, sizeof text - 1, NULL, &s, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s[0].type, INTAKE_PII_PHONE);
    assert_int_equal(s[0].start, 8);
    assert_int_equal(s[0].end, 20);
    assert_int_equal(s[1].type, INTAKE_PII_EMAIL);
    assert_memory_equal(text + s[1].start, "a@b.com", 7);
    /* bytes that are never valid anywhere, and a text of continuation bytes */
    char junk[300];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(0x80 + i % 64);
    assert_int_equal(intake_redact_find(ctx, junk, sizeof junk, NULL, &s, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(intake_redact_find(ctx, "", 0, NULL, &s, &n), 0);
    assert_int_equal(n, 0);
}

static void huge_input_is_cut_at_the_scan_cap(void **state)
{
    (void)state;
    size_t len = INTAKE_REDACT_MAX_SCAN + 100000;
    char *text = malloc(len);
    assert_non_null(text);
    /* a digit-heavy filler that keeps the number detectors busy */
    for (size_t i = 0; i < len; i++)
        text[i] = "1234 5678 abc "[i % 14];
    memcpy(text + 100, " 07700 900123 ", 14);
    memcpy(text + INTAKE_REDACT_MAX_SCAN + 500, " 07700 900456 ", 14);
    const struct intake_span *s;
    size_t n;
    assert_int_equal(intake_redact_find(ctx, text, len, NULL, &s, &n), 0);
    bool first = false;
    for (size_t i = 0; i < n; i++) {
        assert_true(s[i].end <= INTAKE_REDACT_MAX_SCAN);
        first = first || (s[i].start == 101 && s[i].type == INTAKE_PII_PHONE);
    }
    assert_true(first);
    free(text);
}

/* ---- the pattern-file reader ------------------------------------------------------- */

/* Loads one file; returns the diagnostics joined by newlines (the caller frees). */
static char *load_problems(const char *text, int *rc)
{
    const char *const files[] = {"bad.pii", text, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r = NULL;
    intake_diag d = {0};
    *rc = intake_redactor_load_dir(dir, &r, &d);
    intake_redactor_free(r);
    size_t total = 1;
    for (size_t i = 0; i < d.n; i++)
        total += strlen(d.lines[i]) + 1;
    char *all = calloc(1, total);
    for (size_t i = 0; i < d.n; i++)
        strcat(strcat(all, d.lines[i]), "\n");
    intake_diag_clear(&d);
    remove_rules(dir, files);
    return all;
}

static void expect_problem(const char *text, const char *where, const char *what)
{
    int rc;
    char *msgs = load_problems(text, &rc);
    if (rc == 0 || strstr(msgs, where) == NULL || strstr(msgs, what) == NULL)
        fail_msg("wanted '%s' ... '%s', got rc %d:\n%s", where, what, rc, msgs);
    free(msgs);
}

static void reader_reports_file_and_line(void **state)
{
    (void)state;
    const char ok_tail[] = " example+ a1 => a1\n example- b\n";
    char buf[512];
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /a1/\n"
                              " colour blue\n%s", ok_tail);
    expect_problem(buf, "bad.pii:5:", "unknown key");
    snprintf(buf, sizeof buf, "detector A\n type phone\n pattern /a1/\n%s", ok_tail);
    expect_problem(buf, "bad.pii:1:", "no 'describe'");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type passport\n pattern /a1/\n%s",
             ok_tail);
    expect_problem(buf, "bad.pii:3:", "unknown type");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /a1/\n"
                              " check crc32\n%s", ok_tail);
    expect_problem(buf, "bad.pii:5:", "unknown check");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /a(1/\n%s",
             ok_tail);
    expect_problem(buf, "bad.pii:4:", "bad pattern at offset");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /a1/\n"
                              " group 2\n%s", ok_tail);
    expect_problem(buf, "bad.pii:4:", "has no group 2");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /a1/\n"
                              " needs vowels 3\n%s", ok_tail);
    expect_problem(buf, "bad.pii:5:", "unknown need");
    expect_problem("detector A\n describe x\n type phone\n pattern /a1/\n example+ a1\n"
                   " example- b\n", "bad.pii:5:", "TEXT => SPAN");
    expect_problem("detector A\n describe x\n type phone\n pattern /a1/\n"
                   " example+ a1 => a2\n example- b\n", "bad.pii:5:", "not part of");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /{{NOPE}}1/\n%s",
             ok_tail);
    expect_problem(buf, "bad.pii:4:", "unknown {{NAME}}");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern /a1/\n%s"
                              "detector A\n", ok_tail);
    expect_problem(buf, "bad.pii:7:", "duplicate detector name");
    expect_problem(" type phone\n", "bad.pii:1:", "outside a detector block");
    expect_problem("detector A\n describe x\n type phone\n pattern /a1/\n example- b\n",
                   "bad.pii:1:", "at least one 'example+'");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n pattern a1\n%s",
             ok_tail);
    expect_problem(buf, "bad.pii:4:", "between slashes");
    snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n anchor @\n"
                              " pattern /a1/\n%s", ok_tail);
    expect_problem(buf, "bad.pii:4:", "anchor C N");
    const char *bad_classes[] = {"@ 5 a-z", "@ 5 [z-a]", "@ 5 []", "@ 5 [a-z] x",
                                 "@ 5 [\xc3\xa9]"};
    for (size_t i = 0; i < sizeof bad_classes / sizeof *bad_classes; i++) {
        snprintf(buf, sizeof buf, "detector A\n describe x\n type phone\n anchor %s\n"
                                  " pattern /a1/\n%s", bad_classes[i], ok_tail);
        expect_problem(buf, "bad.pii:4:", "anchor C N [CLASS]");
    }
}

static void defines_expand(void **state)
{
    (void)state;
    const char text[] = "define D [0-9]\ndefine DD {{D}}{{D}}\n"
                        "detector A\n describe x\n type phone\n pattern /x{{DD}}y/\n"
                        " example+ x12y => x12y\n example- x1y\n";
    const char *const files[] = {"def.pii", text, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r;
    intake_diag d = {0};
    assert_int_equal(intake_redactor_load_dir(dir, &r, &d), 0);
    size_t checked = 0;
    assert_int_equal(intake_redactor_check_examples(r, &d, &checked), 0);
    assert_int_equal(checked, 2);
    intake_redactor_free(r);
    remove_rules(dir, files);
}

static void examples_failures_are_reported(void **state)
{
    (void)state;
    const char text[] = "detector A\n describe x\n type phone\n pattern /a[0-9]+/\n"
                        " needs digits 2\n"
                        " example+ a1 => a1\n"         /* the need skips it */
                        " example+ xa12 => a1\n"       /* found, but longer */
                        " example+ a12 => a12\n"       /* passes */
                        " example- a3 and a45\n";      /* both are found */
    const char *const files[] = {"ex.pii", text, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r;
    intake_diag d = {0};
    assert_int_equal(intake_redactor_load_dir(dir, &r, &d), 0);
    size_t checked = 0;
    assert_int_equal(intake_redactor_check_examples(r, &d, &checked), 3);
    assert_int_equal(checked, 4);
    assert_int_equal(d.n, 3);
    assert_non_null(strstr(d.lines[0], "ex.pii:6: detector A finds nothing"));
    assert_non_null(strstr(d.lines[1], "ex.pii:7: detector A finds 'a12', not 'a1'"));
    assert_non_null(strstr(d.lines[2], "ex.pii:9: detector A finds 'a3' in its example-"));
    intake_diag_clear(&d);
    intake_redactor_free(r);
    remove_rules(dir, files);
}

static void needs_and_anchor_gate_detectors(void **state)
{
    (void)state;
    const char text[] =
        "detector DIGITS\n describe x\n type phone\n needs digits 5\n pattern /ab/\n"
        " example+ ab 12345 => ab\n example- ab 1234\n"
        "detector RUN\n describe x\n type card\n needs run 6\n pattern /cd/\n"
        " example+ cd 12 34-56 => cd\n example- cd 12 34 / 56\n"
        "detector BLOCK\n describe x\n type card\n needs block 4\n pattern /kl/\n"
        " example+ kl a1234b => kl\n example- kl 12 34-56 789\n"
        "detector WORD\n describe x\n type dob\n needs any born dob\n pattern /ef/\n"
        " example+ ef DoB => ef\n example- ef bor\n"
        "detector LD\n describe x\n type bank\n needs letter-digit\n pattern /gh/\n"
        " example+ gh x1 => gh\n example- gh x 1\n"
        "detector ANCHOR\n describe x\n type email\n anchor @ 3\n pattern /[a-z]+@/\n"
        " example+ zz abc@ => abc@\n example- abcd\n";
    const char *const files[] = {"needs.pii", text, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r;
    intake_diag d = {0};
    assert_int_equal(intake_redactor_load_dir(dir, &r, &d), 0);
    size_t checked = 0;
    int failed = intake_redactor_check_examples(r, &d, &checked);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    assert_int_equal(failed, 0);
    assert_int_equal(checked, 12);
    /* the anchor: a match starts at most 3 bytes before the @, so "abcd@" gives "bcd@" */
    intake_redact_ctx *c = intake_redact_ctx_new(r);
    const struct intake_span *s;
    size_t n;
    assert_int_equal(intake_redact_find(c, "abcd@ xy@", 9, NULL, &s, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s[0].start, 1);
    assert_int_equal(s[1].start, 6);
    intake_redact_ctx_free(c);
    intake_redactor_free(r);
    remove_rules(dir, files);
}

/* 'anchor C N [CLASS]': a match is tried only where the run of CLASS bytes before the C
 * starts, never inside it, and never further back than N bytes. */
static void anchor_run_class_fixes_the_start(void **state)
{
    (void)state;
    const char text[] = "detector RUN\n describe x\n type email\n anchor @ 4 [a-z-]\n"
                        " pattern /[a-z.-]+@/c\n example+ ab.cd@ => cd@\n example- abc\n";
    const char *const files[] = {"run.pii", text, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r;
    assert_int_equal(intake_redactor_load_dir(dir, &r, NULL), 0);
    intake_redact_ctx *c = intake_redact_ctx_new(r);
    const struct intake_span *s;
    size_t n;
    /* the run before the first @ is "cd" (the "." is not in the class); before the second
     * it is "x-y", before the third "abcdefg", of which only the last 4 bytes count: the
     * pattern could match from "a" on, but is tried at "d" only */
    const char t[] = "ab.cd@ x-y@ abcdefg@ @";
    assert_int_equal(intake_redact_find(c, t, sizeof t - 1, NULL, &s, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(s[0].start, 3);
    assert_int_equal(s[0].end, 6);
    assert_int_equal(s[1].start, 7);
    assert_int_equal(s[2].start, 15);
    assert_int_equal(s[2].end, 20);
    intake_redact_ctx_free(c);
    intake_redactor_free(r);
    remove_rules(dir, files);
}

/* Patterns whose matches start at a digit are searched only between the text's first and
 * last digits: what they find must not change (lookbehinds still see what comes before the
 * first digit, a match may start at the last digit and run on past it). */
static void digit_start_patterns_find_the_same(void **state)
{
    (void)state;
    const char text[] =
        "detector NUMWORD\n describe x\n type address\n needs digits 1\n"
        " pattern /(?<=at )[0-9]+ [a-z]+/\n"
        " example+ at 12 elm => 12 elm\n example- 12 elm\n"
        "detector LETTERNUM\n describe x\n type nino\n pattern /q[0-9]/\n"
        " example+ aq1 => q1\n example- aq\n";
    const char *const files[] = {"digits.pii", text, NULL};
    const char *dir = make_rules(files);
    intake_redactor *r;
    intake_diag d = {0};
    int rc = intake_redactor_load_dir(dir, &r, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    assert_int_equal(rc, 0);
    intake_redact_ctx *c = intake_redact_ctx_new(r);
    const struct intake_span *s;
    size_t n;
    const char *t = "at 1 oak, at 22 elm and at 3 ash";
    assert_int_equal(intake_redact_find(c, t, strlen(t), NULL, &s, &n), 0);
    assert_int_equal(n, 3);
    assert_int_equal(s[0].start, 3);  /* the first digit */
    assert_int_equal(s[1].start, 13);
    assert_int_equal(s[2].start, 27); /* the last digit, the match runs past it */
    assert_int_equal(s[2].end, 32);
    t = "ring 9 then q7 and at 4 fir";
    assert_int_equal(intake_redact_find(c, t, strlen(t), NULL, &s, &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(s[0].start, 12); /* q7: does not start with a digit */
    assert_int_equal(s[1].start, 22);
    intake_redact_ctx_free(c);
    intake_redactor_free(r);
    remove_rules(dir, files);
}

static void shipped_examples_pass(void **state)
{
    (void)state;
    intake_diag d = {0};
    size_t checked = 0;
    int failed = intake_redactor_check_examples(shipped, &d, &checked);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", d.lines[i]);
    intake_diag_clear(&d);
    assert_int_equal(failed, 0);
    assert_true(checked >= 100);
}

static void missing_folder_is_an_error(void **state)
{
    (void)state;
    intake_redactor *r = (intake_redactor *)1;
    intake_diag d = {0};
    assert_int_equal(intake_redactor_load_dir("/nonexistent", &r, &d), -1);
    assert_null(r);
    assert_true(d.n >= 1);
    assert_non_null(strstr(d.lines[0], "/nonexistent/redact"));
    intake_diag_clear(&d);
}

/* ---- threads ----------------------------------------------------------------------- */

static const char *const thread_texts[] = {
    "Ring 07700 900123, PR25 2LW, a@b.com",
    "Flat 3, 14 Victoria Street. NI PC 84 21 60 A. DOB 01/02/1990",
    "card 4960 3082 4628 1940, sort code 20-45-77, account 41132723",
    "nothing personal here at all",
};

struct thread_arg {
    size_t counts[4];
    int failed;
};

static void *thread_body(void *p)
{
    struct thread_arg *a = p;
    intake_redact_ctx *c = intake_redact_ctx_new(shipped);
    for (int round = 0; round < 300 && c; round++) {
        for (size_t k = 0; k < 4; k++) {
            const struct intake_span *s;
            size_t n;
            if (intake_redact_find(c, thread_texts[k], strlen(thread_texts[k]), NULL, &s,
                                   &n) != 0 || n != a->counts[k])
                a->failed = 1;
        }
    }
    a->failed |= c == NULL;
    intake_redact_ctx_free(c);
    return NULL;
}

static void two_threads_share_a_redactor(void **state)
{
    (void)state;
    struct thread_arg args[2];
    for (size_t k = 0; k < 4; k++) {
        size_t n;
        find(thread_texts[k], &n);
        args[0].counts[k] = args[1].counts[k] = n;
    }
    assert_true(args[0].counts[0] >= 3);
    assert_int_equal(args[0].counts[3], 0);
    pthread_t t[2];
    for (int i = 0; i < 2; i++) {
        args[i].failed = 0;
        assert_int_equal(pthread_create(&t[i], NULL, thread_body, &args[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failed, 0);
    }
}

/* ---- the classify contract --------------------------------------------------------- */

static size_t classify(enum intake_redact_mode mode, const char *input, json_t **out,
                       size_t max)
{
    static const char rules[] = "rule LEAK\n describe leak\n field text\n match /leak/\n"
                                " score service_request 2\n example+ a leak\n example- b\n";
    intake_ruleset *rs;
    intake_diag d = {0};
    assert_int_equal(intake_ruleset_load_text("t.rules", rules, &rs, &d), 0);
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *o = open_memstream(&buf, &len);
    assert_int_equal(intake_jsonl_classify_redact(in, o, rs, shipped, mode, NULL), 0);
    fclose(in);
    fclose(o);
    size_t n = 0;
    for (char *line = strtok(buf, "\n"); line && n < max; line = strtok(NULL, "\n")) {
        out[n] = json_loads(line, 0, NULL);
        assert_non_null(out[n]);
        n++;
    }
    free(buf);
    intake_ruleset_free(rs);
    return n;
}

static const char contract_input[] =
    "{\"id\":\"pub\",\"channel\":\"x\",\"public\":true,\"body\":\"caf\\u00e9 leak, ring "
    "07700 900123\",\"from\":{\"handle\":\"@jo\",\"name\":\"Jo\"}}\n"
    "{\"id\":\"priv\",\"channel\":\"email\",\"body\":\"leak at 5 Elm Road\"}\n";

static void contract_redacts_what_the_mode_says(void **state)
{
    (void)state;
    json_t *o[4];
    assert_int_equal(classify(INTAKE_REDACT_PUBLIC, contract_input, o, 4), 2);
    const char *red = json_string_value(json_object_get(o[0], "redacted_body"));
    assert_string_equal(red, "caf\xc3\xa9 leak, ring [PHONE]");
    json_t *r0 = json_array_get(json_object_get(o[0], "redactions"), 0);
    assert_string_equal(json_string_value(json_object_get(r0, "type")), "phone");
    assert_int_equal(json_integer_value(json_object_get(r0, "start")), 17);
    assert_int_equal(json_integer_value(json_object_get(r0, "end")), 29);
    /* the private item is left as it came under "public" */
    assert_string_equal(json_string_value(json_object_get(o[1], "redacted_body")),
                        "leak at 5 Elm Road");
    assert_int_equal(json_array_size(json_object_get(o[1], "redactions")), 0);
    json_decref(o[0]);
    json_decref(o[1]);

    assert_int_equal(classify(INTAKE_REDACT_ALL, contract_input, o, 4), 2);
    assert_string_equal(json_string_value(json_object_get(o[1], "redacted_body")),
                        "leak at [ADDRESS]");
    assert_int_equal(json_array_size(json_object_get(o[1], "redactions")), 1);
    assert_string_equal(json_string_value(json_object_get(o[1], "category")),
                        "service_request");
    json_decref(o[0]);
    json_decref(o[1]);

    assert_int_equal(classify(INTAKE_REDACT_NONE, contract_input, o, 4), 2);
    assert_string_equal(json_string_value(json_object_get(o[0], "redacted_body")),
                        "caf\xc3\xa9 leak, ring 07700 900123");
    assert_int_equal(json_array_size(json_object_get(o[0], "redactions")), 0);
    json_decref(o[0]);
    json_decref(o[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(type_names_and_placeholders),
        cmocka_unit_test(phone_every_writing),
        cmocka_unit_test(phone_wrong_lengths_and_ranges),
        cmocka_unit_test(phone_check_directly),
        cmocka_unit_test(email),
        cmocka_unit_test(postcode_shapes),
        cmocka_unit_test(postcode_near_misses),
        cmocka_unit_test(postcode_letters_by_position),
        cmocka_unit_test(address),
        cmocka_unit_test(nino_valid),
        cmocka_unit_test(nino_forbidden_prefixes),
        cmocka_unit_test(bank_with_and_without_context),
        cmocka_unit_test(card),
        cmocka_unit_test(dob_with_and_without_context),
        cmocka_unit_test(overlaps_longest_wins),
        cmocka_unit_test(overlaps_in_shipped_rules),
        cmocka_unit_test(apply_writes_placeholders),
        cmocka_unit_test(offsets_after_multibyte_utf8),
        cmocka_unit_test(invalid_utf8_input),
        cmocka_unit_test(huge_input_is_cut_at_the_scan_cap),
        cmocka_unit_test(reader_reports_file_and_line),
        cmocka_unit_test(defines_expand),
        cmocka_unit_test(examples_failures_are_reported),
        cmocka_unit_test(needs_and_anchor_gate_detectors),
        cmocka_unit_test(anchor_run_class_fixes_the_start),
        cmocka_unit_test(digit_start_patterns_find_the_same),
        cmocka_unit_test(shipped_examples_pass),
        cmocka_unit_test(missing_folder_is_an_error),
        cmocka_unit_test(two_threads_share_a_redactor),
        cmocka_unit_test(contract_redacts_what_the_mode_says),
    };
    return cmocka_run_group_tests(tests, load_shipped, free_shipped);
}
