// Per-sample, per-channel normalisation on blocked (nChw16c or nChw8c) maps, fused with ReLU, a residual add
// and reflection padding of the output (instance norm and the FM decoders' sample-statistics BN).
#pragma once
#include "op.h"

namespace jittor {

struct DfdNormOp : Op {
    Var *x, *gamma, *beta, *res, *y;
    int channels, norm, relu, pad, has_res, shuffle, unshuffle;
    float64 eps;
    // norm=1: y = (x - mean) / sqrt(var + eps) * gamma + beta with the map's own statistics;
    // norm=0: y = x * gamma + beta (a fixed affine, e.g. eval BatchNorm, or ones/zeros to only pad).
    // Then ReLU if relu, + res if has_res (res is not read otherwise), reflection-padded by pad.
    // shuffle=1: x holds the four phases of a stride-2 transposed convolution as channel groups
    // (phase (a, b) = output pixels (2i+a, 2j+b)), interleaved here into one map of twice the size.
    // unshuffle=1: the reverse for the output, which is written as its four phases (space-to-depth).
    DfdNormOp(Var* x, Var* gamma, Var* beta, Var* res, int channels, int norm, int relu, int pad, int has_res, float64 eps, int shuffle=0, int unshuffle=0);
    const char* name() const override { return "dfd_norm"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
