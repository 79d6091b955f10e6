// Reflection padding of a blocked map (N×CB×H×W×B) by p on each side, and its gradient, in one
// multi-threaded pass each. Jittor's own reindex / reindex_reduce for it (the training path's
// padding, forward and backward) ran single-threaded and took about a third as long as the
// convolutions around it.
#pragma once
#include "op.h"

namespace jittor {

struct DfdPadOp : Op {
    Var *x, *y;
    int p, grad;
    // grad = 0: x is N×CB×H×W×B → y N×CB×(H+2p)×(W+2p)×B, reflected at the borders (ReflectionPad2d).
    // grad = 1: x is the gradient of such a padded map → y N×CB×(H-2p)×(W-2p)×B, each pixel the sum of
    // the padded pixels that copied it.
    DfdPadOp(Var* x, int p, int grad=0);
    const char* name() const override { return "dfd_pad"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
