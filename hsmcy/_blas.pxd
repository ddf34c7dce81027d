# The one place where hsmcy reaches BLAS.  Every kernel calls these wrappers, so
# switching a routine (or replacing it by a plain loop) happens here only.
#
# scipy.linalg.cython_blas exposes the Fortran interface: every argument is a
# pointer, hence the small locals.  Read-only inputs arrive as const pointers from
# const memoryviews; BLAS never writes through x, so casting const away is safe.
from scipy.linalg.cython_blas cimport sdot, saxpy, sscal


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
