/* Fused CPU loops for the B-spline features (see kanscience/core/_kernels.py), compiled
 * when the package is installed, so that a new process calls them without a compilation
 * pause. Arguments are the addresses of contiguous tensors (checked by the Python side)
 * and their sizes; the loops run without the GIL. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>

#if defined(_MSC_VER)
#define KS_INLINE __forceinline
#else
#define KS_INLINE inline __attribute__((always_inline))
#endif

#define REAL float
#define EXP expf
#define NAME(x) x##_f32
#include "_loops_body.h"
#undef REAL
#undef EXP
#undef NAME

#define REAL double
#define EXP exp
#define NAME(x) x##_f64
#include "_loops_body.h"
#undef REAL
#undef EXP
#undef NAME

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

static PyMethodDef methods[] = {
    {"features", features, METH_VARARGS,
     "features(x, grid, table, out, index, slopes, batch, n_in, n_knots, rows, k, base, "
     "want_slopes, is_double): the spline features, basis indices and slopes."},
    {"backward", backward, METH_VARARGS,
     "backward(grad, x, index, slopes, out, batch, n_in, n_features, n, base, is_double): "
     "d(loss)/dx from d(loss)/d(features)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_loops", NULL, -1, methods};

PyMODINIT_FUNC PyInit__loops(void) { return PyModule_Create(&module); }
