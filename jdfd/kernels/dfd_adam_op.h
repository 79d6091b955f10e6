// Adam over many tensors in one multi-threaded pass (the Trainer's optimiser on the CPU).
#pragma once
#include "op.h"

namespace jittor {

// For each i: the new p[i], m[i], v[i] (outputs 0..n-1, n..2n-1, 2n..3n-1) from p, g, m, v, with the
// formula and float32 arithmetic of jt.nn.Adam: g += wd * p; m = b1 m + (1 - b1) g;
// v = b2 v + (1 - b2) g²; p -= m * step / (sqrt(v) + eps), step = lr sqrt(1 - b2^t) / (1 - b1^t).
// Jittor's own Adam runs several operators per tensor, each pass its own; this reads each tensor once.
struct DfdAdamOp : Op {
    vector<Var*> p, g, m, v, outs;
    float64 lr, beta1, beta2, eps, weight_decay;
    int64 t;
    // @attrs(multiple_outputs)
    DfdAdamOp(vector<Var*>&& p, vector<Var*>&& g, vector<Var*>&& m, vector<Var*>&& v, float64 lr, float64 beta1, float64 beta2, float64 eps, float64 weight_decay, int64 t);
    const char* name() const override { return "dfd_adam"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
