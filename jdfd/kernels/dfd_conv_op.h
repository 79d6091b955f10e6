// Convolution / transposed convolution on blocked (nChw16c or nChw8c) activations with pre-packed weights.
#pragma once
#include "op.h"
#include "dfd_dnnl.h"

namespace jittor {

struct DfdConvOp : Op {
    Var *x, *w, *b, *y;
    DfdGeom g;
    // x: N×ceil(ic/BL)×ih×iw×BL (or N×ic×ih×iw with plain_src); w: weights packed by dfd_pack with the same geometry; b: (oc,)
    DfdConvOp(Var* x, Var* w, Var* b, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);
    const char* name() const override { return "dfd_conv"; }
    void infer_shape() override;
    void run() override;
};

// Implementation name oneDNN picked for a geometry ("" if it cannot be created).
// @pyjt(dfd_conv_impl)
string dfd_conv_impl(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                     int transposed, int algo, int plain_src=0);

// A fingerprint of the packed-weights layout of a geometry: geometries with equal fingerprints
// (e.g. the same layer at batch 1 and 4) can share one packed copy.
// @pyjt(dfd_conv_weights_layout)
string dfd_conv_weights_layout(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);

// Channels per block of the activation layout these kernels were built for (16 or 8).
// @pyjt(dfd_block)
int dfd_block();

// For a test: makes `count` per-call buffers (DfdBuffer) of 1..count × `bytes`, all alive at once, and returns
// "R B": how many of Jittor's raw allocations (R) and of the buffers' data pointers (B) are not 64-byte aligned.
// @pyjt(dfd_buffer_misaligned)
string dfd_buffer_misaligned(int64 bytes, int count);

// Turns kernel timing on (1) or off (0); returns the times so far ("kernel<TAB>calls<TAB>seconds" lines) and clears them.
// @pyjt(dfd_kernel_profile)
string dfd_kernel_profile(int on);

} // jittor
