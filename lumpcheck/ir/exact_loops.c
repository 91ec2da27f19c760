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

/* ------------------------------------------------------------------ aggregate
 * out[s, j] = the sum over the terms t with dst[t] = j of fac[code[t]] * w[s, src[t]], in float64, for every row s and
 * every j < width (0.0 where no term has j). Each column's first term (in the given order) is written, the others
 * are added on in their order (given sorted by src, a row is read forwards). Products p = x*c are checked as `check`
 * says: 0, not at all (the caller has proven them exact: float32 x times 2^k with -925 <= k <= 896 is a float64);
 * 1, p * inv == x (c = +-2^k, inv = 1/c: if p rounded or overflowed, scaling it back cannot give x); 2, Dekker's
 * error is 0 within the safe range. When every first term's factor is 1.0 its products are the weights themselves.
 * Each sum s = a + p is checked: s - a == p and s - p == a (the Fast2Sum argument: the difference with the larger
 * operand is exact), which also rejects overflow. Rows with any failed check are done again with a flag per entry
 * (flag[s, j] = 1: not proven exact; the other rows' flags are left as they are). Returns the number of flags set. */
static inline int product_bad(double x, double c, double inv, double p, int check) {
    if (check == 0) return 0;
    if (check == 2) return !(eft_safe(x) && eft_safe(c)) || two_product_err(x, c, p) != 0.0;
    return p * inv != x;
}

typedef struct {
    Py_ssize_t width, nrest, nempty;
    int32_t *src0, *code0; /* the first term of each column (none: src 0 and the code of `one`, zeroed after) */
    int32_t *src, *dst, *code, *empty; /* the other terms, in order; the columns without any */
    int unit0; /* every first term's factor is 1.0 */
} Terms;

/* One row r into o with a flag per entry in fl (the exact but slower pass, for rows where a check failed). */
static void agg_row_flagged(const Terms *tm, const char *r, int f32, double *o, unsigned char *fl, const double *fac,
                            const double *inv, int check) {
#define AT(i) (f32 ? (double)((const float *)r)[i] : ((const double *)r)[i])
    for (Py_ssize_t j = 0; j < tm->width; j++) {
        double x = AT(tm->src0[j]), c = fac[tm->code0[j]], p = x * c;
        fl[j] = (unsigned char)product_bad(x, c, inv[tm->code0[j]], p, check);
        o[j] = p;
    }
    for (Py_ssize_t i = 0; i < tm->nrest; i++) {
        int32_t d = tm->dst[i];
        double x = AT(tm->src[i]), c = fac[tm->code[i]], p = x * c, a = o[d], sum = a + p;
        fl[d] |= (unsigned char)(product_bad(x, c, inv[tm->code[i]], p, check) | (sum - a != p) | (sum - p != a));
        o[d] = sum;
    }
#undef AT
    for (Py_ssize_t e = 0; e < tm->nempty; e++) o[tm->empty[e]] = 0.0, fl[tm->empty[e]] = 0;
}

/* Four rows (w: the first, rows `ws` bytes apart) into four rows of out (`os` bytes apart), for one dtype and one
 * `check`: each term's indices and factor are loaded once for the four rows. Returns whether a check failed. */
#define AGG_FIRST(k) o##k[j] = (double)r##k[sj];
#define AGG_FIRST_CHECKED(k, CHECK) p = (double)r##k[sj] * c, bad |= product_bad((double)r##k[sj], c, ic, p, CHECK), o##k[j] = p;
#define AGG_REST(k, CHECK)                                                                                 \
    {                                                                                                      \
        double x = (double)r##k[si], p = x * c, a = o##k[d], sum = a + p;                                  \
        bad |= product_bad(x, c, ic, p, CHECK) | (sum - a != p) | (sum - p != a);                          \
        o##k[d] = sum;                                                                                     \
    }
#define AGG4(T, CHECK)                                                                                     \
    static int agg4_##T##_##CHECK(const Terms *tm, const char *w, Py_ssize_t ws, char *out, Py_ssize_t os, \
                                  const double *fac, const double *inv) {                                  \
        const T *restrict r0 = (const T *)w, *restrict r1 = (const T *)(w + ws);                           \
        const T *restrict r2 = (const T *)(w + 2 * ws), *restrict r3 = (const T *)(w + 3 * ws);            \
        double *restrict o0 = (double *)out, *restrict o1 = (double *)(out + os);                          \
        double *restrict o2 = (double *)(out + 2 * os), *restrict o3 = (double *)(out + 3 * os);           \
        int bad = 0;                                                                                       \
        if (tm->unit0) {                                                                                   \
            for (Py_ssize_t j = 0; j < tm->width; j++) {                                                   \
                int32_t sj = tm->src0[j];                                                                  \
                AGG_FIRST(0) AGG_FIRST(1) AGG_FIRST(2) AGG_FIRST(3)                                        \
            }                                                                                              \
        } else {                                                                                           \
            for (Py_ssize_t j = 0; j < tm->width; j++) {                                                   \
                int32_t sj = tm->src0[j];                                                                  \
                double c = fac[tm->code0[j]], ic = inv[tm->code0[j]], p;                                   \
                AGG_FIRST_CHECKED(0, CHECK) AGG_FIRST_CHECKED(1, CHECK)                                    \
                AGG_FIRST_CHECKED(2, CHECK) AGG_FIRST_CHECKED(3, CHECK)                                    \
            }                                                                                              \
        }                                                                                                  \
        for (Py_ssize_t i = 0; i < tm->nrest; i++) {                                                       \
            int32_t si = tm->src[i], d = tm->dst[i];                                                       \
            double c = fac[tm->code[i]], ic = inv[tm->code[i]];                                            \
            AGG_REST(0, CHECK) AGG_REST(1, CHECK) AGG_REST(2, CHECK) AGG_REST(3, CHECK)                    \
        }                                                                                                  \
        for (Py_ssize_t e = 0; e < tm->nempty; e++)                                                        \
            o0[tm->empty[e]] = o1[tm->empty[e]] = o2[tm->empty[e]] = o3[tm->empty[e]] = 0.0;               \
        return bad;                                                                                        \
    }
AGG4(float, 0)
AGG4(float, 1)
AGG4(float, 2)
AGG4(double, 1)
AGG4(double, 2)

/* Every row of w, four at a time; a group with a failed check (and the last < 4 rows) is done row by row with flags.
 * check 0 (no product test) is only taken for float32 weights. */
static long long agg_all(const Terms *tm, const Buf *w, const Buf *out, const Buf *flag, const double *fac,
                         const double *inv, int check) {
    Py_ssize_t n_out = w->view.shape[0], ws = w->view.strides[0], os = out->view.strides[0];
    Py_ssize_t row_bytes = w->view.shape[1] * w->view.itemsize;
    int f32 = is_float32(w);
    if (!f32 && check == 0) check = 1;
    int (*four)(const Terms *, const char *, Py_ssize_t, char *, Py_ssize_t, const double *, const double *) =
        f32 ? (check == 0 ? agg4_float_0 : check == 1 ? agg4_float_1 : agg4_float_2)
            : (check == 1 ? agg4_double_1 : agg4_double_2);
    long long nbad = 0;
    for (Py_ssize_t s = 0; s < n_out; s += 4) {
        const char *r = (const char *)w->view.buf + s * ws;
        char *o = (char *)out->view.buf + s * os;
        if (s + 8 <= n_out) /* the next group's rows, while this one is summed */
            for (Py_ssize_t off = 0; off < row_bytes; off += 64)
                __builtin_prefetch(r + 4 * ws + off), __builtin_prefetch(r + 5 * ws + off),
                    __builtin_prefetch(r + 6 * ws + off), __builtin_prefetch(r + 7 * ws + off);
        if (s + 4 <= n_out && !four(tm, r, ws, o, os, fac, inv)) continue;
        for (Py_ssize_t q = s; q < s + 4 && q < n_out; q++) {
            unsigned char *fl = (unsigned char *)flag->view.buf + q * flag->view.strides[0];
            agg_row_flagged(tm, (const char *)w->view.buf + q * ws, f32, (double *)((char *)out->view.buf + q * os),
                            fl, fac, inv, check);
            for (Py_ssize_t j = 0; j < tm->width; j++) nbad += fl[j];
        }
    }
    return nbad;
}

/* The terms (src, dst, code: int64 arrays of one length) checked against their bounds (m inputs, width columns, nfac
 * factors) and split into each column's first term and the others; -1 with an exception set on a bad index. */
static int split_terms(Terms *tm, const Buf *bsrc, const Buf *bdst, const Buf *bcode, Py_ssize_t m, Py_ssize_t nfac,
                       const double *fac) {
    Py_ssize_t n = bsrc->view.shape[0], width = tm->width;
    const int64_t *src = bsrc->view.buf, *dst = bdst->view.buf, *code = bcode->view.buf;
    if (bdst->view.shape[0] != n || bcode->view.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "exact_loops.aggregate: src, dst and code of different lengths");
        return -1;
    }
    int32_t one = -1;
    for (Py_ssize_t k = 0; k < nfac && one < 0; k++)
        if (fac[k] == 1.0) one = (int32_t)k;
    for (Py_ssize_t j = 0; j < width; j++) tm->src0[j] = -1;
    tm->unit0 = 1, tm->nrest = 0, tm->nempty = 0;
    for (Py_ssize_t t = 0; t < n; t++) {
        if (src[t] < 0 || src[t] >= m || dst[t] < 0 || dst[t] >= width || code[t] < 0 || code[t] >= nfac) {
            PyErr_Format(PyExc_ValueError, "exact_loops.aggregate: term %zd (src %lld, dst %lld, code %lld) outside "
                         "0..%zd / 0..%zd / 0..%zd", t, (long long)src[t], (long long)dst[t], (long long)code[t],
                         m - 1, width - 1, nfac - 1);
            return -1;
        }
        int32_t d = (int32_t)dst[t];
        if (tm->src0[d] < 0) {
            tm->src0[d] = (int32_t)src[t], tm->code0[d] = (int32_t)code[t], tm->unit0 &= fac[code[t]] == 1.0;
        } else {
            tm->src[tm->nrest] = (int32_t)src[t], tm->dst[tm->nrest] = d, tm->code[tm->nrest++] = (int32_t)code[t];
        }
    }
    for (Py_ssize_t j = 0; j < width; j++)
        if (tm->src0[j] < 0) {
            if (one < 0) tm->unit0 = 0; /* no 1.0 in fac: the dummy is fac[0]·w[s, 0], checked (then zeroed) */
            tm->src0[j] = 0, tm->code0[j] = one < 0 ? 0 : one, tm->empty[tm->nempty++] = (int32_t)j;
        }
    return 0;
}

static PyObject *aggregate(PyObject *self, PyObject *args) {
    PyObject *ow, *osrc, *odst, *ocode, *ofac, *oinv, *oout, *oflag;
    int check;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "OOOOOOinOO", &ow, &osrc, &odst, &ocode, &ofac, &oinv, &check, &width, &oout,
                          &oflag))
        return NULL;
    Buf w = {0}, bsrc = {0}, bdst = {0}, bcode = {0}, bfac = {0}, binv = {0}, out = {0}, flag = {0};
    PyObject *result = NULL;
    Terms tm = {width};
    int32_t *mem = NULL;
    if (get(ow, &w, "fd", 2, 0) || get(osrc, &bsrc, "lq", 1, 0) || get(odst, &bdst, "lq", 1, 0)
        || get(ocode, &bcode, "lq", 1, 0) || get(ofac, &bfac, "d", 1, 0) || get(oinv, &binv, "d", 1, 0)
        || get(oout, &out, "d", 2, 1) || get(oflag, &flag, "B", 2, 1))
        goto done;
    Py_ssize_t n_out = w.view.shape[0], m = w.view.shape[1], nfac = bfac.view.shape[0], n = bsrc.view.shape[0];
    if (binv.view.shape[0] != nfac || check < 0 || check > 2 || width < 0 || m >= INT32_MAX || width >= INT32_MAX
        || out.view.shape[0] != n_out || flag.view.shape[0] != n_out || out.view.shape[1] < width
        || flag.view.shape[1] < width) {
        PyErr_SetString(PyExc_ValueError, "exact_loops.aggregate: one inverse per factor, check 0..2, out and flag "
                        "with the weight's rows and >= width columns, sizes within int32");
        goto done;
    }
    mem = malloc((3 * (size_t)width + 3 * (size_t)n + 1) * sizeof *mem);
    if (!mem) {
        PyErr_NoMemory();
        goto done;
    }
    tm.src0 = mem, tm.code0 = mem + width, tm.empty = mem + 2 * width;
    tm.src = mem + 3 * width, tm.dst = tm.src + n, tm.code = tm.dst + n;
    if (split_terms(&tm, &bsrc, &bdst, &bcode, m, nfac, bfac.view.buf) < 0) goto done;
    long long nbad = 0;
    Py_BEGIN_ALLOW_THREADS
    if (n == 0) { /* every column empty (and nothing to read: maybe no inputs, no factors) */
        for (Py_ssize_t s = 0; s < n_out; s++)
            memset((char *)out.view.buf + s * out.view.strides[0], 0, width * sizeof(double));
    } else {
        nbad = agg_all(&tm, &w, &out, &flag, bfac.view.buf, binv.view.buf, check);
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(nbad);
done:
    free(mem);
    release(&w); release(&bsrc); release(&bdst); release(&bcode); release(&bfac); release(&binv); release(&out);
    release(&flag);
    return result;
}

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
        uint64_t h = 0;                                                                                    \
        for (Py_ssize_t c = 0; c < nc; c++) {                                                              \
            Py_ssize_t j = cols ? cols[c] : c;                                                             \
            double q = (j < m ? (double)row[j] : bias) / lead + 0.0; /* -0.0 -> +0.0 */                    \
            uint64_t bits;                                                                                 \
            memcpy(&bits, &q, 8);                                                                          \
            h += bits * mu[c];                                                                             \
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
        || get(opiv, &piv, "lq", 1, 1))
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
 * row). rep[i] = the row s joins (s itself when kept), piv[i] = its pivot. No rounding decides anything: keys only
 * propose (equal exact quotients round alike), `same_ray` compares exactly for every finite value. */

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
        int diff = 0;                                                                                      \
        if (num == den) {                                                                                  \
            diff = xb != yb;                                                                               \
            for (Py_ssize_t j = 0; j < m; j++) diff |= x[j] != y[j];                                       \
        } else if (fabs(mn) == fabs(md) && en - ed <= 1000 && ed - en <= 1000) {                           \
            int up = en >= ed; /* scale y up when x has the larger pivot, else x */                       \
            double scale = ldexp((num > 0) == (den > 0) ? 1.0 : -1.0, up ? en - ed : ed - en);             \
            const T *lo = up ? y : x, *hi = up ? x : y;                                                    \
            diff = (up ? yb : xb) * scale != (up ? xb : yb);                                               \
            for (Py_ssize_t j = 0; j < m; j++) diff |= (double)lo[j] * scale != (double)hi[j];             \
        } else {                                                                                           \
            if (!cross_equal(xb, yb, num, den)) return 0;                                                  \
            for (Py_ssize_t j = 0; j < m; j++)                                                             \
                if (!cross_equal(x[j], y[j], num, den)) return 0;                                          \
        }                                                                                                  \
        return !diff;                                                                                      \
    }
SAME_RAY(float)
SAME_RAY(double)


/* num/den when that float is the ratio exactly (equal significands: +-2^k, neither overflowed nor underflowed to 0),
 * 1.0 for den == 0 (two all-zero rows), NaN otherwise (the caller divides exactly). */
static double float_ratio(double num, double den) {
    if (den == 0.0) return 1.0;
    int en, ed;
    double q = num / den;
    return fabs(frexp(num, &en)) == fabs(frexp(den, &ed)) && isfinite(q) && q != 0.0 ? q : NAN;
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
        ratio[i] = 1.0;                                                                                    \
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
                ratio[i] = float_ratio(p < m ? (double)row[p] : bias,                                      \
                                       p < m ? (double)ROW_OF(T, r[j])[p] : at1(&b, r[j]));                \
                break;                                                                                     \
            }                                                                                              \
        }                                                                                                  \
        if (rep[i] == s) next[i] = head[slot], head[slot] = i;                                             \
    }

static PyObject *classes(PyObject *self, PyObject *args) {
    PyObject *oa, *ob, *orows, *ocols, *omus, *omuf, *orep, *opiv, *oratio;
    int mode, admit;
    if (!PyArg_ParseTuple(args, "OOOOiiOOOOO", &oa, &ob, &orows, &ocols, &mode, &admit, &omus, &omuf, &orep, &opiv,
                          &oratio))
        return NULL;
    Buf a = {0}, b = {0}, rows = {0}, bcols = {0}, bmus = {0}, bmuf = {0}, brep = {0}, piv = {0}, bratio = {0};
    PyObject *result = NULL;
    int64_t *head = NULL, *next = NULL;
    uint64_t *keys = NULL, *fulls = NULL;
    char *has_full = NULL;
    if (get(oa, &a, "fd", 2, 0) || get(ob, &b, "fd", 1, 0) || get(orows, &rows, "lq", 1, 0)
        || get(ocols, &bcols, "lq", 1, 0) || get(omus, &bmus, "LQ", 1, 0) || get(omuf, &bmuf, "LQ", 1, 0)
        || get(orep, &brep, "lq", 1, 1) || get(opiv, &piv, "lq", 1, 1) || get(oratio, &bratio, "d", 1, 1))
        goto done;
    Py_ssize_t n = rows.view.shape[0], m = a.view.shape[1], nc = bcols.view.shape[0];
    if (bmus.view.shape[0] < nc || bmuf.view.shape[0] < m + 1 || brep.view.shape[0] < n || piv.view.shape[0] < n
        || bratio.view.shape[0] < n) {
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
    double *ratio = bratio.view.buf;
    int whole = nc == m + 1;
    Py_BEGIN_ALLOW_THREADS
    if (is_float32(&a)) {
        CLASS_ROWS(float)
    } else {
        CLASS_ROWS(double)
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    free(head); free(keys); free(next); free(fulls); free(has_full);
    release(&a); release(&b); release(&rows); release(&bcols); release(&bmus); release(&bmuf); release(&brep);
    release(&piv); release(&bratio);
    return result;
}

static PyMethodDef methods[] = {
    {"aggregate", aggregate, METH_VARARGS,
     "aggregate(w, src, dst, code, fac, inv, check, width, out, flag) -> flagged count"},
    {"row_keys", row_keys, METH_VARARGS, "row_keys(a, b, rows, cols, mode, mult, keys, pivots)"},
    {"proportional", proportional, METH_VARARGS, "proportional(xa, xb, xi, ya, yb, yi, piv, status)"},
    {"classes", classes, METH_VARARGS, "classes(a, b, rows, cols, mode, admit, mult_cols, mult_all, rep, pivots, ratios)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "exact_loops", NULL, -1, methods};

PyMODINIT_FUNC PyInit_exact_loops(void) { return PyModule_Create(&module); }
