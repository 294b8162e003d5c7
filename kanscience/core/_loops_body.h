/* The loops for one floating type, included twice by _loops.c with REAL (float or double),
 * BITS (the unsigned integer of REAL's width), MANTISSA and BIAS (of its exponent),
 * EXP_LIMIT and EXP_DEGREE (of NAME(exp)), LANES (the values in a 64-byte vector) and
 * NAME(x) (x##_f32 or
 * x##_f64) defined. The spline order k is an argument of always-inlined functions called
 * with constant k, so the compiler unrolls the loops over the k + 1 bases for each order
 * (2.5x faster than a run-time order). */

/* LANES values in one vector (GCC/Clang vector extensions: each target clone lowers it to
 * its widest registers), loaded and stored at any alignment. */
typedef REAL NAME(vector) __attribute__((vector_size(LANES * sizeof(REAL))));
#define VECTOR NAME(vector)

static KS_INLINE VECTOR NAME(load)(const REAL *from)
{
    VECTOR v;
    memcpy(&v, from, sizeof v);
    return v;
}

static KS_INLINE void NAME(store)(REAL *to, VECTOR v) { memcpy(to, &v, sizeof v); }

/* exp(v) without a library call, so loops over it vectorize: 2^n exp(r) with
 * r = v - n ln 2 in [-ln2/2, ln2/2] (n rounded by adding and subtracting 1.5 2^MANTISSA,
 * ln 2 in two parts) and exp(r) by its Taylor polynomial of degree EXP_DEGREE, within an
 * ulp or two of the library's; v is clamped to +-EXP_LIMIT, where exp is below the
 * smallest normal number or near the largest (no overflow: silu and its slope, the only
 * users, are the same there to rounding) except at infinity. NaN gives NaN. */
static KS_INLINE REAL NAME(exp)(REAL v)
{
    const REAL shifter = (REAL)1.5 * (REAL)((BITS)1 << MANTISSA), original = v;
    v = v < -EXP_LIMIT ? -EXP_LIMIT : v > EXP_LIMIT ? EXP_LIMIT : v;
    const REAL shifted = v * (REAL)1.4426950408889634 + shifter;
    const REAL n = shifted - shifter;
    const REAL r = (v - n * (REAL)0.693145751953125) - n * (REAL)1.428606820309417e-06;
    REAL p = 1;
    for (int d = EXP_DEGREE; d >= 1; d--)
        p = 1 + p * (r * (REAL)(1.0 / d));
    BITS n_bits, shifter_bits;
    memcpy(&n_bits, &shifted, sizeof n_bits);
    memcpy(&shifter_bits, &shifter, sizeof shifter_bits);
    const BITS scale_bits = (n_bits - shifter_bits + BIAS) << MANTISSA;
    REAL scale;
    memcpy(&scale, &scale_bits, sizeof scale);
    return original == (REAL)INFINITY ? original : p * scale; /* silu(-inf) is NaN */
}

static KS_INLINE REAL NAME(base_value)(const REAL x, const int base)
{
    return base == 0 ? x / (1 + NAME(exp)(-x)) : base == 1 ? x : 0;
}

static KS_INLINE REAL NAME(base_slope)(const REAL x, const int base)
{
    if (base == 0) {
        const REAL sigmoid = 1 / (1 + NAME(exp)(-x));
        return sigmoid * (1 + x * (1 - sigmoid));
    }
    return base == 1 ? 1 : 0;
}

static KS_INLINE void NAME(backward)(
    const REAL *grad, const REAL *x, const int64_t *index, const REAL *slopes, REAL *out,
    Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_features, const int n, int base)
{
    for (Py_ssize_t b = 0; b < batch; b++) {
        for (Py_ssize_t i = 0; i < n_in; i++) {
            const Py_ssize_t at = b * n_in + i;
            const REAL *g = grad + at * n_features;
            REAL total = g[0] * NAME(base_slope)(x[at], base);
            for (int r = 0; r < n; r++)
                total += g[1 + index[at * n + r]] * slopes[at * n + r];
            out[at] = total;
        }
    }
}

static KS_INLINE Py_ssize_t NAME(block_rows)(Py_ssize_t n_out)
{
    const Py_ssize_t rows = KS_BLOCK_BYTES / ((Py_ssize_t)sizeof(REAL) * (n_out > 0 ? n_out : 1));
    return rows < 1 ? 1 : rows > KS_BLOCK ? KS_BLOCK : rows;
}

/* The local bases of one input at count <= KS_BLOCK values xs: for each value the k + 1
 * B-splines that may be nonzero there, from the row of the per-interval table that holds
 * it: their indices index[b][r] (clamped to the valid range, so outside the grid several
 * may coincide), values[b][r] and, unless slopes is NULL, x-derivatives slopes[b][r]; the
 * residual base's values and slopes (unless base_slopes is NULL). One value at a time,
 * its k + 1 bases computed together (the table holds each power's coefficients of the
 * k + 1 bases side by side, so the compiler turns the loops over r into vector
 * operations). */
static KS_INLINE void NAME(block_bases)(
    const REAL *xs, int count, const REAL *knots, const REAL *table, Py_ssize_t n_knots,
    const int k, int base, int32_t (*index)[KS_MAX_BASES], REAL (*values)[KS_MAX_BASES],
    REAL (*slopes)[KS_MAX_BASES], REAL *base_values, REAL *base_slopes)
{
    const int n = k + 1;
    const int n_basis = (int)n_knots - n;
    const int width = 2 + n * n;
    int lows[KS_BLOCK];
    /* the searches first, in a loop of their own: short and independent, the CPU runs
     * many at once instead of waiting on each chain of loads */
    for (int b = 0; b < count; b++) {
        /* searchsorted(right=True), the table row: the number of knots <= x, by a binary
         * search without branches (its steps depend on the grid size only, so the CPU
         * never mispredicts them; NaN compares false and gives row 0, like torch) */
        const REAL *first = knots;
        for (Py_ssize_t length = n_knots; length > 1;) {
            const Py_ssize_t half = length >> 1;
            first += half * (Py_ssize_t)(first[half - 1] <= xs[b]); /* arithmetic, no jump */
            length -= half;
        }
        lows[b] = (int)(first - knots) + (*first <= xs[b]);
    }
    for (int b = 0; b < count; b++) {
        const int low = lows[b];
        const REAL *row = table + low * width;
        const REAL s = (xs[b] - row[0]) * row[1];
        for (int r = 0; r < n; r++) {
            const int basis = low - n + r < 0 ? 0 : low - n + r;
            index[b][r] = basis > n_basis - 1 ? n_basis - 1 : basis;
        }
        REAL value[KS_MAX_BASES];
        for (int r = 0; r < n; r++)
            value[r] = row[2 + k * n + r];
        for (int p = k - 1; p >= 0; p--) /* Horner in s */
            for (int r = 0; r < n; r++)
                value[r] = value[r] * s + row[2 + p * n + r];
        for (int r = 0; r < n; r++)
            values[b][r] = value[r];
        if (slopes) {
            REAL slope[KS_MAX_BASES];
            for (int r = 0; r < n; r++)
                slope[r] = k * row[2 + k * n + r];
            for (int p = k - 1; p > 0; p--)
                for (int r = 0; r < n; r++)
                    slope[r] = slope[r] * s + p * row[2 + p * n + r];
            for (int r = 0; r < n; r++)
                slopes[b][r] = slope[r] * row[1];
        }
    }
    if (base_slopes && base == 0) /* silu and its slope from one exponential */
        for (int b = 0; b < count; b++) {
            const REAL sigmoid = 1 / (1 + NAME(exp)(-xs[b]));
            base_values[b] = xs[b] * sigmoid;
            base_slopes[b] = sigmoid * (1 + xs[b] * (1 - sigmoid));
        }
    else {
        for (int b = 0; b < count; b++)
            base_values[b] = NAME(base_value)(xs[b], base);
        if (base_slopes)
            for (int b = 0; b < count; b++)
                base_slopes[b] = NAME(base_slope)(xs[b], base);
    }
}

/* The dense features of x (batch, n_in): per value the residual base and the G + k
 * B-splines (zero but for the k + 1 of NAME(block_bases)), their indices and, with
 * want_slopes, their x-slopes, for the torch path's contraction and backward. */
static KS_INLINE void NAME(features)(
    const REAL *x, const REAL *grid, const REAL *table, REAL *features, int64_t *index,
    REAL *slopes, Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_knots, Py_ssize_t rows,
    const int k, int base, int want_slopes)
{
    const int n = k + 1;
    const Py_ssize_t n_basis = n_knots - n;
    const Py_ssize_t width = 2 + (Py_ssize_t)n * n;
    int32_t at_index[KS_BLOCK][KS_MAX_BASES];
    REAL values[KS_BLOCK][KS_MAX_BASES], at_slopes[KS_BLOCK][KS_MAX_BASES];
    REAL xs[KS_BLOCK], base_values[KS_BLOCK];
    for (Py_ssize_t start = 0; start < batch; start += KS_BLOCK) {
        const int count = (int)(start + KS_BLOCK < batch ? KS_BLOCK : batch - start);
        for (Py_ssize_t i = 0; i < n_in; i++) {
            for (int b = 0; b < count; b++)
                xs[b] = x[(start + b) * n_in + i];
            NAME(block_bases)(xs, count, grid + i * n_knots, table + i * rows * width, n_knots,
                              k, base, at_index, values, want_slopes ? at_slopes : NULL,
                              base_values, NULL);
            for (int b = 0; b < count; b++) {
                const Py_ssize_t at = (start + b) * n_in + i;
                REAL *out = features + at * (n_basis + 1);
                for (Py_ssize_t c = 0; c <= n_basis; c++)
                    out[c] = 0;
                out[0] = base_values[b];
                for (int r = 0; r < n; r++) {
                    index[at * n + r] = at_index[b][r];
                    out[1 + at_index[b][r]] += values[b][r];
                    if (want_slopes)
                        slopes[at * n + r] = at_slopes[b][r];
                }
            }
        }
    }
}

/* The samples of a block in groups that share their k + 1 bases (one interval), so the
 * loops below read and write those rows once per group instead of once per sample:
 * order[first[g] .. first[g + 1]) are the samples of group g, whose rows are those of
 * sample order[first[g]]. Samples whose clamped bases coincide (off the grid) form groups
 * of their own, flagged in lone[g]; so does every sample when the intervals outnumber
 * the samples (groups would hold about one). Returns the number of groups. */
static KS_INLINE int NAME(group_by_interval)(
    int32_t (*index)[KS_MAX_BASES], int count, const int k, int n_keys, int *order, int *first,
    int *lone)
{
    const int n = k + 1;
    int groups = 0, placed = 0;
    if (n_keys <= KS_MAX_KEYS && n_keys <= 2 * count) {
        int counts[KS_MAX_KEYS];
        for (int key = 0; key < n_keys; key++)
            counts[key] = 0;
        for (int b = 0; b < count; b++)
            if (index[b][n - 1] - index[b][0] == k)
                counts[index[b][0]]++;
        for (int key = 0; key < n_keys; key++) { /* counts become each group's next slot */
            if (!counts[key])
                continue;
            first[groups] = placed;
            lone[groups++] = 0;
            placed += counts[key];
            counts[key] = first[groups - 1];
        }
        for (int b = 0; b < count; b++)
            if (index[b][n - 1] - index[b][0] == k)
                order[counts[index[b][0]]++] = b;
        for (int b = 0; b < count; b++)
            if (index[b][n - 1] - index[b][0] != k) {
                first[groups] = placed;
                lone[groups++] = 1;
                order[placed++] = b;
            }
    } else {
        for (int b = 0; b < count; b++) {
            first[groups] = placed;
            lone[groups++] = index[b][n - 1] - index[b][0] != k;
            order[placed++] = b;
        }
    }
    first[groups] = placed;
    return groups;
}

/* y[b, :] = sum_i base(x_bi) W[i, 0, :] + sum_r B_r(x_bi) W[i, 1 + index_r, :] for the rows
 * b0 <= b < b1: the contraction of the features with the weights W (n_in, G + k + 1,
 * n_out) touching only the k + 2 nonzero features per input, so its cost does not grow
 * with the grid. */
static KS_INLINE void NAME(contract)(
    const REAL *x, const REAL *grid, const REAL *table, const REAL *weight, REAL *y,
    Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t n_knots,
    Py_ssize_t rows, const int k, int base)
{
    const int n = k + 1;
    const Py_ssize_t per_input = (n_knots - n + 1) * n_out;
    const Py_ssize_t width = 2 + (Py_ssize_t)n * n;
    const Py_ssize_t block = NAME(block_rows)(n_out);
    int32_t index[KS_BLOCK][KS_MAX_BASES];
    REAL values[KS_BLOCK][KS_MAX_BASES], xs[KS_BLOCK], base_values[KS_BLOCK];
    int order[KS_BLOCK], first[KS_BLOCK + 1], lone[KS_BLOCK];
    const REAL *row[KS_MAX_BASES];
    for (Py_ssize_t start = b0; start < b1; start += block) {
        const int count = (int)(start + block < b1 ? block : b1 - start);
        REAL *y_block = y + start * n_out;
        for (Py_ssize_t at = 0; at < count * n_out; at++)
            y_block[at] = 0;
        for (Py_ssize_t i = 0; i < n_in; i++) {
            for (int b = 0; b < count; b++)
                xs[b] = x[(start + b) * n_in + i];
            NAME(block_bases)(xs, count, grid + i * n_knots, table + i * rows * width, n_knots,
                              k, base, index, values, NULL, base_values, NULL);
            const int groups = NAME(group_by_interval)(index, count, k, (int)n_knots - 2 * n + 1,
                                                       order, first, lone);
            const REAL *w = weight + i * per_input;
            for (int g = 0; g < groups; g++) {
                const int *members = order + first[g], size = first[g + 1] - first[g];
                for (int r = 0; r < n; r++)
                    row[r] = w + (1 + index[members[0]][r]) * n_out;
                Py_ssize_t o0 = 0;
                for (; o0 + LANES <= n_out; o0 += LANES) { /* the group's rows held once */
                    const VECTOR base_row = NAME(load)(w + o0);
                    VECTOR held[KS_MAX_BASES];
                    for (int r = 0; r < n; r++)
                        held[r] = NAME(load)(row[r] + o0);
                    for (int j = 0; j < size; j++) {
                        const int b = members[j];
                        VECTOR total = base_values[b] * base_row;
                        for (int r = 0; r < n; r++)
                            total += values[b][r] * held[r];
                        REAL *out = y_block + b * n_out + o0;
                        NAME(store)(out, NAME(load)(out) + total);
                    }
                }
                for (int j = 0; j < size; j++) {
                    const int b = members[j];
                    REAL *out = y_block + b * n_out;
                    for (Py_ssize_t o = o0; o < n_out; o++) {
                        REAL total = out[o] + base_values[b] * w[o];
                        for (int r = 0; r < n; r++)
                            total += values[b][r] * row[r][o];
                        out[o] = total;
                    }
                }
            }
        }
    }
}

/* The backward pass of contract for the inputs i0 <= i < i1 (the threads split the
 * inputs, so each owns its rows of grad_weight and columns of grad_x): unless grad_weight
 * is NULL, its (n_in, G + k + 1, n_out) rows set to sum_b feature(x_bi) grad_y[b, :], and,
 * unless grad_x is NULL, grad_x[b, i] = sum_o grad_y[b, o] (the x-slopes of the k + 2
 * nonzero features times their weights)[o]. */
static KS_INLINE void NAME(contract_backward)(
    const REAL *x, const REAL *grid, const REAL *table, const REAL *weight, const REAL *grad_y,
    REAL *grad_weight, REAL *grad_x, Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t batch,
    Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t n_knots, Py_ssize_t rows, const int k,
    int base)
{
    const int n = k + 1;
    const Py_ssize_t per_input = (n_knots - n + 1) * n_out;
    const Py_ssize_t width = 2 + (Py_ssize_t)n * n;
    const Py_ssize_t block = NAME(block_rows)(n_out);
    int32_t index[KS_BLOCK][KS_MAX_BASES];
    REAL values[KS_BLOCK][KS_MAX_BASES], slopes[KS_BLOCK][KS_MAX_BASES];
    REAL xs[KS_BLOCK], base_values[KS_BLOCK], base_slopes[KS_BLOCK];
    int order[KS_BLOCK], first[KS_BLOCK + 1], lone[KS_BLOCK];
    const REAL *row[KS_MAX_BASES];
    REAL *grad_row[KS_MAX_BASES];
    if (grad_weight)
        for (Py_ssize_t at = i0 * per_input; at < i1 * per_input; at++)
            grad_weight[at] = 0;
    for (Py_ssize_t start = 0; start < batch; start += block) {
        const int count = (int)(start + block < batch ? block : batch - start);
        const REAL *g_block = grad_y + start * n_out;
        for (Py_ssize_t i = i0; i < i1; i++) {
            for (int b = 0; b < count; b++)
                xs[b] = x[(start + b) * n_in + i];
            NAME(block_bases)(xs, count, grid + i * n_knots, table + i * rows * width, n_knots,
                              k, base, index, values, grad_x ? slopes : NULL, base_values,
                              grad_x ? base_slopes : NULL);
            const REAL *w = weight + i * per_input;
            if (grad_x) /* reads only: the same loop for every sample */
                for (int b = 0; b < count; b++) {
                    const REAL *g = g_block + b * n_out;
                    for (int r = 0; r < n; r++)
                        row[r] = w + (1 + index[b][r]) * n_out;
                    VECTOR along = {0};
                    Py_ssize_t o0 = 0;
                    for (; o0 + LANES <= n_out; o0 += LANES) {
                        VECTOR slope = base_slopes[b] * NAME(load)(w + o0);
                        for (int r = 0; r < n; r++)
                            slope += slopes[b][r] * NAME(load)(row[r] + o0);
                        along += NAME(load)(g + o0) * slope;
                    }
                    REAL total = 0;
                    if (o0 > 0) /* some full vectors were summed */
                        for (int l = 0; l < LANES; l++)
                            total += along[l];
                    for (Py_ssize_t o = o0; o < n_out; o++) {
                        REAL slope = base_slopes[b] * w[o];
                        for (int r = 0; r < n; r++)
                            slope += slopes[b][r] * row[r][o];
                        total += g[o] * slope;
                    }
                    grad_x[(start + b) * n_in + i] = total;
                }
            if (!grad_weight)
                continue;
            REAL *gw = grad_weight + i * per_input;
            const int groups = NAME(group_by_interval)(index, count, k, (int)n_knots - 2 * n + 1,
                                                       order, first, lone);
            for (int g = 0; g < groups; g++) {
                const int *members = order + first[g], size = first[g + 1] - first[g];
                for (int r = 0; r < n; r++)
                    grad_row[r] = gw + (1 + index[members[0]][r]) * n_out;
                Py_ssize_t o0 = 0;
                if (!lone[g]) /* distinct rows: sums over the group, each row written once */
                    for (; o0 + LANES <= n_out; o0 += LANES) {
                        VECTOR base_sum = {0}, sums[KS_MAX_BASES];
                        for (int r = 0; r < n; r++)
                            sums[r] = base_sum;
                        for (int j = 0; j < size; j++) {
                            const int b = members[j];
                            const VECTOR g_row = NAME(load)(g_block + b * n_out + o0);
                            base_sum += base_values[b] * g_row;
                            for (int r = 0; r < n; r++)
                                sums[r] += values[b][r] * g_row;
                        }
                        NAME(store)(gw + o0, NAME(load)(gw + o0) + base_sum);
                        for (int r = 0; r < n; r++)
                            NAME(store)(grad_row[r] + o0, NAME(load)(grad_row[r] + o0) + sums[r]);
                    }
                for (int j = 0; j < size; j++) { /* the rest, one sample and row at a time */
                    const int b = members[j];
                    const REAL *g_row = g_block + b * n_out;
                    for (Py_ssize_t o = o0; o < n_out; o++) {
                        gw[o] += base_values[b] * g_row[o];
                        for (int r = 0; r < n; r++)
                            grad_row[r][o] += values[b][r] * g_row[o];
                    }
                }
            }
        }
    }
}

/* The layer's weights W (n_in, G + k + 1, n_out) for the inputs i0 <= i < i1:
 * W[i, 0, o] = scale_base[i, o] mask[i, o] and W[i, 1 + c, o] = coef[i, o, c] scale_sp[i, o]
 * mask[i, o] (kanscience.core._contraction.contraction_weight). */
KS_CLONES static void NAME(assemble)(
    const REAL *coef, const REAL *scale_base, const REAL *scale_sp, const REAL *mask,
    REAL *weight, Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t n_out, Py_ssize_t n_coef)
{
    for (Py_ssize_t i = i0; i < i1; i++) {
        REAL *w = weight + i * (n_coef + 1) * n_out;
        const Py_ssize_t edges = i * n_out;
        for (Py_ssize_t o = 0; o < n_out; o++)
            w[o] = scale_base[edges + o] * mask[edges + o];
        for (Py_ssize_t o = 0; o < n_out; o++) {
            const REAL *c = coef + (edges + o) * n_coef;
            for (Py_ssize_t at = 0; at < n_coef; at++)
                w[(1 + at) * n_out + o] = c[at] * scale_sp[edges + o] * mask[edges + o];
        }
    }
}

/* The gradients of coef, scale_base and scale_sp for the inputs i0 <= i < i1 from that of
 * the weights (the backward of NAME(assemble)). */
KS_CLONES static void NAME(parameter_grads)(
    const REAL *grad_weight, const REAL *coef, const REAL *scale_sp, const REAL *mask,
    REAL *grad_coef, REAL *grad_base, REAL *grad_sp, Py_ssize_t i0, Py_ssize_t i1,
    Py_ssize_t n_out, Py_ssize_t n_coef)
{
    for (Py_ssize_t i = i0; i < i1; i++) {
        const REAL *gw = grad_weight + i * (n_coef + 1) * n_out;
        for (Py_ssize_t o = 0; o < n_out; o++) {
            const Py_ssize_t edge = i * n_out + o;
            const REAL *c = coef + edge * n_coef;
            REAL *gc = grad_coef + edge * n_coef;
            REAL total = 0;
            grad_base[edge] = gw[o] * mask[edge];
            for (Py_ssize_t at = 0; at < n_coef; at++) {
                const REAL g = gw[(1 + at) * n_out + o] * mask[edge];
                gc[at] = g * scale_sp[edge];
                total += g * c[at];
            }
            grad_sp[edge] = total;
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

KS_CLONES static void NAME(features_any_order)(
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

KS_CLONES static void NAME(backward_any_order)(
    const REAL *grad, const REAL *x, const int64_t *index, const REAL *slopes, REAL *out,
    Py_ssize_t batch, Py_ssize_t n_in, Py_ssize_t n_features, int n, int base)
{
#define KS_CALL(order) \
    NAME(backward)(grad, x, index, slopes, out, batch, n_in, n_features, (order) + 1, base)
    KS_BY_ORDER(n - 1, KS_CALL)
#undef KS_CALL
}

KS_CLONES static void NAME(contract_any_order)(
    const REAL *x, const REAL *grid, const REAL *table, const REAL *weight, REAL *y,
    Py_ssize_t b0, Py_ssize_t b1, Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t n_knots,
    Py_ssize_t rows, int k, int base)
{
#define KS_CALL(order) \
    NAME(contract)(x, grid, table, weight, y, b0, b1, n_in, n_out, n_knots, rows, order, base)
    KS_BY_ORDER(k, KS_CALL)
#undef KS_CALL
}

KS_CLONES static void NAME(contract_backward_any_order)(
    const REAL *x, const REAL *grid, const REAL *table, const REAL *weight, const REAL *grad_y,
    REAL *grad_weight, REAL *grad_x, Py_ssize_t i0, Py_ssize_t i1, Py_ssize_t batch,
    Py_ssize_t n_in, Py_ssize_t n_out, Py_ssize_t n_knots, Py_ssize_t rows, int k, int base)
{
#define KS_CALL(order)                                                                     \
    NAME(contract_backward)(x, grid, table, weight, grad_y, grad_weight, grad_x, i0, i1, batch, \
                            n_in, n_out, n_knots, rows, order, base)
    KS_BY_ORDER(k, KS_CALL)
#undef KS_CALL
}

#undef KS_BY_ORDER

/* the parameters of this inclusion, so that the next one defines its own */
#undef REAL
#undef BITS
#undef MANTISSA
#undef BIAS
#undef EXP_LIMIT
#undef EXP_DEGREE
#undef LANES
#undef NAME
#undef VECTOR
