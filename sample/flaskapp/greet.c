/* greet.c - the sample app's compiled part: a small Python module written in C.
 *
 * greet.fingerprint(text) returns the 32-bit FNV-1a hash of the text's UTF-8
 * bytes: a short number that tells one container from another at a glance.
 * The module is small on purpose. What matters is how it is built: it needs a
 * C compiler and Python's header files, and the app that imports it needs
 * neither - which is what a multistage build makes use of.
 *
 * Build it (the Dockerfiles do) with:
 *   gcc -O2 -shared -fPIC $(python3-config --includes) -o greet.so greet.c
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>

static PyObject *fingerprint(PyObject *self, PyObject *args)
{
    const char *text;
    Py_ssize_t size;
    if (!PyArg_ParseTuple(args, "s#", &text, &size))
        return NULL;
    uint32_t hash = 2166136261u; /* FNV-1a offset basis */
    for (Py_ssize_t i = 0; i < size; i++) {
        hash ^= (unsigned char)text[i];
        hash *= 16777619u; /* FNV prime */
    }
    return PyLong_FromUnsignedLong(hash);
}

static PyMethodDef methods[] = {
    {"fingerprint", fingerprint, METH_VARARGS,
     "fingerprint(text) -> int: the 32-bit FNV-1a hash of the text's UTF-8 bytes."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "greet", "The sample app's compiled part.", -1, methods,
};

PyMODINIT_FUNC PyInit_greet(void)
{
    return PyModule_Create(&module);
}
