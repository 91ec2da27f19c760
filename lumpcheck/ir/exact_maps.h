/* The arrays of a lumped layer's maps from its merges (lumpcheck/ir/exact_loops.c includes it once, after its buffer
 * helpers: one translation unit, split only to keep each file short). Integer bookkeeping, no floats.
 *
 * n neurons; member[k] joins rep[k] with factor code fcode[k]; the `fixed` rows (constants) belong to no class; every
 * other row is kept. Writes reps[0..kept) = the kept rows in increasing order (returns kept), cls[s] = the class of s
 * (kept rows numbered 0.. in order; a member its representative's; -1 for a fixed row), factor[s] = fcode of a
 * member, 1 otherwise, and reason[s] = r_kept, r_dup for a member with fcode == one, r_prop for the other members.
 * Every index is checked (0..n-1), members are distinct and not fixed, a representative must be a kept row: else
 * ValueError, nothing returned. */
static PyObject *lumped_maps(PyObject *self, PyObject *args) {
    PyObject *ofixed, *omember, *orep, *ofcode, *ocls, *ofactor, *oreason, *oreps;
    Py_ssize_t n;
    long long one, r_kept, r_dup, r_prop;
    if (!PyArg_ParseTuple(args, "nOOOOLLLLOOOO", &n, &ofixed, &omember, &orep, &ofcode, &one, &r_kept, &r_dup, &r_prop,
                          &ocls, &ofactor, &oreason, &oreps))
        return NULL;
    Buf fixed = {0}, member = {0}, rep = {0}, fcode = {0}, bcls = {0}, bfactor = {0}, breason = {0}, breps = {0};
    PyObject *result = NULL;
    if (get(ofixed, &fixed, "lq", 1, 0) || get(omember, &member, "lq", 1, 0) || get(orep, &rep, "lq", 1, 0)
        || get(ofcode, &fcode, "lq", 1, 0) || get(ocls, &bcls, "lq", 1, 1) || get(ofactor, &bfactor, "i", 1, 1)
        || get(oreason, &breason, "B", 1, 1) || get(oreps, &breps, "lq", 1, 1)
        || in_range(&fixed, n, "lumped_maps: fixed") || in_range(&member, n, "lumped_maps: member")
        || in_range(&rep, n, "lumped_maps: rep"))
        goto done;
    Py_ssize_t nm = member.view.shape[0];
    if (n < 0 || one < INT32_MIN || one > INT32_MAX || (r_kept | r_dup | r_prop) < 0 || (r_kept | r_dup | r_prop) > 255) {
        PyErr_SetString(PyExc_ValueError, "lumped_maps: n >= 0, `one` within int32, reasons within 0..255");
        goto done;
    }
    if (rep.view.shape[0] != nm || fcode.view.shape[0] != nm || bcls.view.shape[0] != n || bfactor.view.shape[0] != n
        || breason.view.shape[0] != n || breps.view.shape[0] != n) {
        PyErr_SetString(PyExc_ValueError, "lumped_maps: member, rep and fcode of one length; outputs of n entries");
        goto done;
    }
    const int64_t *fx = fixed.view.buf, *mb = member.view.buf, *rp = rep.view.buf, *fc = fcode.view.buf;
    int64_t *cls = bcls.view.buf, *reps = breps.view.buf;
    int32_t *factor = bfactor.view.buf;
    unsigned char *reason = breason.view.buf;
    for (Py_ssize_t s = 0; s < n; s++) cls[s] = 0, factor[s] = 1, reason[s] = (unsigned char)r_kept; /* 0: kept */
    for (Py_ssize_t k = 0; k < fixed.view.shape[0]; k++) cls[fx[k]] = -1;
    for (Py_ssize_t k = 0; k < nm; k++) {
        if (cls[mb[k]] != 0) {
            PyErr_Format(PyExc_ValueError, "lumped_maps: row %lld is a member twice or fixed", (long long)mb[k]);
            goto done;
        }
        cls[mb[k]] = -2; /* a member: numbered below */
    }
    Py_ssize_t kept = 0;
    for (Py_ssize_t s = 0; s < n; s++)
        if (cls[s] == 0) reps[kept] = s, cls[s] = kept++;
    for (Py_ssize_t k = 0; k < nm; k++) {
        int64_t r = rp[k], s = mb[k];
        if (cls[r] < 0 || reps[cls[r]] != r) { /* not a kept row (a member, fixed, or numbered as another) */
            PyErr_Format(PyExc_ValueError, "lumped_maps: representative %lld of row %lld is not a kept row",
                         (long long)r, (long long)s);
            goto done;
        }
        if (fc[k] < INT32_MIN || fc[k] > INT32_MAX) {
            PyErr_Format(PyExc_ValueError, "lumped_maps: factor code %lld outside int32", (long long)fc[k]);
            goto done;
        }
        cls[s] = cls[r], factor[s] = (int32_t)fc[k];
        reason[s] = (unsigned char)(fc[k] == one ? r_dup : r_prop);
    }
    result = PyLong_FromSsize_t(kept);
done:
    release(&fixed); release(&member); release(&rep); release(&fcode); release(&bcls); release(&bfactor);
    release(&breason); release(&breps);
    return result;
}
