// The backward of dfd_norm_train: the input's gradient, and gamma's and beta's, in two multi-threaded
// passes over the map (sums, then the gradient). The activation's mask is recomputed from x and the
// statistics, so the forward's output need not be kept.
#pragma once
#include "op.h"

namespace jittor {

struct DfdNormGradOp : Op {
    Var *x, *dy, *stats, *gamma, *beta, *dx, *dgb;
    int channels, per_sample;
    float64 slope, eps;
    // x, stats, gamma, beta and the attributes as given to dfd_norm_train; dy: the gradient of its y.
    // dx: the gradient of x; dgb: 2×channels, the gradients of gamma (row 0) and beta (row 1).
    // @attrs(multiple_outputs)
    DfdNormGradOp(Var* x, Var* dy, Var* stats, Var* gamma, Var* beta, int channels, int per_sample, float64 slope, float64 eps);
    const char* name() const override { return "dfd_norm_grad"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
