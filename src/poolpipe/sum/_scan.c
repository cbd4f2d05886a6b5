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
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "poolpipe.sum._scan assumes a little-endian machine"
#endif

#define MAX_FAST_DIGITS 18

static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }

static int
append_span(PyObject *list, Py_ssize_t line, Py_ssize_t start, Py_ssize_t end)
{
    PyObject *item = Py_BuildValue("(nnn)", line, start, end);
    if (item == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

static const uint64_t pow10[9] = {
    1u, 10u, 100u, 1000u, 10000u, 100000u, 1000000u, 10000000u, 100000000u,
};

/* Value of the leading ASCII digits among the 8 bytes at p; *count gets how many. */
static inline uint64_t
eight_digits(const unsigned char *p, int *count)
{
    uint64_t x;
    memcpy(&x, p, 8);
    uint64_t a = x ^ 0x3030303030303030ull;
    uint64_t nondigit = (a & 0xF0F0F0F0F0F0F0F0ull)
                        | (((a & 0x0F0F0F0F0F0F0F0Full) + 0x0606060606060606ull)
                           & 0x1010101010101010ull);
    int k = nondigit ? __builtin_ctzll(nondigit) >> 3 : 8;
    *count = k;
    if (k == 0) {
        return 0;
    }
    a <<= 8 * (8 - k);
    a = (a * 10u) + (a >> 8);
    a = (((a & 0x000000FF000000FFull) * (100u + (1000000ull << 32)))
         + (((a >> 16) & 0x000000FF000000FFull) * (1u + (10000ull << 32)))) >> 32;
    return a;
}

static PyObject *
scan(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer view;
    Py_ssize_t max_examples;
    if (!PyArg_ParseTuple(args, "y*n", &view, &max_examples)) {
        return NULL;
    }
    const unsigned char *base = (const unsigned char *)view.buf;
    const unsigned char *p = base;
    const unsigned char *end = base + view.len;
    __int128 acc = 0;
    Py_ssize_t numbers = 0, blanks = 0, lines = 0, bad = 0;
    PyObject *examples = PyList_New(0);
    PyObject *longs = PyList_New(0);
    if (examples == NULL || longs == NULL) {
        goto fail;
    }

    while (p < end) {
        /* Fast path: [+-]digits'\n' with at most 16 digits, 8 at a time. */
        if (end - p >= 18) {
            const unsigned char *q = p;
            int neg = *q == '-';
            q += (*q == '-') | (*q == '+');
            int k1;
            uint64_t v = eight_digits(q, &k1);
            if (k1 == 8) {
                int k2;
                uint64_t v2 = eight_digits(q + 8, &k2);
                if (k2 < 8) {
                    v = v * pow10[k2] + v2;
                    k1 += k2;
                }
                else {
                    k1 = 0;
                }
            }
            if (k1 > 0 && q[k1] == '\n') {
                int64_t m = -(int64_t)neg;
                acc += (__int128)(((int64_t)v ^ m) - m);
                numbers++;
                lines++;
                p = q + k1 + 1;
                continue;
            }
        }
        /* General path: find the line, trim, classify. */
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        const unsigned char *le = nl ? nl : end;
        const unsigned char *next = nl ? nl + 1 : end;
        const unsigned char *s = p, *e = le;
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
            blanks++;
        }
        else {
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
                bad++;
                if ((Py_ssize_t)bad <= max_examples) {
                    int rc = append_span(examples, lines, p - base, le - base);
                    if (rc < 0) {
                        goto fail;
                    }
                }
            }
            else if (t - ds > MAX_FAST_DIGITS) {
                int rc = append_span(longs, lines, s - base, e - base);
                if (rc < 0) {
                    goto fail;
                }
            }
            else {
                acc += neg ? -(__int128)v : (__int128)v;
                numbers++;
            }
        }
        lines++;
        p = next;
    }

    PyBuffer_Release(&view);
    {
        int64_t hi = (int64_t)(acc >> 64);
        uint64_t lo = (uint64_t)acc;
        return Py_BuildValue("(LKnnnnNN)", (long long)hi, (unsigned long long)lo,
                             numbers, blanks, lines, bad, examples, longs);
    }

fail:
    PyBuffer_Release(&view);
    Py_XDECREF(examples);
    Py_XDECREF(longs);
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
