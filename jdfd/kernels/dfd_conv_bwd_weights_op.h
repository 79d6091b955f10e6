// Backward-weights of dfd_conv for training.
#pragma once
#include "op.h"
#include "dfd_dnnl.h"

namespace jittor {

// dw (oc×ic×k×k) and db (oc) from the input x (blocked, or plain with plain_src) and dy (blocked).
struct DfdConvBwdWeightsOp : Op {
    Var *x, *dy, *dw, *db;
    DfdGeom g;
    // @attrs(multiple_outputs)
    DfdConvBwdWeightsOp(Var* x, Var* dy, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);
    const char* name() const override { return "dfd_conv_bwd_weights"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
