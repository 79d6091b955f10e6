// Training normalisation on blocked (nChw16c / nChw8c) maps: statistics, affine and activation in one
// multi-threaded pass, with the statistics kept for the backward (dfd_norm_grad). Jittor's own operators
// ran it as several separate passes forward and more backward.
#pragma once
#include "op.h"

namespace jittor {

struct DfdNormTrainOp : Op {
    Var *x, *gamma, *beta, *y, *stats;
    int channels, per_sample;
    float64 slope, eps;
    // y = act((x - mean) / sqrt(var + eps) * gamma + beta), act(v) = v > 0 ? v : slope * v (slope 0: ReLU,
    // 0.2: LeakyReLU, 1: none). per_sample = 1: statistics per sample and channel (InstanceNorm, the FM
    // decoders' sample-statistics BN); 0: per channel over the batch (BatchNorm in training).
    // stats: S×CB×2×B (S = N or 1), the mean and the biased variance max(E[x²] - mean², 0), the layers'
    // own formula, for the running statistics and the backward.
    // @attrs(multiple_outputs)
    DfdNormTrainOp(Var* x, Var* gamma, Var* beta, int channels, int per_sample, float64 slope, float64 eps);
    const char* name() const override { return "dfd_norm_train"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
