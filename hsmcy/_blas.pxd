# The one place where hsmcy reaches BLAS.  Every kernel calls these wrappers, so
# switching a routine (or replacing it by a plain loop) happens here only.
#
# scipy.linalg.cython_blas exposes the Fortran interface: every argument is a
# pointer, hence the small locals.  Read-only inputs arrive as const pointers from
# const memoryviews; BLAS never writes through x, so casting const away is safe.
from scipy.linalg.cython_blas cimport sdot, saxpy, sscal, sgemm


cdef inline float dot(int size, const float* x, const float* y) noexcept nogil:
    """Return x . y."""
    cdef int one = 1
    return sdot(&size, <float*>x, &one, <float*>y, &one)


cdef inline void axpy(int size, float alpha, const float* x, float* y) noexcept nogil:
    """y += alpha * x."""
    cdef int one = 1
    saxpy(&size, &alpha, <float*>x, &one, y, &one)


cdef inline void scale(int size, float alpha, float* x) noexcept nogil:
    """x *= alpha."""
    cdef int one = 1
    sscal(&size, &alpha, x, &one)


# Matrix form, for kernels that dot many vectors with many rows: one call
# replaces a loop of dot() calls and saves their per-call overhead.
# Row-major (rows x size) storage is column-major (size x rows), hence the 'T's.
cdef inline void matmul_transposed(int n_a, int n_b, int size, const float* a, const float* b,
                                   float* out) noexcept nogil:
    """out[i, j] = a[i] . b[j]: ``a`` is (n_a x size), ``b`` (n_b x size), ``out`` (n_a x n_b), all row-major."""
    cdef char transpose = b'T', keep = b'N'
    cdef float alpha = 1.0, beta = 0.0
    # Column-major view: out^T (n_b x n_a) = b (n_b x size) . a^T (size x n_a).
    sgemm(&transpose, &keep, &n_b, &n_a, &size, &alpha, <float*>b, &size, <float*>a, &size, &beta, out, &n_b)
