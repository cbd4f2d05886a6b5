/* Fast parser for the numeric columns of CSV lines.
 *
 * parse(buffer, out, delimiter, slots, max_examples) parses the complete lines
 * of a bytes-like buffer (its last line may lack the '\n').  slots has one
 * byte per header field: the output column the field's number goes to, or
 * 255 for a field that is not used.  A line of only spaces and tabs (and an
 * optional '\r') is blank.  Any other line is a row: split into fields at the
 * delimiter, a field that starts with '"' running to its closing quote ('""'
 * inside stands for one quote; a field that does not start with one must not
 * end with one); the row is good when it has exactly as many
 * fields as slots, its quotes are well formed, and every used field holds one
 * finite decimal number: spaces and tabs around [+-]digits[.digits][e[+-]digits]
 * (digits on at least one side of the point).  Good rows are written, in
 * order, to out: a writable C-contiguous float64 buffer with one row of
 * `width` values per good row, width being the number of output columns.
 *
 * Numbers are correctly rounded: up to 19 significant digits with a decimal
 * exponent in [-22, 22] are converted exactly with one IEEE operation, any
 * other by Python's own correctly rounded conversion.
 *
 * Returns (rows, lines, blanks, bad, bad_examples): bad_examples holds up to
 * max_examples (line_index, start, end) spans of bad lines (line indexes from
 * 0 within the buffer, the span without its '\n').
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define UNUSED_SLOT 255
#define MAX_SIG_DIGITS 19
#define MAX_FIELDS 65536

enum cell { CELL_OK = 0, CELL_BAD = 1 };

static inline int is_space(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int is_digit(unsigned char c) { return (unsigned char)(c - '0') < 10; }

static const double exact_pow10[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* Python's correctly rounded conversion of the validated number text [s, e). */
static int
slow_number(const unsigned char *s, const unsigned char *e, double *out)
{
    char small[128];
    Py_ssize_t n = e - s;
    char *buf = n < (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc(n + 1);
    if (buf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *stop = NULL;
    double v = PyOS_string_to_double(buf, &stop, NULL);
    int failed = v == -1.0 && PyErr_Occurred();
    int whole = stop == buf + n;
    if (buf != small) {
        PyMem_Free(buf);
    }
    if (failed) {
        return -1;
    }
    if (!whole) {
        PyErr_SetString(PyExc_SystemError, "number text was not fully converted");
        return -1;
    }
    *out = v;
    return 0;
}

/* Parse one cell [s, e) into *out: CELL_OK, CELL_BAD, or -1 with a Python error set. */
static int
parse_number(const unsigned char *s, const unsigned char *e, double *out)
{
    while (s < e && is_space(*s)) {
        s++;
    }
    while (e > s && is_space(e[-1])) {
        e--;
    }
    const unsigned char *p = s;
    int negative = 0;
    if (p < e && (*p == '+' || *p == '-')) {
        negative = *p == '-';
        p++;
    }
    uint64_t mantissa = 0;
    int significant = 0, digits = 0, exact = 1;
    long exp10 = 0;
    for (; p < e && is_digit(*p); p++, digits++) {
        unsigned d = *p - '0';
        if (significant == 0 && d == 0) {
            continue;
        }
        if (significant < MAX_SIG_DIGITS) {
            mantissa = mantissa * 10 + d;
            significant++;
        }
        else {
            exp10++;
            exact &= d == 0;
        }
    }
    if (p < e && *p == '.') {
        for (p++; p < e && is_digit(*p); p++, digits++) {
            unsigned d = *p - '0';
            if (significant == 0 && d == 0) {
                exp10--;
                continue;
            }
            if (significant < MAX_SIG_DIGITS) {
                mantissa = mantissa * 10 + d;
                significant++;
                exp10--;
            }
            else {
                exact &= d == 0;
            }
        }
    }
    if (digits == 0) {
        return CELL_BAD;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        int exp_negative = 0;
        if (p < e && (*p == '+' || *p == '-')) {
            exp_negative = *p == '-';
            p++;
        }
        if (p == e || !is_digit(*p)) {
            return CELL_BAD;
        }
        long value = 0;
        for (; p < e && is_digit(*p); p++) {
            if (value < 100000000L) {
                value = value * 10 + (*p - '0');
            }
        }
        exp10 += exp_negative ? -value : value;
    }
    if (p != e) {
        return CELL_BAD;
    }
    double v;
    if (mantissa == 0) {
        v = 0.0;
    }
    else if (exact && mantissa <= (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        v = (double)mantissa;
        v = exp10 >= 0 ? v * exact_pow10[exp10] : v / exact_pow10[-exp10];
    }
    else {
        if (slow_number(s, e, &v) < 0) {
            return -1;
        }
        negative = 0;
    }
    if (!isfinite(v)) {
        return CELL_BAD;
    }
    *out = negative ? -v : v;
    return CELL_OK;
}

/* Parse one non-blank line [s, e) into row: 1 if good, 0 if bad, -1 on a Python error. */
static int
parse_row(const unsigned char *s, const unsigned char *e, unsigned char delimiter,
          const unsigned char *slots, Py_ssize_t nfields, double *row)
{
    const unsigned char *p = s;
    Py_ssize_t field = 0;
    for (;;) {
        const unsigned char *fs, *fe;
        int escaped = 0;
        if (p < e && *p == '"') {
            const unsigned char *q = p + 1;
            for (;;) {
                q = memchr(q, '"', e - q);
                if (q == NULL) {
                    return 0;
                }
                if (q + 1 < e && q[1] == '"') {
                    escaped = 1;
                    q += 2;
                    continue;
                }
                break;
            }
            fs = p + 1;
            fe = q;
            p = q + 1;
            if (p < e && *p != delimiter) {
                return 0;
            }
        }
        else {
            fs = p;
            fe = memchr(p, delimiter, e - p);
            if (fe == NULL) {
                fe = e;
            }
            if (fe > fs && fe[-1] == '"') {
                return 0; /* a quote ends a field it did not open: the end of one over lines */
            }
            p = fe;
        }
        if (field < nfields && slots[field] != UNUSED_SLOT) {
            if (escaped) {
                return 0;
            }
            int rc = parse_number(fs, fe, &row[slots[field]]);
            if (rc != CELL_OK) {
                return rc < 0 ? -1 : 0;
            }
        }
        field++;
        if (p < e) {
            p++;
            continue;
        }
        break;
    }
    return field == nfields;
}

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

static PyObject *
parse(PyObject *Py_UNUSED(self), PyObject *args)
{
    Py_buffer view, out, slots;
    int delimiter;
    Py_ssize_t max_examples;
    if (!PyArg_ParseTuple(args, "y*w*Cy*n", &view, &out, &delimiter, &slots, &max_examples)) {
        return NULL;
    }
    PyObject *result = NULL;
    PyObject *examples = NULL;
    const unsigned char *slot = (const unsigned char *)slots.buf;
    Py_ssize_t nfields = slots.len, width = 0;
    if (delimiter < 1 || delimiter > 127 || delimiter == '"' || delimiter == '\n'
        || delimiter == '\r' || delimiter == ' ') {
        PyErr_SetString(PyExc_ValueError, "the delimiter must be one ASCII character, not a quote, space or newline");
        goto done;
    }
    if (nfields < 1 || nfields > MAX_FIELDS) {
        PyErr_SetString(PyExc_ValueError, "slots must have between 1 and 65536 bytes");
        goto done;
    }
    for (Py_ssize_t i = 0; i < nfields; i++) {
        if (slot[i] != UNUSED_SLOT && slot[i] + 1 > width) {
            width = slot[i] + 1;
        }
    }
    if (width == 0) {
        PyErr_SetString(PyExc_ValueError, "no field is used");
        goto done;
    }
    Py_ssize_t capacity = out.len / (Py_ssize_t)(width * sizeof(double));
    double *row = (double *)out.buf;
    examples = PyList_New(0);
    if (examples == NULL) {
        goto done;
    }
    const unsigned char *base = (const unsigned char *)view.buf;
    const unsigned char *p = base, *end = base + view.len;
    Py_ssize_t rows = 0, lines = 0, blanks = 0, bad = 0;
    while (p < end) {
        const unsigned char *nl = memchr(p, '\n', end - p);
        const unsigned char *e = nl ? nl : end;
        const unsigned char *s = p, *stop = e;
        if (stop > s && stop[-1] == '\r') {
            stop--;
        }
        const unsigned char *q = s;
        while (q < stop && is_space(*q)) {
            q++;
        }
        if (q == stop) {
            blanks++;
        }
        else {
            if (rows >= capacity) {
                PyErr_SetString(PyExc_ValueError, "the output buffer is too small");
                goto done;
            }
            int rc = parse_row(s, stop, (unsigned char)delimiter, slot, nfields, row);
            if (rc < 0) {
                goto done;
            }
            if (rc) {
                rows++;
                row += width;
            }
            else {
                bad++;
                if (PyList_GET_SIZE(examples) < max_examples
                    && append_span(examples, lines, s - base, e - base) < 0) {
                    goto done;
                }
            }
        }
        lines++;
        p = nl ? nl + 1 : end;
    }
    result = Py_BuildValue("(nnnnO)", rows, lines, blanks, bad, examples);
done:
    Py_XDECREF(examples);
    PyBuffer_Release(&view);
    PyBuffer_Release(&out);
    PyBuffer_Release(&slots);
    return result;
}

static PyMethodDef methods[] = {
    {"parse", parse, METH_VARARGS, "Parse the numeric columns of complete CSV lines; see the module source."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_csv", "Fast parser for the numeric columns of CSV lines.", -1, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__csv(void)
{
    return PyModule_Create(&module);
}
