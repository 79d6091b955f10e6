// Shared oneDNN state for jdfd's blocked-layout convolutions (see jdfd/kernels/__init__.py).
//
// Activations are kept in oneDNN's channel-blocked layout between layers (nChw16c, or nChw8c where
// the CPU has no AVX-512: DFD_BLOCK, set by jdfd/kernels/__init__.py), so no convolution reorders its
// input or output; weights are reordered once ("packed") and kept.
// Primitives are created once per geometry and cached for the life of the process.
#pragma once
#include <algorithm>
#include <cstdint>
#include <dnnl.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "mem/allocator.h"
#include "var.h"

#ifndef DFD_BLOCK
#define DFD_BLOCK 16
#endif

namespace jittor {

// Channels per block of the activation layout: oneDNN's fast kernels want 16 on AVX-512, 8 on AVX2.
constexpr int DFD_BL = DFD_BLOCK;
static_assert(DFD_BL == 8 || DFD_BL == 16, "DFD_BLOCK must be 8 or 16");
inline dnnl::memory::format_tag dfd_blocked_tag() {
    return DFD_BL == 16 ? dnnl::memory::format_tag::nChw16c : dnnl::memory::format_tag::nChw8c;
}
inline int64_t dfd_blocks(int64_t channels) { return (channels + DFD_BL - 1) / DFD_BL; }
// The index that position i (-n < i < 2n - 1) of a reflection-padded axis of n copies (nn.ReflectionPad2d).
inline int64_t dfd_reflect(int64_t i, int64_t n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; }

struct DfdGeom {
    int n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo;
    int plain_src;  // 1: the input is plain NCHW (first layers, where few channels would waste a block)
    int oh() const { return transposed ? (ih - 1) * stride - pad_l - pad_r + k : (ih + pad_l + pad_r - k) / stride + 1; }
    int ow() const { return transposed ? (iw - 1) * stride - pad_l - pad_r + k : (iw + pad_l + pad_r - k) / stride + 1; }
    std::string key() const;
};

// A geometry's memory descriptors: src plain (plain_src) or blocked, dst blocked, weights "any"
// (oneDNN picks), bias; and its strides and paddings.
struct DfdDescs {
    dnnl::memory::desc src, dst, weights_any, bias;
    dnnl::memory::dims weights_dims, strides, pad_l, pad_r;
};
DfdDescs dfd_descs(const DfdGeom& g);

struct DfdConvEntry {
    dnnl::primitive prim;
    dnnl::memory::desc src, weights, dst, bias, user_weights, scratchpad;
    std::string impl;  // oneDNN's implementation name, e.g. "jit:avx512_core"
};

DfdConvEntry& dfd_conv_entry(const DfdGeom& g);

// Backward primitives of an ordinary convolution (training), cached per geometry like the forward ones.
struct DfdGradEntry {
    dnnl::convolution_backward_data bwd_data;
    dnnl::convolution_backward_weights bwd_weights;
    dnnl::memory::desc src, dst, bias, user_weights, data_weights, diff_weights, data_scratch, weights_scratch;
    std::string impl;
};

DfdGradEntry& dfd_grad_entry(const DfdGeom& g);

// A blocked operand must be N×ceil(C/BL)×H×W×BL of its geometry.
inline bool dfd_is_blocked(const NanoVector& s, int n, int c, int h, int w) {
    return s.size() == 5 && s[0] == n && s[1] == dfd_blocks(c) && s[2] == h && s[3] == w && s[4] == DFD_BL;
}
inline void dfd_check_blocked(const NanoVector& s, int n, int c, int h, int w, const char* what, const DfdGeom& g) {
    ASSERT(dfd_is_blocked(s, n, c, h, w))
        << what << s << "does not match the geometry" << g.key();
}
// Memory for one kernel call (a oneDNN scratchpad, weights reordered for this call), taken from Jittor's
// allocator and given back after the call: between calls Jittor reuses it for maps and weights, instead of a
// buffer of the kernels' own kept at its largest size outside Jittor's cache for the life of the process.
// Aligned to 64 bytes, as oneDNN's own buffers are: its AVX-512 kernels write some of these (the reordered
// weight gradients) with non-temporal 64-byte stores, which fault on an address that is not a multiple of 64,
// and Jittor's allocator only promises 32 (a compact stage-I backward pass segfaulted on an AVX-512 Xeon).
struct DfdBuffer {
    static constexpr size_t align = 64;
    Allocation mem;
    explicit DfdBuffer(size_t bytes) : mem(cpu_allocator, bytes + align) {}
    void* data() const {
        auto p = reinterpret_cast<uintptr_t>(mem.ptr);
        return reinterpret_cast<void*>((p + align - 1) / align * align);
    }
};
// One backward primitive at a time.
std::mutex& dfd_grad_running();

// Per-lane sums over each plane (sample × channel block) of a blocked map, in double, two per lane:
// row_sums(plane, row, s, q) adds one row's terms into s[0..BL) and q[0..BL) (local, zeroed: the compiler
// keeps them in registers). Rows run in parallel; out[g * 2BL + c] = Σ s, out[g * 2BL + BL + c] = Σ q over
// the rows of group g's planes, in order: g = the plane, or (fold > 0) the plane % fold, e.g. fold = the
// channel blocks to sum a channel over every sample (BatchNorm's statistics).
template <class RowSums>
inline void dfd_plane_sums(int64_t planes, int64_t rows, RowSums&& row_sums, double* out, int64_t fold = 0) {
    std::vector<double> part(planes * rows * 2 * DFD_BL, 0.0);
    #pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < planes * rows; r++) {
        double s[DFD_BL] = {0}, q[DFD_BL] = {0};
        row_sums(r / rows, r % rows, s, q);
        for (int c = 0; c < DFD_BL; c++) part[r * 2 * DFD_BL + c] = s[c], part[r * 2 * DFD_BL + DFD_BL + c] = q[c];
    }
    const int64_t groups = fold > 0 ? fold : planes;
    std::fill(out, out + groups * 2 * DFD_BL, 0.0);
    for (int64_t p = 0; p < planes; p++)
        for (int c = 0; c < 2 * DFD_BL; c++) {
            double t = 0;
            for (int64_t r = 0; r < rows; r++) t += part[(p * rows + r) * 2 * DFD_BL + c];
            out[(p % groups) * 2 * DFD_BL + c] += t;
        }
}
// dfd_norm_train's and dfd_norm_grad's operands: a float32 blocked map of `channels`, gamma and beta of `channels`.
inline void dfd_check_norm_operands(Var* x, Var* gamma, Var* beta, int channels, const char* op) {
    ASSERT(x->shape.size() == 5 && x->shape[4] == DFD_BL && x->shape[1] == dfd_blocks(channels) && x->dtype() == ns_float32)
        << op << ": a float32 blocked map of" << channels << "channels, not" << x->shape;
    ASSERT(gamma->num == channels && beta->num == channels && gamma->dtype() == ns_float32 && beta->dtype() == ns_float32)
        << op << ": gamma and beta must be" << channels << "float32 values";
}

// Per-kernel wall time, recorded only while dfd_kernel_profile(1) is on (for benchmarks).
bool dfd_profiling();
void dfd_record(const std::string& what, double seconds);
dnnl::engine& dfd_engine();
dnnl::stream& dfd_stream();

} // jittor
