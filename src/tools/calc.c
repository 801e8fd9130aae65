/* calc.c - the calculator tool: a recursive-descent evaluator with a
 * depth limit (hostile input cannot blow the stack). */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/tools.h"

#define CALC_MAX_DEPTH 64
#define CALC_MAX_LEN 4096

typedef struct {
    const char *s;
    size_t n, i;
    int depth;
    rg_err *err;
    rg_status rc;
} P;

static void ws(P *p) {
    while (p->i < p->n && isspace((unsigned char)p->s[p->i])) p->i++;
}

static int fail(P *p, const char *what) {
    if (!p->rc) p->rc = rg_failf(p->err, RG_FORMAT, "calc: %s at offset %zu", what, p->i);
    return -1;
}

static double expr(P *p);

static double primary(P *p) {
    ws(p);
    if (p->rc) return 0;
    if (++p->depth > CALC_MAX_DEPTH) return fail(p, "expression nested too deeply"), 0;
    double v = 0;
    if (p->i >= p->n) {
        fail(p, "unexpected end of expression");
    } else if (p->s[p->i] == '(') {
        p->i++;
        v = expr(p);
        ws(p);
        if (p->i < p->n && p->s[p->i] == ')') p->i++;
        else fail(p, "expected ')'");
    } else if (p->s[p->i] == '-' || p->s[p->i] == '+') {
        int neg = p->s[p->i++] == '-';
        v = primary(p);
        if (neg) v = -v;
    } else if (isdigit((unsigned char)p->s[p->i]) || p->s[p->i] == '.') {
        char buf[128];
        size_t j = 0;
        while (p->i + j < p->n && j < sizeof buf - 1 &&
               (isalnum((unsigned char)p->s[p->i + j]) || p->s[p->i + j] == '.' ||
                ((p->s[p->i + j] == '-' || p->s[p->i + j] == '+') && j > 0 &&
                 (p->s[p->i + j - 1] == 'e' || p->s[p->i + j - 1] == 'E') &&
                 !(buf[0] == '0' && (buf[1] == 'x' || buf[1] == 'X'))))) {
            buf[j] = p->s[p->i + j];
            j++;
        }
        buf[j] = '\0';
        char *end;
        v = strtod(buf, &end);
        if (end == buf || *end) return fail(p, "malformed number"), 0;
        p->i += j;
    } else if (isalpha((unsigned char)p->s[p->i])) {
        char name[16];
        size_t j = 0;
        while (p->i < p->n && isalnum((unsigned char)p->s[p->i]) && j < sizeof name - 1)
            name[j++] = p->s[p->i++];
        name[j] = '\0';
        if (!strcmp(name, "pi")) v = M_PI;
        else if (!strcmp(name, "e")) v = M_E;
        else {
            ws(p);
            if (p->i >= p->n || p->s[p->i] != '(') return fail(p, "unknown name"), 0;
            p->i++;
            double a = expr(p), b = 0;
            int two = !strcmp(name, "min") || !strcmp(name, "max") || !strcmp(name, "pow");
            ws(p);
            if (two) {
                if (p->i < p->n && p->s[p->i] == ',') p->i++;
                else return fail(p, "expected ','"), 0;
                b = expr(p);
                ws(p);
            }
            if (p->i < p->n && p->s[p->i] == ')') p->i++;
            else return fail(p, "expected ')'"), 0;
            if (!strcmp(name, "sqrt")) v = sqrt(a);
            else if (!strcmp(name, "abs")) v = fabs(a);
            else if (!strcmp(name, "ln")) v = log(a);
            else if (!strcmp(name, "log10")) v = log10(a);
            else if (!strcmp(name, "log2")) v = log2(a);
            else if (!strcmp(name, "exp")) v = exp(a);
            else if (!strcmp(name, "sin")) v = sin(a);
            else if (!strcmp(name, "cos")) v = cos(a);
            else if (!strcmp(name, "tan")) v = tan(a);
            else if (!strcmp(name, "floor")) v = floor(a);
            else if (!strcmp(name, "ceil")) v = ceil(a);
            else if (!strcmp(name, "round")) v = round(a);
            else if (!strcmp(name, "min")) v = fmin(a, b);
            else if (!strcmp(name, "max")) v = fmax(a, b);
            else if (!strcmp(name, "pow")) v = pow(a, b);
            else return fail(p, "unknown function"), 0;
        }
    } else {
        fail(p, "unexpected character");
    }
    p->depth--;
    return v;
}

static double power(P *p) {
    double b = primary(p);
    ws(p);
    if (!p->rc && p->i < p->n && p->s[p->i] == '^') {
        p->i++;
        if (++p->depth > CALC_MAX_DEPTH) return fail(p, "expression nested too deeply"), 0;
        double e = power(p); /* right associative */
        p->depth--;
        return pow(b, e);
    }
    return b;
}

static double term(P *p) {
    double v = power(p);
    for (;;) {
        ws(p);
        if (p->rc || p->i >= p->n) return v;
        char c = p->s[p->i];
        if (c != '*' && c != '/' && c != '%') return v;
        p->i++;
        double r = power(p);
        if (c == '*') v *= r;
        else if (c == '/') v /= r;
        else v = fmod(v, r);
    }
}

static double expr(P *p) {
    double v = term(p);
    for (;;) {
        ws(p);
        if (p->rc || p->i >= p->n) return v;
        char c = p->s[p->i];
        if (c != '+' && c != '-') return v;
        p->i++;
        double r = term(p);
        v = c == '+' ? v + r : v - r;
    }
}

rg_status rg_calc_eval(const char *s, size_t n, double *out, rg_err *err) {
    if (n > CALC_MAX_LEN)
        return rg_failf(err, RG_LIMIT, "calc: expression of %zu bytes is over the limit of %d", n,
                        CALC_MAX_LEN);
    P p = {s, n, 0, 0, err, RG_OK};
    double v = expr(&p);
    ws(&p);
    if (!p.rc && p.i < p.n) fail(&p, "unexpected trailing input");
    if (p.rc) return p.rc;
    if (!isfinite(v)) return rg_failf(err, RG_INVALID, "calc: result is not a finite number");
    *out = v;
    return RG_OK;
}
