/* The compiled loops of kanscience (see kanscience/core/_kernels.py): the B-spline features
 * and their x-gradient, a layer's contraction of the features with its weights and its
 * backward pass, and the streamed fit's row permutation. Compiled when the package is
 * installed, so that a new process calls them without a compilation pause. Arguments are
 * the addresses of contiguous tensors (checked by the Python side) and their sizes; the
 * loops run without the GIL, the contraction in chunks on torch's OpenMP threads. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER)
#define KS_INLINE __forceinline
#else
#define KS_INLINE inline __attribute__((always_inline))
#endif

/* Most bases per input value the loops take (order k <= 15); the Python side checks. */
#define KS_MAX_BASES 16
/* Most rows whose bases the contraction evaluates together (vector loops over them). */
#define KS_BLOCK 256
/* Most intervals per grid that the loops group samples by (more: one sample at a time). */
#define KS_MAX_KEYS 1024
/* Bytes of the rows of y (or grad_y) processed together: they stay in the L2 cache while
 * each input's weights are visited once per block instead of once per row, and the block
 * holds enough samples per grid interval for the loops that share rows to gain. */
#define KS_BLOCK_BYTES 262144

/* Loops whose iterations are independent (the pointers they write never alias what they
 * read), so the compiler vectorizes them without run-time overlap checks. */
#if defined(__clang__)
#define KS_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__)
#define KS_IVDEP _Pragma("GCC ivdep")
#else
#define KS_IVDEP
#endif

/* The entry points compiled for AVX-512, AVX2 and the baseline, chosen at load time by the
 * CPU (GCC on x86-64 Linux): a generic build, fast on the machine that runs it. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define KS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define KS_CLONES
#endif

#define REAL float
#define BITS uint32_t
#define MANTISSA 23
#define BIAS 127u
#define EXP_LIMIT 87.0f
#define EXP_DEGREE 7
#define LANES 16
#define NAME(x) x##_f32
#include "_loops_body.h"

#define REAL double
#define BITS uint64_t
#define MANTISSA 52
#define BIAS 1023u
#define EXP_LIMIT 708.0
#define EXP_DEGREE 12
#define LANES 8
#define NAME(x) x##_f64
#include "_loops_body.h"

static PyObject *features(PyObject *self, PyObject *args)
{
    unsigned long long x, grid, table, out, index, slopes;
    Py_ssize_t batch, n_in, n_knots, rows;
    int k, base, want_slopes, is_double;
    if (!PyArg_ParseTuple(args, "KKKKKKnnnniiip", &x, &grid, &table, &out, &index, &slopes,
                          &batch, &n_in, &n_knots, &rows, &k, &base, &want_slopes, &is_double))
        return NULL;
    if (k < 0 || n_knots < k + 2 || rows != n_knots + 1 || batch < 0 || n_in < 0) {
        PyErr_SetString(PyExc_ValueError, "features: inconsistent sizes");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (is_double)
        features_any_order_f64((const double *)x, (const double *)grid, (const double *)table,
                               (double *)out, (int64_t *)index, (double *)slopes, batch, n_in,
                               n_knots, rows, k, base, want_slopes);
    else
        features_any_order_f32((const float *)x, (const float *)grid, (const float *)table,
                               (float *)out, (int64_t *)index, (float *)slopes, batch, n_in,
                               n_knots, rows, k, base, want_slopes);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyObject *backward(PyObject *self, PyObject *args)
{
    unsigned long long grad, x, index, slopes, out;
    Py_ssize_t batch, n_in, n_features;
    int n, base, is_double;
    if (!PyArg_ParseTuple(args, "KKKKKnnniip", &grad, &x, &index, &slopes, &out, &batch,
                          &n_in, &n_features, &n, &base, &is_double))
        return NULL;
    if (n < 1 || n_features < n + 1 || batch < 0 || n_in < 0) {
        PyErr_SetString(PyExc_ValueError, "backward: inconsistent sizes");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    if (is_double)
        backward_any_order_f64((const double *)grad, (const double *)x, (const int64_t *)index,
                               (const double *)slopes, (double *)out, batch, n_in, n_features,
                               n, base);
    else
        backward_any_order_f32((const float *)grad, (const float *)x, (const int64_t *)index,
                               (const float *)slopes, (float *)out, batch, n_in, n_features, n,
                               base);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* A contraction cut into chunks (of rows forward, of inputs backward) that the threads
 * take in turn from an atomic counter: a thread that shares its core with another
 * program's gets fewer. */
typedef struct {
    int kind, is_double, k, base; /* kind: KS_FORWARD, KS_BACKWARD or KS_ASSEMBLE */
    unsigned long long x, grid, table, weight, y, grad_y, grad_weight, grad_x;
    unsigned long long coef, scale_base, scale_sp, mask, grad_coef, grad_base, grad_sp;
    Py_ssize_t batch, n_in, n_out, n_knots, rows, total, chunk, next;
} ks_job;

#if defined(__GNUC__)
#define KS_TAKE(counter, step) __atomic_fetch_add(counter, step, __ATOMIC_RELAXED)
#else
#define KS_TAKE(counter, step) ((*(counter) += (step)) - (step)) /* one thread only */
#endif

enum { KS_FORWARD, KS_BACKWARD, KS_ASSEMBLE };

#define KS_JOB_CALL(REAL, SUFFIX)                                                             \
    if (job->kind == KS_ASSEMBLE)                                                             \
        assemble_##SUFFIX((const REAL *)job->coef, (const REAL *)job->scale_base,             \
                          (const REAL *)job->scale_sp, (const REAL *)job->mask,               \
                          (REAL *)job->weight, start, end, job->n_out,                        \
                          job->n_knots - job->k - 1);                                         \
    else if (job->kind == KS_BACKWARD) {                                                      \
        contract_backward_any_order_##SUFFIX(                                                 \
            (const REAL *)job->x, (const REAL *)job->grid, (const REAL *)job->table,          \
            (const REAL *)job->weight, (const REAL *)job->grad_y, (REAL *)job->grad_weight,   \
            (REAL *)job->grad_x, start, end, job->batch, job->n_in, job->n_out, job->n_knots, \
            job->rows, job->k, job->base);                                                    \
        if (job->grad_weight)                                                                 \
            parameter_grads_##SUFFIX(                                                         \
                (const REAL *)job->grad_weight, (const REAL *)job->coef,                      \
                (const REAL *)job->scale_sp, (const REAL *)job->mask, (REAL *)job->grad_coef, \
                (REAL *)job->grad_base, (REAL *)job->grad_sp, start, end, job->n_out,         \
                job->n_knots - job->k - 1);                                                   \
    } else                                                                                    \
        contract_any_order_##SUFFIX((const REAL *)job->x, (const REAL *)job->grid,            \
                                    (const REAL *)job->table, (const REAL *)job->weight,      \
                                    (REAL *)job->y, start, end, job->n_in, job->n_out,        \
                                    job->n_knots, job->rows, job->k, job->base)

static void ks_work(void *data)
{
    ks_job *job = (ks_job *)data;
    for (;;) {
        const Py_ssize_t start = KS_TAKE(&job->next, job->chunk);
        if (start >= job->total)
            return;
        const Py_ssize_t end = start + job->chunk < job->total ? start + job->chunk : job->total;
        if (job->is_double) {
            KS_JOB_CALL(double, f64);
        } else {
            KS_JOB_CALL(float, f32);
        }
    }
}

/* GOMP_parallel of the OpenMP runtime torch runs on (its address comes from Python): the
 * chunks run on torch's own worker threads, which would otherwise spin beside ours. */
typedef void (*ks_parallel)(void (*)(void *), void *, unsigned, unsigned);

static void ks_run(ks_job *job, unsigned long long parallel, int threads)
{
    job->next = 0;
    if (parallel && threads > 1)
        ((ks_parallel)(uintptr_t)parallel)(ks_work, job, (unsigned)threads, 0);
    else
        ks_work(job);
}

static int ks_check(const ks_job *job, const char *name)
{
    if (job->k < 0 || job->k + 1 > KS_MAX_BASES || job->n_knots < job->k + 2 ||
        job->rows != job->n_knots + 1 || job->batch < 0 || job->n_in < 0 || job->n_out < 0) {
        PyErr_Format(PyExc_ValueError, "%s: inconsistent sizes", name);
        return 0;
    }
    return 1;
}

/* contract(backward, x, grid, table, coef, scale_base, scale_sp, mask, weight, y, grad_y,
 * grad_weight, grad_x, grad_coef, grad_base, grad_sp, batch, n_in, n_out, n_knots, rows, k,
 * base, is_double, parallel, threads): forward, the weights assembled into weight and the
 * features of x contracted with them into y; backward, the gradients of x (grad_x 0 for
 * none) and of the parameters (grad_weight, their scratch, 0 for none). Unused addresses
 * are 0. */
static PyObject *contract(PyObject *self, PyObject *args)
{
    ks_job job = {0};
    int backward, threads;
    unsigned long long parallel;
    if (!PyArg_ParseTuple(args, "pKKKKKKKKKKKKKKKnnnnniipKi", &backward, &job.x, &job.grid,
                          &job.table, &job.coef, &job.scale_base, &job.scale_sp, &job.mask,
                          &job.weight, &job.y, &job.grad_y, &job.grad_weight, &job.grad_x,
                          &job.grad_coef, &job.grad_base, &job.grad_sp, &job.batch, &job.n_in,
                          &job.n_out, &job.n_knots, &job.rows, &job.k, &job.base,
                          &job.is_double, &parallel, &threads))
        return NULL;
    if (!ks_check(&job, "contract"))
        return NULL;
    const Py_ssize_t size = job.is_double ? 8 : 4;
    Py_BEGIN_ALLOW_THREADS
    if (backward) {
        job.kind = KS_BACKWARD;
        job.total = job.n_in;
        job.chunk = 4; /* inputs per chunk: a block of grad_y rows is reused across them */
        ks_run(&job, parallel, threads);
    } else {
        job.kind = KS_ASSEMBLE;
        job.total = job.n_in;
        job.chunk = 4;
        ks_run(&job, parallel, threads);
        job.kind = KS_FORWARD;
        job.total = job.batch;
        job.chunk = KS_BLOCK_BYTES / (size * (job.n_out > 0 ? job.n_out : 1));
        job.chunk = job.chunk < 1 ? 1 : job.chunk > KS_BLOCK ? KS_BLOCK : job.chunk;
        ks_run(&job, parallel, threads);
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

/* RowPermutation (kanscience/train/_permutation.py) position by position: a balanced
 * Feistel network on 2 * half bits, walked along its cycle until the value is below rows.
 * Integer arithmetic as the torch version does it (int64, masks), so the rows are the same. */
static PyObject *permute(PyObject *self, PyObject *args)
{
    unsigned long long positions, out;
    Py_ssize_t count;
    long long rows, half, k0, k1, k2, k3;
    if (!PyArg_ParseTuple(args, "KKnLLLLLL", &positions, &out, &count, &rows, &half, &k0, &k1,
                          &k2, &k3))
        return NULL;
    if (count < 0 || rows < 1 || half < 1 || half > 31 || rows > (1LL << (2 * half))) {
        PyErr_SetString(PyExc_ValueError, "permute: inconsistent sizes");
        return NULL;
    }
    const int64_t keys[4] = {k0, k1, k2, k3};
    const int64_t multipliers[4] = {0x9E3779B1LL, 0x85EBCA6BLL, 0xC2B2AE35LL, 0x27D4EB2FLL};
    const int64_t mask = ((int64_t)1 << half) - 1;
    const int64_t *from = (const int64_t *)(uintptr_t)positions;
    int64_t *to = (int64_t *)(uintptr_t)out;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t at = 0; at < count; at++) {
        int64_t value = from[at];
        do {
            int64_t left = value >> half, right = value & mask;
            for (int round = 0; round < 4; round++) {
                int64_t mixed = ((right ^ keys[round]) * multipliers[round]) & 0xFFFFFFFFLL;
                mixed ^= mixed >> 15;
                const int64_t next = left ^ (mixed & mask);
                left = right;
                right = next;
            }
            value = (left << half) | right;
        } while (value >= rows);
        to[at] = value;
    }
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"features", features, METH_VARARGS,
     "features(x, grid, table, out, index, slopes, batch, n_in, n_knots, rows, k, base, "
     "want_slopes, is_double): the spline features, basis indices and slopes."},
    {"backward", backward, METH_VARARGS,
     "backward(grad, x, index, slopes, out, batch, n_in, n_features, n, base, is_double): "
     "d(loss)/dx from d(loss)/d(features)."},
    {"contract", contract, METH_VARARGS,
     "contract(backward, 15 addresses, batch, n_in, n_out, n_knots, rows, k, base, is_double, "
     "parallel, threads): a layer's compiled contraction or its backward (see the source)."},
    {"permute", permute, METH_VARARGS,
     "permute(positions, out, count, rows, half, key0, key1, key2, key3): the rows at "
     "positions of RowPermutation."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_loops", NULL, -1, methods};

PyMODINIT_FUNC PyInit__loops(void) { return PyModule_Create(&module); }
