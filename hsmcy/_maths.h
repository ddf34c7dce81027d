/* The scalar maths every hierarchical-softmax kernel shares: the sigmoid and the
 * stable log-loss.  One definition, used by both training kernels ("blas" and
 * "fast"), the output layer, the classifier and inference (through _hs.pxd), so
 * that they all compute the same sigmoid.  hsmcy/reference.py states it:
 * `reference.sigmoid_float32`.
 */
#ifndef HSMCY_MATHS_H
#define HSMCY_MATHS_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#define HS_INLINE static inline __attribute__((always_inline))

/* e^x in single precision, as straight-line code the compiler can vectorise
 * (the C library's expf is an opaque call).  x = n ln2 + r with |r| <= ln2 / 2;
 * e^r by the degree-6 polynomial of the Cephes library (relative error about
 * 1e-7, i.e. float rounding); 2^n by writing the exponent bits.  x is first
 * clamped to [-87, 88] so that 2^n stays a normal float: e^-87 ~ 1.6e-38 and
 * e^88 ~ 1.7e38 then stand for anything beyond, which changes sigmoid values by
 * less than 1e-37 (reference.sigmoid_float32 states this). */
HS_INLINE float hs_expf(float x)
{
    const float round_magic = 12582912.0f;  /* 1.5 * 2^23: adding it rounds to an integer */
    float n, r, p;
    int32_t bits;
    float scale;
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    n = (x * 1.44269504088896341f + round_magic) - round_magic;
    r = x - n * 0.693359375f;               /* ln2 split in two for an exact product */
    r = r + n * 2.12194440e-4f;
    p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    bits = ((int32_t)n + 127) << 23;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

/* 1 / (1 + e^-x), not clipped: the gradient (target - sigmoid) stays exact for a
 * saturated but wrong node (word2vec.c and gensim skip nodes with |x| >= 6).
 * Never NaN for a finite or infinite x. */
HS_INLINE float hs_sigmoid(float x)
{
    return 1.0f / (1.0f + hs_expf(-x));
}

/* -log(sigmoid(z)) = log(1 + e^-z), stable for large |z|: the binary log-loss of
 * one path node, in double precision (losses are summed over millions of nodes). */
HS_INLINE double hs_softplus_neg(double z)
{
    return z > 0 ? log1p(exp(-z)) : -z + log1p(exp(z));
}

#endif /* HSMCY_MATHS_H */
