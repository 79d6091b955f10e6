// The inverse of dfd_pack for the layouts that are only a reordering (not Winograd's transformed
// weights): packed weights back to the layer's own oihw (iohw for transposed).
#pragma once
#include "op.h"
#include "dfd_dnnl.h"

namespace jittor {

struct DfdUnpackOp : Op {
    Var *w, *y;
    DfdGeom g;
    DfdUnpackOp(Var* w, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);
    const char* name() const override { return "dfd_unpack"; }
    void infer_shape() override;
    void run() override;
};

// Whether a geometry's packed weights are a plain reordering of the layer's own (so dfd_unpack gives them back exactly).
// @pyjt(dfd_conv_weights_reorderable)
bool dfd_conv_weights_reorderable(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);

} // jittor
