/* The "fast" training kernel's steps: hand-vectorised C with run-time CPU dispatch.
 *
 * This is the default kernel, and it does not call BLAS: its rows are short
 * (tens to hundreds of floats), so a BLAS call per dot product costs more in
 * call overhead than the arithmetic, and a window step fuses what would be many
 * BLAS calls into one pass over each row.  The readable pair-by-pair kernel that
 * does call BLAS is `_hs.train_path` (kernel "blas").
 *
 * Why C: GCC's `target_clones` compiles each function below several times
 * (AVX-512, AVX2+FMA, and the baseline SSE2 of every x86-64 CPU) and picks one
 * clone when the module is loaded, from what the CPU supports.  A default build
 * therefore runs wide vector code on a new CPU and never crashes on an old one;
 * no `-march=native` is needed.  Elsewhere (Clang, other CPUs) the macro is empty
 * and the same code is compiled once, for the baseline.  GCC or Clang is needed
 * (vector types, always_inline, __builtin_prefetch), as for the rest of the build.
 *
 * Each dispatched function is a whole step (one path, one window, one CBOW
 * centre word), so the cost of the indirect call is paid once per tens of row
 * operations.  Rows are processed 16 floats at a time with GCC/Clang vector
 * types, which each clone maps to its widest registers; `dot` keeps 16 partial
 * sums (a single running sum cannot be vectorised without -ffast-math).
 *
 * The maths, stated in NumPy, is in hsmcy/reference.py: `path_step`
 * (hs_path_step), `sg_window_step` (hs_sg_window_step, and
 * hs_single_context_step for one context row), `cbow_step` (hs_cbow_step).
 * The tests hold these functions to it.  The sigmoid is the one every kernel
 * shares (_maths.h).
 */
#ifndef HSMCY_FAST_H
#define HSMCY_FAST_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#endif

#include "_maths.h"

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12 && defined(__x86_64__) && defined(__linux__)
#define HS_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#define HS_DISPATCH_NAME "gcc target_clones: x86-64-v4 (AVX-512) / x86-64-v3 (AVX2+FMA) / baseline"
#else
#define HS_DISPATCH
#define HS_DISPATCH_NAME "none: baseline build"
#endif

#if defined(__GNUC__) && !defined(__clang__)
/* The 64-byte vector type is only passed between always-inline helpers, never
 * across a real call, so GCC's note about its calling convention does not apply. */
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

/* ------------------------------------------------------------ row primitives */
/* 16 floats as one value: one AVX-512 register, two AVX2 or four SSE registers,
 * depending on the clone.  memcpy is how C spells an unaligned load/store. */
typedef float hs_float16 __attribute__((vector_size(64)));
typedef float hs_float4 __attribute__((vector_size(16)));

HS_INLINE hs_float16 hs_load16(const float *p) { hs_float16 v; memcpy(&v, p, sizeof v); return v; }
HS_INLINE void hs_store16(float *p, hs_float16 v) { memcpy(p, &v, sizeof v); }
HS_INLINE hs_float4 hs_load4(const float *p) { hs_float4 v; memcpy(&v, p, sizeof v); return v; }
HS_INLINE void hs_store4(float *p, hs_float4 v) { memcpy(p, &v, sizeof v); }

/* Rows are walked in blocks of 16 floats, then of 4 (a width of 100 is 6 x 16 +
 * 4: without the 4-float step the scalar tail would cost as much as 4 blocks),
 * then one float at a time. */

/* Sum of the lanes as a tree (halving), not a chain of additions. */
HS_INLINE float hs_sum16(hs_float16 v, hs_float4 v4)
{
    float lanes[16], half[8];
    int lane;
    memcpy(lanes, &v, sizeof lanes);
    for (lane = 0; lane < 8; lane++)
        half[lane] = lanes[lane] + lanes[lane + 8];
    for (lane = 0; lane < 4; lane++)
        half[lane] += half[lane + 4] + v4[lane];
    return (half[0] + half[2]) + (half[1] + half[3]);
}

/* dots[j] = rows[j] . x for j < COUNT: x is loaded once per block and the
 * COUNT sums run as independent chains.  One function per count (4, 2, 1), so
 * that a window of 6 context words costs 6 dot products, not 8. */
#define HS_DEFINE_DOTS(NAME, COUNT)                                                        \
HS_INLINE void NAME(int size, const float *x, float *const *rows, float *dots)             \
{                                                                                          \
    hs_float16 partial[COUNT] = {{0}}, chunk;                                              \
    hs_float4 partial4[COUNT] = {{0}}, chunk4;                                             \
    float tail[COUNT] = {0.0f};                                                            \
    int i = 0, j;                                                                          \
    for (; i + 16 <= size; i += 16) {                                                      \
        chunk = hs_load16(x + i);                                                          \
        for (j = 0; j < COUNT; j++)                                                        \
            partial[j] += chunk * hs_load16(rows[j] + i);                                  \
    }                                                                                      \
    for (; i + 4 <= size; i += 4) {                                                        \
        chunk4 = hs_load4(x + i);                                                          \
        for (j = 0; j < COUNT; j++)                                                        \
            partial4[j] += chunk4 * hs_load4(rows[j] + i);                                 \
    }                                                                                      \
    for (; i < size; i++)                                                                  \
        for (j = 0; j < COUNT; j++)                                                        \
            tail[j] += x[i] * rows[j][i];                                                  \
    for (j = 0; j < COUNT; j++)                                                            \
        dots[j] = tail[j] + hs_sum16(partial[j], partial4[j]);                             \
}
HS_DEFINE_DOTS(hs_dots4, 4)
HS_DEFINE_DOTS(hs_dots2, 2)
HS_DEFINE_DOTS(hs_dots1, 1)

/* dots[j] = rows[j] . x for j < count (any count). */
HS_INLINE void hs_dots(int size, const float *x, float *const *rows, int count, float *dots)
{
    int j = 0;
    for (; j + 4 <= count; j += 4)
        hs_dots4(size, x, rows + j, dots + j);
    if (j + 2 <= count) {
        hs_dots2(size, x, rows + j, dots + j);
        j += 2;
    }
    if (j < count)
        hs_dots1(size, x, rows + j, dots + j);
}

/* y += a * x */
HS_INLINE void hs_axpy(int size, float a, const float *x, float *y)
{
    int i = 0;
    for (; i + 16 <= size; i += 16)
        hs_store16(y + i, hs_load16(y + i) + a * hs_load16(x + i));
    for (; i + 4 <= size; i += 4)
        hs_store4(y + i, hs_load4(y + i) + a * hs_load4(x + i));
    for (; i < size; i++)
        y[i] += a * x[i];
}

/* One path row against all context rows of a window, once the gains g_j are known:
 *     steps_j += g_j * row   (for every j),   row += sum_j g_j * h_j.
 * One pass over the row instead of 2 n_context + 1 passes.  The sum over j runs
 * in four accumulators (as one chain, each addition would wait for the last),
 * with j unrolled by four so that no branch picks the accumulator. */
#define HS_WINDOW_PAIR(LOAD, STORE, J, SUM)                                                \
    {                                                                                      \
        float *step = steps + (size_t)(J) * size + i;                                      \
        STORE(step, LOAD(step) + gains[J] * old_row);                                      \
        SUM += gains[J] * LOAD(context_rows[J] + i);                                       \
    }
#define HS_WINDOW_BLOCK(VEC, LOAD, STORE, WIDTH)                                           \
    for (; i + WIDTH <= size; i += WIDTH) {                                                \
        VEC old_row = LOAD(row + i), sum0 = {0}, sum1 = {0}, sum2 = {0}, sum3 = {0};       \
        for (j = 0; j + 4 <= n_context; j += 4) {                                          \
            HS_WINDOW_PAIR(LOAD, STORE, j, sum0)                                           \
            HS_WINDOW_PAIR(LOAD, STORE, j + 1, sum1)                                       \
            HS_WINDOW_PAIR(LOAD, STORE, j + 2, sum2)                                       \
            HS_WINDOW_PAIR(LOAD, STORE, j + 3, sum3)                                       \
        }                                                                                  \
        if (j < n_context)                                                                 \
            HS_WINDOW_PAIR(LOAD, STORE, j, sum0)                                           \
        if (j + 1 < n_context)                                                             \
            HS_WINDOW_PAIR(LOAD, STORE, j + 1, sum1)                                       \
        if (j + 2 < n_context)                                                             \
            HS_WINDOW_PAIR(LOAD, STORE, j + 2, sum2)                                       \
        STORE(row + i, old_row + ((sum0 + sum1) + (sum2 + sum3)));                         \
    }

HS_INLINE void hs_window_update(int size, int n_context, float *const *context_rows, const float *gains,
                                float *steps, float *row)
{
    int i = 0, j;
    HS_WINDOW_BLOCK(hs_float16, hs_load16, hs_store16, 16)
    HS_WINDOW_BLOCK(hs_float4, hs_load4, hs_store4, 4)
    for (; i < size; i++) {
        float old_row = row[i], row_step = 0.0f;
        for (j = 0; j < n_context; j++) {
            steps[(size_t)j * size + i] += gains[j] * old_row;
            row_step += gains[j] * context_rows[j][i];
        }
        row[i] = old_row + row_step;
    }
}

/* Prefetching for a write.  Every row the kernels prefetch is then written.  A
 * plain prefetch brings a line that the other worker's core wrote last as a
 * shared copy, and the write must then wait a second time, for that core to drop
 * its copy.  PREFETCHW asks for the line with the right to write it, in one
 * round trip: with two workers on cores that do not share a cache, skip-gram and
 * CBOW trained 14-17% more words per second (benchmarks/NOTES.md).  GCC only
 * emits PREFETCHW for __builtin_prefetch(p, 1) when the whole build targets it,
 * so it is written out here and used only where CPUID reports it (read once,
 * when the module is loaded: hs_detect_prefetch_for_write). */
static int hs_prefetch_for_write = 0;

static int hs_detect_prefetch_for_write(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    unsigned int eax, ebx, ecx, edx;
    /* CPUID 0x80000001, ECX bit 8: PREFETCHW (AMD: "3DNowPrefetch"). */
    if (__get_cpuid(0x80000001u, &eax, &ebx, &ecx, &edx))
        hs_prefetch_for_write = (int)((ecx >> 8) & 1u);
#endif
    return hs_prefetch_for_write;
}

HS_INLINE void hs_prefetch_line(const char *line)
{
#if defined(__GNUC__) && defined(__x86_64__)
    if (hs_prefetch_for_write) {
        __asm__ volatile("prefetchw %0" : : "m"(*line));
        return;
    }
#endif
    __builtin_prefetch(line, 1, 3);
}

/* Ask for a row's cache lines ahead of use.  Below the top of the tree a path
 * row is rarely in L1 or L2, and a window step spends long enough on each path
 * node for the next node's row to arrive in the meantime. */
HS_INLINE void hs_prefetch_row(const float *row, int size)
{
    const char *start = (const char *)row, *end = (const char *)(row + size);
    for (; start < end; start += 64)
        hs_prefetch_line(start);
    hs_prefetch_line(end - 1);
}

/* The first cache line of a path's node ids and codes (a path rarely needs more). */
HS_INLINE void hs_prefetch_path(const int32_t *nodes, const uint8_t *codes)
{
    __builtin_prefetch(nodes, 0, 3);
    __builtin_prefetch(codes, 0, 3);
}

/* ------------------------------------------------------------------- steps */

/* Path nodes k0 .. k0 + count - 1 (count <= 4) of one path step.  The nodes of a
 * path are distinct and each one's update depends only on its own dot product,
 * so four dot products can run side by side, then four sigmoids, then the four
 * row updates: the same arithmetic as node after node, without waiting on each
 * dot product's latency. */
HS_INLINE double hs_path_block(int size, const float *hidden, float *hidden_grad, float *const *rows,
                               const uint8_t *codes, int count, float alpha, int compute_loss)
{
    float dots[4], gains[4];
    double loss = 0.0;
    int k;
    hs_dots(size, hidden, rows, count, dots);
    for (k = 0; k < count; k++)
        gains[k] = alpha * ((float)(1 - codes[k]) - hs_sigmoid(dots[k]));
    for (k = 0; k < count; k++) {
        hs_axpy(size, gains[k], rows[k], hidden_grad);
        hs_axpy(size, gains[k], hidden, rows[k]);
    }
    if (compute_loss)
        for (k = 0; k < count; k++)
            loss += hs_softplus_neg(codes[k] == 0 ? dots[k] : -dots[k]);
    return loss;
}

/* One SGD step on -log P(leaf | hidden) along one path (reference.path_step).
 * For node k with target t = 1 - code_k: g = alpha * (t - sigmoid(hidden . v)),
 * hidden_grad += g * v, v += g * hidden.  `hidden` is left unchanged.
 * `path_rows[k]` is the row of the k-th path node (a worker's private copy for
 * the top of the tree, see `TrainingWorker` in _kernels.pyx).  Rows four nodes
 * ahead are prefetched: below the top of the tree they are rarely in cache. */
HS_INLINE double hs_path_rows(int size, const float *hidden, float *hidden_grad, float *const *path_rows,
                              const uint8_t *codes, int64_t length, float alpha, int compute_loss)
{
    double loss = 0.0;
    int64_t k, ahead;
    for (k = 0; k < length; k += 4) {
        for (ahead = k + 4; ahead < k + 8 && ahead < length; ahead++)
            hs_prefetch_row(path_rows[ahead], size);
        loss += hs_path_block(size, hidden, hidden_grad, path_rows + k, codes + k,
                              length - k < 4 ? (int)(length - k) : 4, alpha, compute_loss);
    }
    return loss;
}

HS_DISPATCH
static double hs_path_step(int size, const float *hidden, float *hidden_grad, float *const *path_rows,
                           const uint8_t *codes, int64_t length, float alpha, int compute_loss)
{
    return hs_path_rows(size, hidden, hidden_grad, path_rows, codes, length, alpha, compute_loss);
}

/* Skip-gram, one centre word, all its context words at once (reference.sg_window_step).
 *
 * Every context row h_j predicts the same leaf along the same path, so the step
 * is taken on the summed loss of the window at its starting point:
 *     g_jk = alpha * (t_k - sigmoid(h_j . v_k))
 *     v_k += sum_j g_jk h_j          (each path row read and written once)
 *     h_j += sum_k g_jk v_k          (applied after the whole path)
 * `path_rows[k]` is the row of the k-th path node (a worker's private copy for
 * the top of the tree, see `TrainingWorker` in _kernels.pyx).  `scratch`
 * holds n_context * size floats (the h_j steps), `gains` and `dots` n_context
 * floats each. */
HS_DISPATCH
static double hs_sg_window_step(int size, float *const *context_rows, int n_context,
                                float *const *path_rows, const uint8_t *codes,
                                int64_t length, float alpha, int compute_loss,
                                float *scratch, float *gains, float *dots)
{
    double loss = 0.0;
    int64_t k;
    int j;
    memset(scratch, 0, (size_t)n_context * (size_t)size * sizeof(float));
    for (k = 0; k < length; k++) {
        float *row = path_rows[k];
        float target = (float)(1 - codes[k]);
        if (k + 1 < length)
            hs_prefetch_row(path_rows[k + 1], size);
        hs_dots(size, row, context_rows, n_context, dots);
        for (j = 0; j < n_context; j++)
            gains[j] = alpha * (target - hs_sigmoid(dots[j]));
        if (compute_loss)
            for (j = 0; j < n_context; j++)
                loss += hs_softplus_neg(codes[k] == 0 ? dots[j] : -dots[j]);
        hs_window_update(size, n_context, context_rows, gains, scratch, row);
    }
    for (j = 0; j < n_context; j++)
        hs_axpy(size, 1.0f, scratch + (size_t)j * size, context_rows[j]);
    return loss;
}

/* Skip-gram with a single context row (PV-DBOW: a document's one vector predicts
 * each of its words), which is the plain path step: reference.sg_window_step with
 * one context row, or path_step followed by row += hidden_grad.  hs_path_rows takes
 * four independent path nodes at a time, where the window step goes node by node
 * (it must, to share each path row between many context rows); with one row that
 * hides more of each dot product's latency.  `hidden_grad` holds `size` floats. */
HS_DISPATCH
static double hs_single_context_step(int size, float *context_row, float *const *path_rows, const uint8_t *codes,
                                     int64_t length, float alpha, int compute_loss, float *hidden_grad)
{
    double loss;
    memset(hidden_grad, 0, (size_t)size * sizeof(float));
    loss = hs_path_rows(size, context_row, hidden_grad, path_rows, codes, length, alpha, compute_loss);
    hs_axpy(size, 1.0f, hidden_grad, context_row);
    return loss;
}

/* CBOW, one centre word (reference.cbow_step): hidden = mean (or sum) of the
 * context rows, one path step, then every context row gets the hidden step
 * (divided by the number of context words for the sum, as gensim does).
 * `path_rows` as for hs_sg_window_step; `hidden` and `hidden_grad` hold `size`
 * floats each. */
HS_DISPATCH
static double hs_cbow_step(int size, float *const *context_rows, int n_context, int cbow_mean,
                           float *const *path_rows, const uint8_t *codes,
                           int64_t length, float alpha, int compute_loss,
                           float *hidden, float *hidden_grad)
{
    double loss = 0.0;
    int j, i;
    float share = 1.0f / (float)n_context;
    memset(hidden, 0, (size_t)size * sizeof(float));
    memset(hidden_grad, 0, (size_t)size * sizeof(float));
    for (j = 0; j < n_context; j++)
        hs_axpy(size, 1.0f, context_rows[j], hidden);
    if (cbow_mean)
        for (i = 0; i < size; i++)
            hidden[i] *= share;
    loss = hs_path_rows(size, hidden, hidden_grad, path_rows, codes, length, alpha, compute_loss);
    for (j = 0; j < n_context; j++)
        hs_axpy(size, cbow_mean ? 1.0f : share, hidden_grad, context_rows[j]);
    return loss;
}

#endif /* HSMCY_FAST_H */
