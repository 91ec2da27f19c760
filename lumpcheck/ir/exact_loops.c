/* Compiled loops of the reducer's float fast path (lumpcheck/ir/fastpath.py is the only caller; it checks
 * dtypes, shapes and index ranges before calling). Nothing here decides a merge by rounding: every value written is
 * either proven exact by an error-free test or flagged/undecided for the exact (Fraction) path in Python.
 *
 * IEEE binary64 with round to nearest and gradual underflow is assumed (the Python side checks gradual underflow);
 * the build passes -ffp-contract=off so that no a*b+c is fused: the error-free tests rely on each operation rounding
 * on its own.  Arrays come through the buffer protocol (no numpy C API, so no numpy needed at build time).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    Py_buffer view;
    int ok;
} Buf;

/* The buffer of `obj` with one of the format chars `fmts`, `ndim` dimensions, last axis contiguous; integer formats
 * ("lq": int64, "LQ": uint64) must be 8 bytes wide, "i" (int32) 4. */
static int get(PyObject *obj, Buf *b, const char *fmts, int ndim, int writable) {
    b->ok = 0;
    if (PyObject_GetBuffer(obj, &b->view, PyBUF_RECORDS_RO | (writable ? PyBUF_WRITABLE : 0)) < 0) return -1;
    b->ok = 1;
    const char *f = b->view.format ? b->view.format : "B";
    if (*f == '<' || *f == '=' || *f == '@') f++;
    if (f[0] == 0 || f[1] != 0 || !strchr(fmts, f[0]) || b->view.ndim != ndim
        || (ndim && b->view.strides[ndim - 1] != b->view.itemsize)
        || (strchr("lqLQ", f[0]) && b->view.itemsize != 8) || (f[0] == 'i' && b->view.itemsize != 4)) {
        PyErr_Format(PyExc_ValueError, "exact_loops: array of format %s / %d dims given, %s / %d dims with a "
                     "contiguous last axis expected", b->view.format, b->view.ndim, fmts, ndim);
        return -1;
    }
    return 0;
}

/* 0 when every entry of the int64 index buffer `b` is in 0..bound-1, else -1 with a ValueError naming `what`. */
static int in_range(const Buf *b, Py_ssize_t bound, const char *what) {
    const int64_t *x = b->view.buf;
    for (Py_ssize_t k = 0; k < b->view.shape[0]; k++)
        if (x[k] < 0 || x[k] >= bound) {
            PyErr_Format(PyExc_ValueError, "%s: indices outside 0..%zd", what, bound - 1);
            return -1;
        }
    return 0;
}

static void release(Buf *b) {
    if (b->ok) PyBuffer_Release(&b->view);
    b->ok = 0;
}

static inline int is_float32(const Buf *b) { return b->view.itemsize == 4; }

static inline double at1(const Buf *b, Py_ssize_t i) {  /* a float32 or float64 1-d entry */
    const char *p = (const char *)b->view.buf + i * b->view.strides[0];
    return is_float32(b) ? (double)*(const float *)p : *(const double *)p;
}

/* Dekker's TwoProduct (Veltkamp split): p + e == a*b exactly when both are 0 or in [2^-480, 2^480]. */
static inline int eft_safe(double x) {
    double ax = fabs(x);
    return ax == 0.0 || (ax >= 0x1p-480 && ax <= 0x1p480);
}

static inline void split(double a, double *hi, double *lo) {
    double t = 134217729.0 * a; /* 2^27 + 1 */
    *hi = t - (t - a);
    *lo = a - *hi;
}

static inline double two_product_err(double a, double b, double p) {
    double ah, al, bh, bl;
    split(a, &ah, &al);
    split(b, &bh, &bl);
    return ((ah * bh - p) + ah * bl + al * bh) + al * bl;
}

typedef double v2d __attribute__((vector_size(16))); /* SSE2 (the x86-64 baseline): 2 lanes; GCC/Clang vectors */
typedef int64_t v2i __attribute__((vector_size(16)));

#include "exact_aggregate.h"

/* ------------------------------------------------------------------ row keys
 * For each listed row s of [a | b] (m columns of a, then b): pivot p = its first nonzero entry (m for an all-zero
 * row); row_key: the wrapping uint64 sum over c of bits(entry cols[c] / lead + 0.0) * mu[c] (cols NULL: all m + 1
 * entries), lead = the pivot value (mode 0), its absolute value (1), its sign (2) or 1 (3), and 1 for an all-zero
 * row. Exactly proportional rows (by a factor the mode divides out) get equal keys: IEEE division rounds equal exact
 * quotients identically, and the integer hash of the bits has no rounding at all. */
#define ROW_KEY(T)                                                                                         \
    static uint64_t row_key_##T(const T *row, double bias, Py_ssize_t m, Py_ssize_t p, int mode,           \
                                const int64_t *cols, Py_ssize_t nc, const uint64_t *mu) {                  \
        double lead = p < m ? (double)row[p] : bias;                                                       \
        if (lead == 0.0 || mode == 3) lead = 1.0;                                                          \
        else if (mode == 1) lead = fabs(lead);                                                             \
        else if (mode == 2) lead = lead > 0 ? 1.0 : -1.0;                                                  \
        uint64_t h = 0, bits[2];                                                                           \
        Py_ssize_t c = 0;                                                                                  \
        for (; c + 1 < nc; c += 2) { /* two lanes: the same IEEE division per entry, half the instructions */ \
            Py_ssize_t j0 = cols ? cols[c] : c, j1 = cols ? cols[c + 1] : c + 1;                           \
            v2d q = (v2d){j0 < m ? (double)row[j0] : bias, j1 < m ? (double)row[j1] : bias} / lead + 0.0;  \
            memcpy(bits, &q, 16);                                                                          \
            h += bits[0] * mu[c] + bits[1] * mu[c + 1];                                                    \
        }                                                                                                  \
        for (; c < nc; c++) {                                                                              \
            Py_ssize_t j = cols ? cols[c] : c;                                                             \
            double q = (j < m ? (double)row[j] : bias) / lead + 0.0; /* -0.0 -> +0.0 */                    \
            memcpy(bits, &q, 8);                                                                           \
            h += bits[0] * mu[c];                                                                          \
        }                                                                                                  \
        return h;                                                                                          \
    }
ROW_KEY(float)
ROW_KEY(double)

#define KEY_ROWS(T)                                                                                        \
    for (Py_ssize_t i = 0; i < n; i++) {                                                                   \
        Py_ssize_t s = r[i], p = 0;                                                                        \
        const T *row = (const T *)((const char *)a.view.buf + s * a.view.strides[0]);                      \
        while (p < m && row[p] == 0) p++;                                                                  \
        k[i] = row_key_##T(row, at1(&b, s), m, p, mode, cols, nc, mu);                                     \
        pv[i] = p;                                                                                         \
    }

static PyObject *row_keys(PyObject *self, PyObject *args) {
    PyObject *oa, *ob, *orows, *ocols, *omult, *okeys, *opiv;
    int mode;
    if (!PyArg_ParseTuple(args, "OOOOiOOO", &oa, &ob, &orows, &ocols, &mode, &omult, &okeys, &opiv)) return NULL;
    Buf a = {0}, b = {0}, rows = {0}, bcols = {0}, mult = {0}, keys = {0}, piv = {0};
    PyObject *result = NULL;
    if (get(oa, &a, "fd", 2, 0) || get(ob, &b, "fd", 1, 0) || get(orows, &rows, "lq", 1, 0)
        || get(ocols, &bcols, "lq", 1, 0) || get(omult, &mult, "LQ", 1, 0) || get(okeys, &keys, "LQ", 1, 1)
        || get(opiv, &piv, "lq", 1, 1) || in_range(&rows, a.view.shape[0], "row_keys: rows")
        || in_range(&bcols, a.view.shape[1] + 1, "row_keys: cols"))
        goto done;
    Py_ssize_t n = rows.view.shape[0], m = a.view.shape[1], nc = bcols.view.shape[0];
    const int64_t *r = rows.view.buf, *cols = bcols.view.buf;
    const uint64_t *mu = mult.view.buf;
    uint64_t *k = keys.view.buf;
    int64_t *pv = piv.view.buf;
    Py_BEGIN_ALLOW_THREADS
    if (is_float32(&a)) {
        KEY_ROWS(float)
    } else {
        KEY_ROWS(double)
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release(&a); release(&b); release(&rows); release(&bcols); release(&mult); release(&keys); release(&piv);
    return result;
}

/* ------------------------------------------------------------------ proportional rows
 * For each pair k, x = [xa | xb] row xi[k], y = [ya | yb] row yi[k] (xa, ya of one dtype), p = piv[k] (a column, m
 * = the bias): status[k] = 1 if x = (x_p / y_p) * y exactly, 0 if not, 2 if undecided here (the caller decides it
 * exactly). x_p or y_p zero: 0. Equal pivots: x == y. Pivots whose ratio is +-2^d: the side with the smaller pivot
 * is scaled by 2^|d| (exact but for overflow, which gives inf and no match) and compared. Otherwise x*y_p == y*x_p
 * compared as Dekker (hi, lo) pairs when every factor is in the safe range, else undecided. */
static inline int prop_entry(double x, double y, int how, double scale, double num, double den) {
    if (how == 0) return x == y;
    if (how == 1) return y * scale == x;
    if (how == 2) return x * scale == y;
    if (!eft_safe(x) || !eft_safe(y)) return 2;
    double ph = x * den, qh = y * num;
    return ph == qh && two_product_err(x, den, ph) == two_product_err(y, num, qh);
}

/* prop_entry over the m entries of a row pair, one loop per case (the common cases compare without branches). */
#define PROP_ROW(T, x, y)                                                                                  \
    if (how == 0) {                                                                                        \
        int diff = 0;                                                                                      \
        for (Py_ssize_t j = 0; j < m; j++) diff |= x[j] != y[j];                                           \
        res = !diff;                                                                                       \
    } else if (how == 1 || how == 2) {                                                                     \
        const T *up = how == 1 ? y : x, *to = how == 1 ? x : y;                                            \
        int diff = 0;                                                                                      \
        for (Py_ssize_t j = 0; j < m; j++) diff |= (double)up[j] * scale != (double)to[j];                 \
        res = !diff;                                                                                       \
    } else {                                                                                               \
        for (Py_ssize_t j = 0; j < m && res == 1; j++) res = prop_entry(x[j], y[j], how, scale, num, den); \
    }

#define PROP_PAIRS(T)                                                                                      \
    for (Py_ssize_t k = 0; k < n; k++) {                                                                   \
        const T *x = (const T *)((const char *)xa.view.buf + xi[k] * xa.view.strides[0]);                  \
        const T *y = (const T *)((const char *)ya.view.buf + yi[k] * ya.view.strides[0]);                  \
        double xbias = at1(&xb, xi[k]), ybias = at1(&yb, yi[k]);                                           \
        Py_ssize_t p = piv[k];                                                                             \
        double num = p < m ? (double)x[p] : xbias, den = p < m ? (double)y[p] : ybias, scale = 1.0;        \
        int how = 3, res = 1;                                                                              \
        if (num == 0.0 || den == 0.0) {                                                                    \
            st[k] = 0;                                                                                     \
            continue;                                                                                      \
        }                                                                                                  \
        int en, ed;                                                                                        \
        double mn = frexp(num, &en), md = frexp(den, &ed);                                                 \
        if (num == den) {                                                                                  \
            how = 0;                                                                                       \
        } else if (fabs(mn) == fabs(md)) {                                                                 \
            int shift = en - ed;                                                                           \
            if (shift > 1000 || shift < -1000) {                                                           \
                st[k] = 2;                                                                                 \
                continue;                                                                                  \
            }                                                                                              \
            how = shift >= 0 ? 1 : 2;                                                                      \
            scale = ldexp((num > 0) == (den > 0) ? 1.0 : -1.0, shift >= 0 ? shift : -shift);               \
        } else if (!eft_safe(num) || !eft_safe(den)) {                                                     \
            st[k] = 2;                                                                                     \
            continue;                                                                                      \
        }                                                                                                  \
        res = prop_entry(xbias, ybias, how, scale, num, den);                                              \
        if (res == 1) {                                                                                    \
            PROP_ROW(T, x, y)                                                                              \
        }                                                                                                  \
        st[k] = (unsigned char)res;                                                                        \
    }

static PyObject *proportional(PyObject *self, PyObject *args) {
    PyObject *oxa, *oxb, *oxi, *oya, *oyb, *oyi, *opiv, *oout;
    if (!PyArg_ParseTuple(args, "OOOOOOOO", &oxa, &oxb, &oxi, &oya, &oyb, &oyi, &opiv, &oout)) return NULL;
    Buf xa = {0}, xb = {0}, xi_ = {0}, ya = {0}, yb = {0}, yi_ = {0}, piv_ = {0}, out = {0};
    PyObject *result = NULL;
    if (get(oxa, &xa, "fd", 2, 0) || get(oxb, &xb, "fd", 1, 0) || get(oxi, &xi_, "lq", 1, 0)
        || get(oya, &ya, "fd", 2, 0) || get(oyb, &yb, "fd", 1, 0) || get(oyi, &yi_, "lq", 1, 0)
        || get(opiv, &piv_, "lq", 1, 0) || get(oout, &out, "B", 1, 1))
        goto done;
    if (in_range(&xi_, xa.view.shape[0], "proportional: xi") || in_range(&yi_, ya.view.shape[0], "proportional: yi")
        || in_range(&piv_, xa.view.shape[1] + 1, "proportional: pivot"))
        goto done;
    if (xa.view.itemsize != ya.view.itemsize) {
        PyErr_SetString(PyExc_ValueError, "exact_loops.proportional: x and y of different dtypes");
        goto done;
    }
    Py_ssize_t n = xi_.view.shape[0], m = xa.view.shape[1];
    const int64_t *xi = xi_.view.buf, *yi = yi_.view.buf, *piv = piv_.view.buf;
    unsigned char *st = out.view.buf;
    Py_BEGIN_ALLOW_THREADS
    if (is_float32(&xa)) {
        PROP_PAIRS(float)
    } else {
        PROP_PAIRS(double)
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    release(&xa); release(&xb); release(&xi_); release(&ya); release(&yb); release(&yi_); release(&piv_);
    release(&out);
    return result;
}

/* ------------------------------------------------------------------ classes
 * The reducer's grouping in one pass over the rows of [a | b] (m columns, then b): for each listed row s (in order),
 * its pivot (first nonzero column, m for an all-zero row) and a key over the sampled columns `cols` (as row_keys,
 * mode `mode`); rows with equal keys are candidates, and s joins the first earlier kept row r with an equal key (the
 * first candidate is tested at once; the others, when the sample is not the whole row, only if their whole-row keys
 * are equal too: a chain of near-misses costs one key each) for which `same_ray` proves s = c·r EXACTLY with c
 * admissible (`admit`: 0 any c != 0, 1 c > 0, 2 c = +-1, 3 c = 1); else s is kept. Admissible proportionality is an
 * equivalence, so at most one kept row can match and the classes are the coarsest (each represented by its lowest
 * row). rep[i] = the row s joins (s itself when kept), piv[i] = its pivot, rc[i] = the index of its factor in the
 * distinct float factors rv (sorted ascending; returned: their number), -1 for a kept row and for a factor that is no
 * float (float_ratio: NaN) or finds rv full. No rounding decides anything: keys only propose (equal exact quotients
 * round alike), `same_ray` compares exactly for every finite value. */

/* |hi + lo| < 1/2 exactly (hi = fl(hi + lo)). */
static inline int below_half(double hi, double lo) {
    double ah = fabs(hi);
    return ah < 0.5 || (ah == 0.5 && (hi > 0 ? lo < 0 : lo > 0));
}

/* x*den == y*num exactly, for finite x, y and nonzero finite num, den: the significands (in [1/2, 1)) multiply
 * error-free (Dekker: hi + lo exact, always in range), each product is brought to [1/2, 1) by an exact doubling,
 * and equal values then have equal exponents, highs and lows. */
static inline int cross_equal(double x, double y, double num, double den) {
    if (x == 0.0 || y == 0.0) return x == 0.0 && y == 0.0;
    int ex, ey, en, ed;
    double mx = frexp(x, &ex), my = frexp(y, &ey), mn = frexp(num, &en), md = frexp(den, &ed);
    double ph = mx * md, qh = my * mn;
    double pl = two_product_err(mx, md, ph), ql = two_product_err(my, mn, qh);
    int a = ex + ed, b = ey + en;
    if (below_half(ph, pl)) ph *= 2.0, pl *= 2.0, a--;
    if (below_half(qh, ql)) qh *= 2.0, ql *= 2.0, b--;
    return a == b && ph == qh && pl == ql;
}

/* The bits of u - v: with gradual underflow (the callers check it) u - v is +-0 exactly when u == v, for finite u, v;
 * it is nonzero, inf or NaN otherwise (u or v NaN or infinite included: inf == inf counts as different). ORed over a
 * row and shifted left by one (the sign bits out), it is 0 exactly when every pair is equal: a branch-free loop the
 * compiler vectorises, unlike a chain of NaN-aware compares. */
static inline uint64_t differ_bits(double u, double v) {
    double d = u - v;
    uint64_t bits;
    memcpy(&bits, &d, 8);
    return bits;
}

/* differ_bits(u[j]·scale, v[j]) ORed over j < m, two entries per vector operation (scale 1.0: u[j] itself). */
#define DIFFER_ROW(T)                                                                                      \
    static inline uint64_t differ_row_##T(const T *u, double scale, const T *v, Py_ssize_t m) {            \
        v2i acc = {0, 0};                                                                                  \
        Py_ssize_t j = 0;                                                                                  \
        for (; j + 1 < m; j += 2)                                                                          \
            acc |= (v2i)((v2d){(double)u[j], (double)u[j + 1]} * scale - (v2d){(double)v[j], (double)v[j + 1]}); \
        uint64_t out = (uint64_t)(acc[0] | acc[1]);                                                        \
        for (; j < m; j++) out |= differ_bits((double)u[j] * scale, v[j]);                                 \
        return out;                                                                                        \
    }
DIFFER_ROW(float)
DIFFER_ROW(double)

/* Is x = (num/den)·y exactly, num = x[p], den = y[p] (rows of m entries, then the biases), with num/den admissible?
 * den == 0: y is all zero (p is its first nonzero), so x must be too. Equal pivots: x == y. Pivots whose ratio is
 * +-2^k (|k| <= 1000): the row with the smaller pivot is scaled up by 2^|k| (exact but for overflow, which gives inf
 * and no match) and compared. Otherwise cross_equal on every entry. */
#define SAME_RAY(T)                                                                                        \
    static int same_ray_##T(const T *x, double xb, const T *y, double yb, Py_ssize_t m, Py_ssize_t p, int admit) { \
        double num = p < m ? (double)x[p] : xb, den = p < m ? (double)y[p] : yb;                           \
        if (den == 0.0) {                                                                                  \
            if (num != 0.0 || xb != 0.0) return 0;                                                         \
            for (Py_ssize_t j = 0; j < m; j++)                                                             \
                if (x[j] != 0) return 0;                                                                   \
            return 1;                                                                                      \
        }                                                                                                  \
        if (num == 0.0) return 0;                                                                          \
        if ((admit == 1 && (num > 0) != (den > 0)) || (admit == 2 && fabs(num) != fabs(den))               \
            || (admit == 3 && num != den))                                                                 \
            return 0;                                                                                      \
        int en, ed;                                                                                        \
        double mn = frexp(num, &en), md = frexp(den, &ed);                                                 \
        uint64_t diff = 0; /* the OR of the bits of every u - v: see differ_bits */                        \
        if (num == den) {                                                                                  \
            diff = differ_bits(xb, yb) | differ_row_##T(x, 1.0, y, m);                                     \
        } else if (fabs(mn) == fabs(md) && en - ed <= 1000 && ed - en <= 1000) {                           \
            int up = en >= ed; /* scale y up when x has the larger pivot, else x */                       \
            double scale = ldexp((num > 0) == (den > 0) ? 1.0 : -1.0, up ? en - ed : ed - en);             \
            const T *lo = up ? y : x, *hi = up ? x : y;                                                    \
            diff = differ_bits((up ? yb : xb) * scale, up ? xb : yb) | differ_row_##T(lo, scale, hi, m);   \
        } else {                                                                                           \
            if (!cross_equal(xb, yb, num, den)) return 0;                                                  \
            for (Py_ssize_t j = 0; j < m; j++)                                                             \
                if (!cross_equal(x[j], y[j], num, den)) return 0;                                          \
        }                                                                                                  \
        return (diff << 1) == 0; /* no bit but sign bits: every u == v */                                  \
    }
SAME_RAY(float)
SAME_RAY(double)


/* num/den when that float is the ratio exactly (equal significands: +-2^k, neither overflowed nor underflowed to 0),
 * 1.0 for den == 0 (two all-zero rows), NaN otherwise (the caller divides exactly). */
#define RATIOS_MAX 64

static double float_ratio(double num, double den) {
    if (den == 0.0) return 1.0;
    int en, ed;
    double q = num / den;
    return fabs(frexp(num, &en)) == fabs(frexp(den, &ed)) && isfinite(q) && q != 0.0 ? q : NAN;
}

/* The index of ratio q in the distinct ratios vals[0..*nv) (added when new and there is room: cap), -1 for NaN or no
 * room (the caller then divides the pivots exactly, as for NaN). */
static int64_t ratio_code(double q, double *vals, Py_ssize_t *nv, Py_ssize_t cap) {
    if (isnan(q)) return -1;
    for (Py_ssize_t k = 0; k < *nv; k++)
        if (vals[k] == q) return k;
    if (*nv == cap) return -1;
    vals[*nv] = q;
    return (*nv)++;
}

/* vals sorted ascending (insertion sort: a few values) and the codes renumbered to match. */
static void sort_ratios(double *vals, Py_ssize_t nv, int64_t *code, Py_ssize_t n) {
    int64_t rank[RATIOS_MAX];
    for (Py_ssize_t k = 0; k < nv; k++) {
        rank[k] = 0;
        for (Py_ssize_t q = 0; q < nv; q++) rank[k] += vals[q] < vals[k];
    }
    double sorted[RATIOS_MAX];
    for (Py_ssize_t k = 0; k < nv; k++) sorted[rank[k]] = vals[k];
    memcpy(vals, sorted, nv * sizeof *vals);
    for (Py_ssize_t i = 0; i < n; i++)
        if (code[i] >= 0) code[i] = rank[code[i]];
}

#define ROW_OF(T, s) ((const T *)((const char *)a.view.buf + (s) * a.view.strides[0]))
#define CLASS_ROWS(T)                                                                                      \
    for (Py_ssize_t i = 0; i < n; i++) {                                                                   \
        Py_ssize_t s = r[i], p = 0;                                                                        \
        const T *row = ROW_OF(T, s);                                                                       \
        double bias = at1(&b, s);                                                                          \
        while (p < m && row[p] == 0) p++;                                                                  \
        pv[i] = p;                                                                                         \
        rep[i] = s;                                                                                        \
        rc[i] = -1;                                                                                        \
        uint64_t key = row_key_##T(row, bias, m, p, mode, cols, nc, mus);                                  \
        size_t slot = (size_t)(key * 0x9E3779B97F4A7C15ull) >> shift;                                      \
        while (head[slot] >= 0 && keys[slot] != key) slot = (slot + 1) & (cap - 1);                        \
        if (head[slot] < 0) {                                                                              \
            keys[slot] = key, head[slot] = i, next[i] = -1;                                                \
            continue;                                                                                      \
        }                                                                                                  \
        int have = 0, tried = 0;                                                                           \
        uint64_t full = 0;                                                                                 \
        for (Py_ssize_t j = head[slot]; j >= 0; j = next[j]) {                                             \
            if (pv[j] != p) continue; /* proportional rows share their zeros */                            \
            if (!whole && tried++) { /* after one failed test, whole-row keys filter the others */         \
                if (!have) full = row_key_##T(row, bias, m, p, mode, NULL, m + 1, muf), have = 1;          \
                if (!has_full[j])                                                                          \
                    fulls[j] = row_key_##T(ROW_OF(T, r[j]), at1(&b, r[j]), m, p, mode, NULL, m + 1, muf),  \
                    has_full[j] = 1;                                                                       \
                if (fulls[j] != full) continue;                                                            \
            }                                                                                              \
            if (same_ray_##T(row, bias, ROW_OF(T, r[j]), at1(&b, r[j]), m, p, admit)) {                    \
                rep[i] = r[j];                                                                             \
                rc[i] = ratio_code(float_ratio(p < m ? (double)row[p] : bias,                              \
                                               p < m ? (double)ROW_OF(T, r[j])[p] : at1(&b, r[j])),        \
                                   rv, &nv, cap_rv);                                                       \
                break;                                                                                     \
            }                                                                                              \
        }                                                                                                  \
        if (rep[i] == s) next[i] = head[slot], head[slot] = i;                                             \
    }

static PyObject *classes(PyObject *self, PyObject *args) {
    PyObject *oa, *ob, *orows, *ocols, *omus, *omuf, *orep, *opiv, *ocode, *ovals;
    int mode, admit;
    if (!PyArg_ParseTuple(args, "OOOOiiOOOOOO", &oa, &ob, &orows, &ocols, &mode, &admit, &omus, &omuf, &orep, &opiv,
                          &ocode, &ovals))
        return NULL;
    Buf a = {0}, b = {0}, rows = {0}, bcols = {0}, bmus = {0}, bmuf = {0}, brep = {0}, piv = {0}, bcode = {0};
    Buf bvals = {0};
    PyObject *result = NULL;
    int64_t *head = NULL, *next = NULL;
    uint64_t *keys = NULL, *fulls = NULL;
    char *has_full = NULL;
    if (get(oa, &a, "fd", 2, 0) || get(ob, &b, "fd", 1, 0) || get(orows, &rows, "lq", 1, 0)
        || get(ocols, &bcols, "lq", 1, 0) || get(omus, &bmus, "LQ", 1, 0) || get(omuf, &bmuf, "LQ", 1, 0)
        || get(orep, &brep, "lq", 1, 1) || get(opiv, &piv, "lq", 1, 1) || get(ocode, &bcode, "lq", 1, 1)
        || get(ovals, &bvals, "d", 1, 1) || in_range(&rows, a.view.shape[0], "classes: rows")
        || in_range(&bcols, a.view.shape[1] + 1, "classes: cols"))
        goto done;
    Py_ssize_t n = rows.view.shape[0], m = a.view.shape[1], nc = bcols.view.shape[0];
    if (bmus.view.shape[0] < nc || bmuf.view.shape[0] < m + 1 || brep.view.shape[0] < n || piv.view.shape[0] < n
        || bcode.view.shape[0] < n) {
        PyErr_SetString(PyExc_ValueError, "exact_loops.classes: multipliers or outputs too short");
        goto done;
    }
    size_t cap = 2;
    int shift = 63;
    while (cap < 2 * (size_t)n) cap <<= 1, shift--;
    head = malloc(cap * sizeof *head), keys = malloc(cap * sizeof *keys);
    next = malloc((n ? n : 1) * sizeof *next), fulls = malloc((n ? n : 1) * sizeof *fulls);
    has_full = calloc(n ? n : 1, 1);
    if (!head || !keys || !next || !fulls || !has_full) {
        PyErr_NoMemory();
        goto done;
    }
    for (size_t k = 0; k < cap; k++) head[k] = -1;
    const int64_t *r = rows.view.buf, *cols = bcols.view.buf;
    const uint64_t *mus = bmus.view.buf, *muf = bmuf.view.buf;
    int64_t *rep = brep.view.buf, *pv = piv.view.buf;
    int64_t *rc = bcode.view.buf;
    double *rv = bvals.view.buf;
    Py_ssize_t nv = 0, cap_rv = bvals.view.shape[0] < RATIOS_MAX ? bvals.view.shape[0] : RATIOS_MAX;
    int whole = nc == m + 1;
    Py_BEGIN_ALLOW_THREADS
    if (is_float32(&a)) {
        CLASS_ROWS(float)
    } else {
        CLASS_ROWS(double)
    }
    sort_ratios(rv, nv, rc, n);
    Py_END_ALLOW_THREADS
    result = PyLong_FromSsize_t(nv);
done:
    free(head); free(keys); free(next); free(fulls); free(has_full);
    release(&a); release(&b); release(&rows); release(&bcols); release(&bmus); release(&bmuf); release(&brep);
    release(&piv); release(&bcode); release(&bvals);
    return result;
}

#include "exact_maps.h"

static PyMethodDef methods[] = {
    {"aggregate", aggregate, METH_VARARGS,
     "aggregate(w, src, dst, code, fac, width, out, flag) -> flagged count"},
    {"row_keys", row_keys, METH_VARARGS, "row_keys(a, b, rows, cols, mode, mult, keys, pivots)"},
    {"proportional", proportional, METH_VARARGS, "proportional(xa, xb, xi, ya, yb, yi, piv, status)"},
    {"classes", classes, METH_VARARGS,
     "classes(a, b, rows, cols, mode, admit, mult_cols, mult_all, rep, pivots, ratio_codes, ratios) -> ratio count"},
    {"lumped_maps", lumped_maps, METH_VARARGS,
     "lumped_maps(n, fixed, member, rep, fcode, one, r_kept, r_dup, r_prop, cls, factor, reason, reps) -> kept"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "exact_loops", NULL, -1, methods};

PyMODINIT_FUNC PyInit_exact_loops(void) { return PyModule_Create(&module); }
