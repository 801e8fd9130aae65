/* gen_sample_pdf.c - writes samples/en/aurora-x2-warranty.pdf: a two-page
 * PDF made with cairo's PDF surface (cairo comes with poppler-glib), so the
 * sample corpus has a real PDF whose page numbers show up in citations.
 * Build and run: scripts/gen-sample-pdf.sh */
#include <cairo-pdf.h>
#include <cairo.h>
#include <stdio.h>
#include <string.h>

static const char *page1[] = {
    "# Aurora X2 Limited Warranty",
    "",
    "## Coverage",
    "Northwind Instruments warrants the Aurora X2 smart speaker against defects",
    "in materials and workmanship for two years from the date of purchase.",
    "The supplied charger and cable are covered for one year.",
    "",
    "## What is not covered",
    "The warranty does not cover damage caused by water, drops, unauthorized",
    "repairs or the use of uncertified chargers. Normal battery wear is not a defect",
    "unless the battery holds less than 70 percent of its original capacity",
    "within the warranty period.",
    NULL};
static const char *page2[] = {
    "## How to make a warranty claim",
    "",
    "Contact customer support in the Northwind Home app and describe the problem.",
    "Keep your receipt: proof of purchase is required for every warranty claim.",
    "If the speaker is defective we repair or replace it free of charge within",
    "10 business days. Replacement devices are covered for the rest of the",
    "original warranty period or 90 days, whichever is longer.",
    "",
    "This warranty is in addition to your statutory consumer rights.",
    NULL};

/* Lines starting with "# " are set as a title (18 pt bold), "## " as a
 * section heading (14 pt bold), the rest as body text (11 pt). */
static void page(cairo_t *cr, const char *const *lines) {
    double y = 72;
    for (int i = 0; lines[i]; i++) {
        const char *t = lines[i];
        int level = !strncmp(t, "## ", 3) ? 2 : !strncmp(t, "# ", 2) ? 1 : 0;
        if (level) t += level + 1;
        double size = level == 1 ? 18 : level == 2 ? 14 : 11;
        cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL,
                               level ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, size);
        if (level) y += 6;
        cairo_move_to(cr, 60, y);
        cairo_show_text(cr, t);
        y += size + 6;
    }
    cairo_show_page(cr);
}

int main(int argc, char **argv) {
    const char *out = argc > 1 ? argv[1] : "samples/en/aurora-x2-warranty.pdf";
    cairo_surface_t *s = cairo_pdf_surface_create(out, 595, 842); /* A4 in points */
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_TITLE, "Aurora X2 Limited Warranty");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_AUTHOR, "Northwind Instruments");
    cairo_pdf_surface_set_metadata(s, CAIRO_PDF_METADATA_CREATE_DATE, "2026-03-01T00:00:00Z");
    cairo_t *cr = cairo_create(s);
    page(cr, page1);
    page(cr, page2);
    cairo_destroy(cr);
    cairo_surface_finish(s);
    int rc = cairo_surface_status(s) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(s);
    if (rc) fprintf(stderr, "gen_sample_pdf: cannot write %s\n", out);
    return rc;
}
