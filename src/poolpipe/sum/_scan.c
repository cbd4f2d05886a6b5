/* Fast exact scanner for files of decimal integers, one per line.
 *
 * scan(buffer, max_examples[, kernel]) parses the complete lines of a
 * bytes-like buffer.  A line is an optional sign and ASCII digits, with spaces
 * or tabs around it and an optional '\r' before its '\n'; lines of only spaces
 * and tabs are blank; anything else is bad.  Numbers with more than 18 digits
 * are handed back as "long" spans for Python to convert exactly.  The buffer
 * must hold whole lines; its last line may lack the '\n'.
 *
 * Returns (hi, lo, numbers, blanks, lines, bad, bad_examples, long_spans):
 * the exact sum of the short numbers is hi * 2**64 + lo; bad_examples holds up
 * to max_examples (line_index, start, end) triples and long_spans every
 * (line_index, start, end) of a long number, line indexes counted from 0
 * within the buffer.
 *
 * The fast path for the common line is in _scan_line.h, in kernels for
 * several instruction sets; every kernel gives the same answers.  KERNELS is
 * the tuple of the kernels this CPU can run, the slowest first, and KERNEL the
 * one scan uses unless its optional third argument names another of KERNELS
 * (ValueError for any other name).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "poolpipe.sum._scan assumes a little-endian machine"
#endif

#include "_scan_line.h"

#define MAX_FAST_DIGITS 18

typedef struct {
    const unsigned char *base;
    __int128 acc;
    Py_ssize_t numbers, blanks, lines, bad, max_examples, fast;
    PyObject *examples, *longs;
} State;

static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

static int
append_span(PyObject *list, Py_ssize_t line, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *item = Py_BuildValue("(nnn)", line, start, end);
    if (item == NULL)
        return -1;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* Any line [p, le) (no '\n'): trim, classify, count.  -1 on a Python error. */
static int
general_line(State *st, const unsigned char *p, const unsigned char *le)
{
    const unsigned char *s = p, *e = le;
    Py_ssize_t line = st->lines++ + st->fast;
    if (e > s && e[-1] == '\r') {
        e--;
    }
    while (s < e && is_blank(*s)) {
        s++;
    }
    while (e > s && is_blank(e[-1])) {
        e--;
    }
    if (s == e) {
        st->blanks++;
        return 0;
    }
    const unsigned char *t = s;
    int neg = *t == '-';
    t += (*t == '-') | (*t == '+');
    const unsigned char *ds = t;
    uint64_t v = 0;
    unsigned d;
    while (t < e && (d = (unsigned)(*t - '0')) < 10u) {
        if (t - ds < MAX_FAST_DIGITS) {
            v = v * 10u + d;
        }
        t++;
    }
    if (t != e || t == ds) {
        if (++st->bad <= st->max_examples) {
            return append_span(st->examples, line, p - st->base, le - st->base);
        }
        return 0;
    }
    if (t - ds > MAX_FAST_DIGITS) {
        return append_span(st->longs, line, s - st->base, e - st->base);
    }
    st->acc += neg ? -(__int128)v : (__int128)v;
    st->numbers++;
    return 0;
}

typedef struct {
    const char *name;
    size_t (*flatten)(const unsigned char *, size_t, const unsigned char **);
    size_t (*lines)(const unsigned char *const *, size_t, int64_t *);
} Kernel;

static Kernel KERNELS[] = {
#ifdef SCAN_X86
    {"sse2", NULL, NULL},
    {"avx2", flatten_avx2, lines_avx2},
#else
    {"swar", NULL, NULL},
#endif
};
/* 64-byte blocks per list of line ends.  A fast line of value below 10**d takes d + 1 bytes
 * or more, so a chunk's fast lines (the first may start before it) sum to less than
 * (64 * 64 + 17) / 17 * 10**16 < 2**63. */
#define CHUNK_BLOCKS 64
static size_t n_supported = 1;

/* The supported kernel named `name`, or NULL with ValueError set. */
static const Kernel *
find_kernel(const char *name)
{
    for (size_t i = 0; i < n_supported; i++) {
        if (strcmp(KERNELS[i].name, name) == 0) {
            return &KERNELS[i];
        }
    }
    PyErr_Format(PyExc_ValueError, "no scan kernel %s on this CPU", name);
    return NULL;
}

static PyObject *
scan(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer view;
    State st = {0};
    const char *name = NULL;
    if (!PyArg_ParseTuple(args, "y*n|s", &view, &st.max_examples, &name)) {
        return NULL;
    }
    const Kernel *k = name == NULL ? &KERNELS[n_supported - 1] : find_kernel(name);
    if (k == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    st.base = (const unsigned char *)view.buf;
    const unsigned char *end = st.base + view.len, *start = st.base, *p, *e;
    const unsigned char *nx[1 + 64 * CHUNK_BLOCKS + 8];
    __int128 acc = 0;
    Py_ssize_t fast = 0;
    st.examples = PyList_New(0);
    st.longs = PyList_New(0);
    if (st.examples == NULL || st.longs == NULL) {
        goto fail;
    }
    /* The kernels read the 16 bytes before a line's '\n': the first lines go the slow way. */
    const unsigned char *first = st.base + (view.len < 16 ? view.len : 16);
    for (; (e = memchr(start, '\n', (size_t)(first - start))) != NULL; start = e + 1) {
        if (general_line(&st, start, e) < 0) {
            goto fail;
        }
    }
    for (p = first; k->flatten == NULL && end - p >= 64; p += 64) {
        /* swar, sse2: each line as its '\n' is found (faster there than a list of line ends). */
        for (uint64_t nl = direct_newlines(p); nl != 0; nl &= nl - 1) {
            const unsigned char *line[2] = {start, p + 1 + __builtin_ctzll(nl)};
            int64_t v;
            if (direct_line(line + 1, &v)) {
                acc += v;
                fast++;
            }
            else {
                st.fast = fast;
                if (general_line(&st, start, line[1] - 1) < 0) {
                    goto fail;
                }
            }
            start = line[1];
        }
    }
    for (; k->flatten != NULL && end - p >= 64;) {
        size_t blocks = (size_t)(end - p) / 64 < CHUNK_BLOCKS ? (size_t)(end - p) / 64 : CHUNK_BLOCKS;
        nx[0] = start;
        size_t n = k->flatten(p, blocks, nx + 1);
        int64_t sum = 0;
        p += 64 * blocks;
        for (size_t i = 0; i < n; i++) {
            size_t done = k->lines(nx + 1 + i, n - i, &sum);
            fast += (Py_ssize_t)done;
            i += done;
            if (i < n) {
                st.fast = fast;
                if (general_line(&st, nx[i], nx[i + 1] - 1) < 0) {
                    goto fail;
                }
            }
        }
        acc += sum;
        start = nx[n];
    }
    st.fast = fast;
    for (; (e = memchr(p, '\n', (size_t)(end - p))) != NULL; p = start) {
        if (general_line(&st, start, e) < 0) {
            goto fail;
        }
        start = e + 1;
    }
    if (start < end && general_line(&st, start, end) < 0) {
        goto fail;
    }

    PyBuffer_Release(&view);
    acc += st.acc;
    return Py_BuildValue("(LKnnnnNN)", (long long)(int64_t)(acc >> 64),
                         (unsigned long long)(uint64_t)acc, st.numbers + fast, st.blanks,
                         st.lines + fast,
                         st.bad, st.examples, st.longs);

fail:
    PyBuffer_Release(&view);
    Py_XDECREF(st.examples);
    Py_XDECREF(st.longs);
    return NULL;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Scan complete lines of integers; see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_scan", "Fast exact scanner for integer lines.", -1, methods, NULL, NULL, NULL, NULL,
};

/* The kernels this CPU runs, the slowest first. */
static size_t
supported_kernels(void)
{
#ifdef SCAN_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2")
        && __builtin_cpu_supports("popcnt")) {
        return 2;
    }
    return 1;
#else
    return 1;
#endif
}

PyMODINIT_FUNC
PyInit__scan(void)
{
    PyObject *m = PyModule_Create(&module), *names = NULL;
    n_supported = supported_kernels();
    if (m == NULL || (names = PyTuple_New((Py_ssize_t)n_supported)) == NULL) {
        goto fail;
    }
    for (size_t i = 0; i < n_supported; i++) {
        PyObject *name = PyUnicode_FromString(KERNELS[i].name);
        if (name == NULL) {
            goto fail;
        }
        PyTuple_SET_ITEM(names, (Py_ssize_t)i, name);
    }
    if (PyModule_AddStringConstant(m, "KERNEL", KERNELS[n_supported - 1].name) < 0
        || PyModule_AddObject(m, "KERNELS", names) < 0) {
        goto fail;
    }
    return m;

fail:
    Py_XDECREF(names);
    Py_XDECREF(m);
    return NULL;
}
