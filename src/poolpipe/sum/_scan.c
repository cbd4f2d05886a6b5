/* Fast exact scanner for files of decimal integers, one per line.
 *
 * scan(buffer, max_examples) parses the complete lines of a bytes-like
 * buffer.  A line is an optional sign and ASCII digits, with spaces or tabs
 * around it and an optional '\r' before its '\n'; lines of only spaces and
 * tabs are blank; anything else is bad.  Numbers with more than 18 digits are
 * handed back as "long" spans for Python to convert exactly.  The buffer must
 * hold whole lines; its last line may lack the '\n'.
 *
 * Returns (hi, lo, numbers, blanks, lines, bad, bad_examples, long_spans):
 * the exact sum of the short numbers is hi * 2**64 + lo; bad_examples holds up
 * to max_examples (line_index, start, end) triples and long_spans every
 * (line_index, start, end) of a long number, line indexes counted from 0
 * within the buffer.
 *
 * The fast path for the common line is in _scan_line.h.
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

static PyObject *
scan(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer view;
    State st = {0};
    if (!PyArg_ParseTuple(args, "y*n", &view, &st.max_examples)) {
        return NULL;
    }
    st.base = (const unsigned char *)view.buf;
    const unsigned char *end = st.base + view.len, *start = st.base, *p = st.base;
    __int128 acc = 0;
    Py_ssize_t fast = 0;
    st.examples = PyList_New(0);
    st.longs = PyList_New(0);
    if (st.examples == NULL || st.longs == NULL) {
        goto fail;
    }
    for (; end - p >= 64; p += 64) {
        uint64_t nl = newlines64(p);
        while (nl) {
            const unsigned char *e = p + __builtin_ctzll(nl);
            nl &= nl - 1;
            int64_t v;
            if (e - st.base >= 16 && fast_line(start, e, &v)) {
                acc += v;
                fast++;
            }
            else {
                st.fast = fast;
                if (general_line(&st, start, e) < 0) {
                    goto fail;
                }
            }
            start = e + 1;
        }
    }
    st.fast = fast;
    for (const unsigned char *e; (e = memchr(p, '\n', (size_t)(end - p))) != NULL; p = start) {
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

PyMODINIT_FUNC
PyInit__scan(void)
{
    return PyModule_Create(&module);
}
