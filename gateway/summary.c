/* The end-of-run table `intake run --until-idle` prints: identifiers and labels only. */
#include <stdio.h>
#include <string.h>

#include "intake/spool.h"
#include "monitor.h"

static int print_row(void *ud, const struct intake_spool_row *row)
{
    FILE *out = ud;
    fprintf(out, "%-36.36s  %-12.12s  %-8.8s  %-15.15s  %-24.24s  %s\n", row->record_id,
            row->source, row->channel, row->category ? row->category : row->state,
            row->flags[0] ? row->flags : "-", row->deliveries[0] ? row->deliveries : "-");
    return 0;
}

static void print_total(void *ud, const char *a, const char *b, long count)
{
    (void)b;
    fprintf(ud, "  %-16s %ld\n", a, count);
}

void intake_daemon_summary(const char *spool_path, FILE *out)
{
    intake_spool *sp = NULL;
    char err[256];
    if (intake_spool_open(spool_path, &sp, err, sizeof err) != INTAKE_SPOOL_OK) {
        fprintf(out, "summary unavailable: %s\n", err);
        return;
    }
    fprintf(out, "%-36s  %-12s  %-8s  %-15s  %-24s  %s\n", "record", "source", "channel",
            "category", "flags", "deliveries");
    intake_spool_list(sp, NULL, 0, print_row, out);
    fprintf(out, "\nby category:\n");
    intake_spool_count(sp, INTAKE_COUNT_RECORDS_BY_CATEGORY, print_total, out);
    struct intake_spool_stats st;
    if (intake_spool_stats(sp, &st) == INTAKE_SPOOL_OK)
        fprintf(out, "\nitems: %ld processed, %ld waiting, %ld quarantined; deliveries: %ld "
                "done, %ld pending, %ld dead\n", st.items_processed, st.items_new,
                st.items_quarantined, st.deliveries_done, st.deliveries_pending,
                st.deliveries_dead);
    intake_spool_close(sp);
}
