// Reorders plain weights (oihw; iohw for transposed) into the layout a dfd_conv geometry wants.
#pragma once
#include "op.h"
#include "dfd_dnnl.h"

namespace jittor {

struct DfdPackOp : Op {
    Var *w, *y;
    DfdGeom g;
    DfdPackOp(Var* w, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src=0);
    const char* name() const override { return "dfd_pack"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
