/* The two loops for one floating type, included twice by _loops.c with REAL (float or
 * double), EXP (expf or exp) and NAME(x) (x##_f32 or x##_f64) defined. The spline order k
 * is an argument of always-inlined functions called with constant k, so the compiler
 * unrolls the Horner loops for each order (2.5x faster than a run-time order). */

static KS_INLINE void NAME(features)(
    const REAL *x, const REAL *grid, const REAL *table, REAL *features, int64_t *index,
    REAL *slopes, Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_knots, Py_ssize_t rows,
    const int k, int base, int want_slopes)
{
    const int n = k + 1;
    const Py_ssize_t n_basis = n_knots - n;
    const Py_ssize_t width = 2 + (Py_ssize_t)n * n;
    for (Py_ssize_t b = 0; b < batch; b++) {
        for (Py_ssize_t i = 0; i < n_in; i++) {
            const Py_ssize_t at = b * n_in + i;
            const REAL value_x = x[at];
            const REAL *knots = grid + i * n_knots;
            Py_ssize_t low = 0, high = n_knots; /* searchsorted(right=True): the table row */
            while (low < high) {
                const Py_ssize_t middle = (low + high) >> 1;
                if (knots[middle] <= value_x)
                    low = middle + 1;
                else
                    high = middle;
            }
            REAL *out = features + at * (n_basis + 1);
            for (Py_ssize_t c = 0; c <= n_basis; c++)
                out[c] = 0;
            if (base == 0)
                out[0] = value_x / (1 + EXP(-value_x));
            else if (base == 1)
                out[0] = value_x;
            const REAL *row = table + (i * rows + low) * width;
            const REAL s = (value_x - row[0]) * row[1];
            for (int r = 0; r < n; r++) {
                Py_ssize_t basis = low - n + r;
                basis = basis < 0 ? 0 : basis;
                basis = basis > n_basis - 1 ? n_basis - 1 : basis;
                index[at * n + r] = basis;
                REAL value = row[2 + k * n + r];
                for (int p = k - 1; p >= 0; p--) /* Horner in s */
                    value = value * s + row[2 + p * n + r];
                out[1 + basis] += value;
                if (want_slopes) {
                    REAL slope = k * row[2 + k * n + r];
                    for (int p = k - 1; p > 0; p--)
                        slope = slope * s + p * row[2 + p * n + r];
                    slopes[at * n + r] = slope * row[1];
                }
            }
        }
    }
}

static KS_INLINE void NAME(backward)(
    const REAL *grad, const REAL *x, const int64_t *index, const REAL *slopes, REAL *out,
    Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_features, const int n, int base)
{
    for (Py_ssize_t b = 0; b < batch; b++) {
        for (Py_ssize_t i = 0; i < n_in; i++) {
            const Py_ssize_t at = b * n_in + i;
            const REAL value_x = x[at];
            const REAL *g = grad + at * n_features;
            REAL total = 0;
            if (base == 0) {
                const REAL sigmoid = 1 / (1 + EXP(-value_x));
                total = g[0] * sigmoid * (1 + value_x * (1 - sigmoid));
            } else if (base == 1) {
                total = g[0];
            }
            for (int r = 0; r < n; r++)
                total += g[1 + index[at * n + r]] * slopes[at * n + r];
            out[at] = total;
        }
    }
}

/* Dispatch on the order: constant k (unrolled loops) up to 5, any other at run time. */
#define KS_BY_ORDER(order, CALL) \
    switch (order) {             \
    case 0: CALL(0); break;      \
    case 1: CALL(1); break;      \
    case 2: CALL(2); break;      \
    case 3: CALL(3); break;      \
    case 4: CALL(4); break;      \
    case 5: CALL(5); break;      \
    default: CALL(order); break; \
    }

static void NAME(features_any_order)(
    const REAL *x, const REAL *grid, const REAL *table, REAL *features, int64_t *index,
    REAL *slopes, Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_knots, Py_ssize_t rows,
    int k, int base, int want_slopes)
{
#define KS_CALL(order)                                                                    \
    NAME(features)(x, grid, table, features, index, slopes, batch, n_in, n_knots, rows, order, \
                   base, want_slopes)
    KS_BY_ORDER(k, KS_CALL)
#undef KS_CALL
}

static void NAME(backward_any_order)(
    const REAL *grad, const REAL *x, const int64_t *index, const REAL *slopes, REAL *out,
    Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_features, int n, int base)
{
#define KS_CALL(order) \
    NAME(backward)(grad, x, index, slopes, out, batch, n_in, n_features, (order) + 1, base)
    KS_BY_ORDER(n - 1, KS_CALL)
#undef KS_CALL
}

#undef KS_BY_ORDER
