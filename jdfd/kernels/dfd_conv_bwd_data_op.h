// Backward-data of dfd_conv for training (see dfd_conv_bwd_weights_op.h for the weights).
#pragma once
#include "op.h"
#include "dfd_dnnl.h"

namespace jittor {

// dx (N×ceil(ic/BL)×ih×iw×BL) from dy (N×ceil(oc/BL)×oh×ow×BL) and the layer's own weights w (oc×ic×k×k).
struct DfdConvBwdDataOp : Op {
    Var *dy, *w, *dx;
    DfdGeom g;
    DfdConvBwdDataOp(Var* dy, Var* w, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);
    const char* name() const override { return "dfd_conv_bwd_data"; }
    void infer_shape() override;
    void run() override;
};

// Implementation names oneDNN picked for the two backward passes of a geometry ("" if none).
// @pyjt(dfd_conv_grad_impl)
string dfd_conv_grad_impl(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                          int transposed, int algo, int plain_src=0);

} // jittor
