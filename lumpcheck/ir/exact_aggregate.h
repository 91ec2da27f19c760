/* The reducer's aggregation loop (lumpcheck/ir/exact_loops.c includes it once, after its buffer and error-free
 * helpers: one translation unit, split only to keep each file short). */

/* ------------------------------------------------------------------ aggregate
 * out[s, j] = the sum over the terms t with dst[t] = j of fac[code[t]] * w[s, src[t]], in float64, for every row s and
 * every j < width (0.0 where no term has j). Each column's first term (in the given order) is written, the others
 * are added on in their order (given sorted by src, a row is read forwards). Products p = x*c are checked as `check`
 * says (`product_check` picks it): 0, not at all (float32 x times 2^k with -925 <= k <= 896 is a float64);
 * 1, p * inv == x (c = +-2^k, inv = 1/c: if p rounded or overflowed, scaling it back cannot give x); 2, Dekker's
 * error is 0 within the safe range. When every first term's factor is 1.0 its products are the weights themselves.
 * Each sum s = a + p is checked: s - a == p and s - p == a (the Fast2Sum argument: the difference with the larger
 * operand is exact), which also rejects overflow. Rows go four at a time through a vector pass that only says whether
 * every check passed (its tests fail on at least every case the one-row tests fail on); a group where one failed is
 * done again row by row, with a flag per entry (flag[s, j] = 1: not proven exact; the other rows' flags are left as
 * they are). Both passes do the same IEEE operations per entry, so an entry's value does not depend on which pass
 * wrote it. Returns the number of flags set. */
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

/* Four rows at once, as two 2-lane vectors per column: tile[2j + h] holds column j of rows 2h and 2h + 1 (SSE2, the
 * x86-64 baseline, has 2-lane double vectors; GCC vector extensions), so each term is a few vector operations with
 * exactly the same IEEE operations per entry as the one-row pass, in the same order. A test u == v is done as the
 * bits of u - v: with gradual underflow, u - v is +-0 exactly when u == v (finite u, v); it is NaN or +-inf when either
 * is NaN or infinite (so those fail, as the one-row pass's u != v fails on NaN, and inf == inf fails too: only more
 * rows go to the flagged pass). These bits, and the lane masks of the range tests, are ORed into `bad`: a row group
 * passes when no bit but the sign bits is set. */

static inline v2i v2_safe(v2d x) { /* eft_safe per lane */
    v2d ax = (v2d)((v2i)x & INT64_MAX); /* |x|: the sign bit cleared */
    return (ax == 0.0) | ((ax >= 0x1p-480) & (ax <= 0x1p480));
}

static inline v2d v2_split_hi(v2d a) {
    v2d t = 134217729.0 * a; /* 2^27 + 1 */
    return t - (t - a);
}

static inline void store2(double *to, v2d v) { memcpy(to, &v, sizeof v); } /* rows need not be 16-byte aligned */

static inline v2i v2_differ(v2d u, v2d v) { return (v2i)(u - v); } /* see above: u != v iff non-sign bits */

/* product_bad per lane: 0, no check; 1, p * inv != x; 2, outside the safe range or a nonzero Dekker error. */
static inline v2i v2_product_bad(v2d x, double c, double ic, v2d p, int check) {
    if (check == 0) return (v2i){0, 0};
    if (check == 1) return v2_differ(p * ic, x);
    v2d xh = v2_split_hi(x), xl = x - xh, cv = {c, c}, ch = v2_split_hi(cv), cl = cv - ch;
    v2d err = ((xh * ch - p) + xh * cl + xl * ch) + xl * cl;
    return ~(v2_safe(x) & v2_safe(cv)) | v2_differ(err, (v2d){0.0, 0.0});
}

/* Four rows (w: the first, rows `ws` bytes apart) into four rows of out (`os` bytes apart), for one dtype and one
 * `check`, through `tile` (2·width vectors, 16-byte aligned): each term's indices and factor are loaded once for the
 * four rows. Returns whether a check failed. */
#define V2_AT(j, ra, rb) ((v2d){(double)ra[j], (double)rb[j]})
#define AGG_FIRST(j, h, ra, rb)                                                                            \
    {                                                                                                      \
        v2d x = V2_AT(sj, ra, rb), p = x * c;                                                              \
        bad |= v2_product_bad(x, c, ic, p, CHECK_);                                                        \
        tile[2 * j + h] = p;                                                                               \
    }
#define AGG_REST(h, ra, rb)                                                                                \
    {                                                                                                      \
        v2d x = V2_AT(si, ra, rb), p = x * c, a = tile[2 * d + h], sum = a + p;                            \
        bad |= v2_product_bad(x, c, ic, p, CHECK_) | v2_differ(sum - a, p) | v2_differ(sum - p, a);                    \
        tile[2 * d + h] = sum;                                                                             \
    }
#define AGG4(T, CHECK)                                                                                     \
    static int agg4_##T##_##CHECK(const Terms *tm, const char *w, Py_ssize_t ws, char *out, Py_ssize_t os, \
                                  const double *fac, const double *inv, v2d *restrict tile) {              \
        enum { CHECK_ = CHECK };                                                                           \
        const T *restrict r0 = (const T *)w, *restrict r1 = (const T *)(w + ws);                           \
        const T *restrict r2 = (const T *)(w + 2 * ws), *restrict r3 = (const T *)(w + 3 * ws);            \
        v2i bad = {0, 0};                                                                                  \
        if (tm->unit0) {                                                                                   \
            for (Py_ssize_t j = 0; j < tm->width; j++) {                                                   \
                int32_t sj = tm->src0[j];                                                                  \
                tile[2 * j] = V2_AT(sj, r0, r1), tile[2 * j + 1] = V2_AT(sj, r2, r3);                      \
            }                                                                                              \
        } else {                                                                                           \
            for (Py_ssize_t j = 0; j < tm->width; j++) {                                                   \
                int32_t sj = tm->src0[j];                                                                  \
                double c = fac[tm->code0[j]], ic = inv[tm->code0[j]];                                      \
                AGG_FIRST(j, 0, r0, r1) AGG_FIRST(j, 1, r2, r3)                                            \
            }                                                                                              \
        }                                                                                                  \
        for (Py_ssize_t i = 0; i < tm->nrest; i++) {                                                       \
            int32_t si = tm->src[i], d = tm->dst[i];                                                       \
            double c = fac[tm->code[i]], ic = inv[tm->code[i]];                                            \
            AGG_REST(0, r0, r1) AGG_REST(1, r2, r3)                                                        \
        }                                                                                                  \
        for (Py_ssize_t e = 0; e < tm->nempty; e++)                                                        \
            tile[2 * tm->empty[e]] = tile[2 * tm->empty[e] + 1] = (v2d){0.0, 0.0};                         \
        double *restrict o0 = (double *)out, *restrict o1 = (double *)(out + os);                          \
        double *restrict o2 = (double *)(out + 2 * os), *restrict o3 = (double *)(out + 3 * os);           \
        Py_ssize_t j = 0;                                                                                  \
        for (; j + 1 < tm->width; j += 2) { /* two columns: a 2x2 transpose per lane pair */               \
            v2d a = tile[2 * j], b = tile[2 * j + 2], c = tile[2 * j + 1], e = tile[2 * j + 3];            \
            store2(o0 + j, (v2d){a[0], b[0]}), store2(o1 + j, (v2d){a[1], b[1]});                          \
            store2(o2 + j, (v2d){c[0], e[0]}), store2(o3 + j, (v2d){c[1], e[1]});                          \
        }                                                                                                  \
        for (; j < tm->width; j++)                                                                         \
            o0[j] = tile[2 * j][0], o1[j] = tile[2 * j][1], o2[j] = tile[2 * j + 1][0], o3[j] = tile[2 * j + 1][1]; \
        return ((bad[0] | bad[1]) & INT64_MAX) != 0;                                                              \
    }
AGG4(float, 0)
AGG4(float, 1)
AGG4(float, 2)
AGG4(double, 1)
AGG4(double, 2)

/* Every row of w, four at a time; a group with a failed check (and the last < 4 rows) is done row by row with flags.
 * check 0 (no product test) is only taken for float32 weights. */
static long long agg_all(const Terms *tm, const Buf *w, const Buf *out, const Buf *flag, const double *fac,
                         const double *inv, int check, v2d *tile) {
    Py_ssize_t n_out = w->view.shape[0], ws = w->view.strides[0], os = out->view.strides[0];
    Py_ssize_t row_bytes = w->view.shape[1] * w->view.itemsize;
    int f32 = is_float32(w);
    if (!f32 && check == 0) check = 1;
    int (*four)(const Terms *, const char *, Py_ssize_t, char *, Py_ssize_t, const double *, const double *, v2d *) =
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
        if (s + 4 <= n_out && !four(tm, r, ws, o, os, fac, inv, tile)) continue;
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

/* The product check for the factors the n terms use (codes already bounds-checked), and inv[k] = 1/fac[k] (exact for
 * +-2^k unless it overflows to inf: then every product with it fails check 1; 1/0 = inf likewise). 0 (no test) when
 * the weights are float32 and every nonzero factor used is +-2^k with -925 <= k <= 896: a float32 x = M·2^e (|M| <
 * 2^24, e >= -149, |x| < 2^128) times 2^k is then a float64 exactly; 1 when every nonzero factor is +-2^k; else 2
 * (Dekker). A zero factor needs no test (0·x = +-0 exactly: x is finite). */
static int product_check(const double *fac, Py_ssize_t nfac, const int64_t *code, Py_ssize_t n, int f32, double *inv) {
    int pow2 = 1, in_range = 1;
    for (Py_ssize_t k = 0; k < nfac; k++) inv[k] = 0.0; /* marks the codes in use */
    for (Py_ssize_t t = 0; t < n; t++) inv[code[t]] = 1.0;
    for (Py_ssize_t k = 0; k < nfac; k++) {
        int e;
        double mant = frexp(fac[k], &e);
        if (inv[k] != 0.0 && fac[k] != 0.0) {
            pow2 &= fabs(mant) == 0.5; /* inf and NaN: frexp returns them as they are */
            in_range &= e - 1 >= -925 && e - 1 <= 896;
        }
        inv[k] = 1.0 / fac[k];
    }
    return !pow2 ? 2 : f32 && in_range ? 0 : 1;
}

static PyObject *aggregate(PyObject *self, PyObject *args) {
    PyObject *ow, *osrc, *odst, *ocode, *ofac, *oout, *oflag;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "OOOOOnOO", &ow, &osrc, &odst, &ocode, &ofac, &width, &oout, &oflag)) return NULL;
    Buf w = {0}, bsrc = {0}, bdst = {0}, bcode = {0}, bfac = {0}, out = {0}, flag = {0};
    PyObject *result = NULL;
    Terms tm = {width};
    int32_t *mem = NULL;
    v2d *tile = NULL;
    double *inv = NULL;
    if (get(ow, &w, "fd", 2, 0) || get(osrc, &bsrc, "lq", 1, 0) || get(odst, &bdst, "lq", 1, 0)
        || get(ocode, &bcode, "lq", 1, 0) || get(ofac, &bfac, "d", 1, 0) || get(oout, &out, "d", 2, 1)
        || get(oflag, &flag, "B", 2, 1))
        goto done;
    Py_ssize_t n_out = w.view.shape[0], m = w.view.shape[1], nfac = bfac.view.shape[0], n = bsrc.view.shape[0];
    if (width < 0 || m >= INT32_MAX || width >= INT32_MAX || out.view.shape[0] != n_out || flag.view.shape[0] != n_out
        || out.view.shape[1] < width || flag.view.shape[1] < width) {
        PyErr_SetString(PyExc_ValueError, "exact_loops.aggregate: out and flag with the weight's rows and >= width "
                        "columns, sizes within int32");
        goto done;
    }
    mem = malloc((3 * (size_t)width + 3 * (size_t)n + 1) * sizeof *mem);
    tile = aligned_alloc(sizeof(v2d), (2 * (size_t)width + 2) * sizeof(v2d));
    inv = malloc((nfac ? nfac : 1) * sizeof *inv);
    if (!mem || !tile || !inv) {
        PyErr_NoMemory();
        goto done;
    }
    tm.src0 = mem, tm.code0 = mem + width, tm.empty = mem + 2 * width;
    tm.src = mem + 3 * width, tm.dst = tm.src + n, tm.code = tm.dst + n;
    if (split_terms(&tm, &bsrc, &bdst, &bcode, m, nfac, bfac.view.buf) < 0) goto done;
    int check = product_check(bfac.view.buf, nfac, bcode.view.buf, n, is_float32(&w), inv);
    long long nbad = 0;
    Py_BEGIN_ALLOW_THREADS
    if (n == 0) { /* every column empty (and nothing to read: maybe no inputs, no factors) */
        for (Py_ssize_t s = 0; s < n_out; s++)
            memset((char *)out.view.buf + s * out.view.strides[0], 0, width * sizeof(double));
    } else {
        nbad = agg_all(&tm, &w, &out, &flag, bfac.view.buf, inv, check, tile);
    }
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong(nbad);
done:
    free(mem);
    free(tile);
    free(inv);
    release(&w); release(&bsrc); release(&bdst); release(&bcode); release(&bfac); release(&out);
    release(&flag);
    return result;
}
