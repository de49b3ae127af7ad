/*
 * Validators for the redactor (internal to the classifier library): the checks a pattern
 * cannot express, named by a detector's `check NAME` line. Each looks at the bytes of a
 * candidate span (ASCII digits and letters only; anything else is a separator) and says
 * whether it is what it claims to be. Pure functions: no state, no allocation.
 */
#ifndef INTAKE_REDACT_CHECK_H
#define INTAKE_REDACT_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* The index of the validator called `name`, or -1 when there is none. */
int pii_check_find(const char *name);

/* The validators' names, comma-separated, for messages. Static. */
const char *pii_check_list(void);

/* Runs validator `idx` on `len` bytes at `s`. Returns true when the span is valid; *keep
 * then receives how many of its first bytes are the real span (a phone number written
 * with a stray digit group after it keeps only the number). */
bool pii_check_run(int idx, const char *s, size_t len, size_t *keep);

/* Luhn checksum over the ASCII digits of s, which must number 13 to 19 (a payment card);
 * spaces and dashes between them are ignored, anything else fails. Numbers of one
 * repeated digit fail too. When the whole span fails, the longest run of its leading
 * digit groups that passes is kept in *keep; with none, false. */
bool pii_check_luhn(const char *s, size_t len, size_t *keep);

/* A National Insurance number: two letters, six digits, a suffix A-D, spaces optional,
 * either case. Prefixes HMRC never issues fail: first letter D F I Q U V, second letter
 * D F I O Q U V, and BG GB KN NK NT TN ZZ. */
bool pii_check_nino(const char *s, size_t len);

/* A telephone number as written (digits with spaces, dots, dashes, brackets, a leading
 * +). UK numbers (0..., +44..., 0044..., "+44 (0)..."): after the trunk 0, 07 takes 10
 * digits; 01 and 02 take 9 or 10; 03, 05 and 09 take 10; 08 takes 9 or 10; 00, 04 and 06
 * fail. Other countries (+CC, CC not 44): 8 to 15 digits in all. When the whole span of
 * a UK number is not one, the longest run of its leading digit groups that is one is kept
 * in *keep; with none, false. Spaces, dots, dashes, brackets and slashes may separate the
 * digits; a letter or a second + fails. */
bool pii_check_uk_phone(const char *s, size_t len, size_t *keep);

/* A UK postcode in one of the six shapes (A9 9AA, A99 9AA, AA9 9AA, AA99 9AA, A9A 9AA,
 * AA9A 9AA) or GIR 0AA, either case, one space or none between the halves. Letters are
 * checked by position per Royal Mail: first not Q V X; second not I J Z; third (A9A)
 * only A B C D E F G H J K P S T U W; fourth (AA9A) only A B E H M N P R V W X Y; the
 * two inward letters not C I K M O V. */
bool pii_check_postcode(const char *s, size_t len);

/* A real calendar date, years 1900-2099 (or two digits): day/month/year with / - . or
 * spaces between ("03/07/1991", "3.7.91"), year-month-day ("1991-07-03"), or with the
 * month's English name or its three-letter short form, before or after the day, with
 * an optional st/nd/rd/th and "of" ("3rd July 1933", "July 3, 1933", "9 May 1995"). */
bool pii_check_date(const char *s, size_t len);

#endif
