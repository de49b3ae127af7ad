/*
 * Structured logs: one JSON object per line on stderr, with a UTC time, a level and an
 * event name, then string key/value pairs. Callers pass identifiers only (source and sink
 * names, record ids, counts, status codes): never message text, subjects, addresses or
 * names. Safe to call from any thread.
 */
#ifndef INTAKE_LOG_H
#define INTAKE_LOG_H

enum intake_log_level { INTAKE_LOG_DEBUG, INTAKE_LOG_INFO, INTAKE_LOG_WARN, INTAKE_LOG_ERROR };

/* Sets the lowest level written (default INTAKE_LOG_INFO). Call before starting threads. */
void intake_log_set_level(enum intake_log_level level);

/* Parses "debug", "info", "warn" or "error". Returns 0, or -1 for anything else. */
int intake_log_level_parse(const char *s, enum intake_log_level *level);

/* Writes {"ts":..., "level":..., "event": event, key: value, ...}. The variadic part is
 * pairs of const char * (key, value) ended by a NULL key; a NULL value is skipped. Values
 * are escaped as JSON strings. All pointers are borrowed. */
void intake_log(enum intake_log_level level, const char *event, ...);

#endif
