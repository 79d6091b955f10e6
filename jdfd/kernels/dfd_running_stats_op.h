// A norm's running statistics updated from one training step's statistics, in one op. Jittor's own
// ops for it (slice, mean over samples, the momentum update: about eight per buffer) were 1,000 of a
// compact stage-I step's 1,700 operators and 4 % of its time.
#pragma once
#include "op.h"

namespace jittor {

struct DfdRunningStatsOp : Op {
    Var *stats, *mean, *var, *shift, *new_mean, *new_var;
    int channels;
    float64 momentum;
    // stats: S×CB×2×B as dfd_norm_train gives it (each group's mean and biased variance); mean, var: the
    // layer's running buffers (channels); shift: added to the step's mean (channels: the bias of a
    // transposed convolution the norm absorbed, else zeros). As the layers' own execute():
    // new = old + (step's statistic averaged over S - old) * momentum, in float32.
    // @attrs(multiple_outputs)
    DfdRunningStatsOp(Var* stats, Var* mean, Var* var, Var* shift, int channels, float64 momentum);
    const char* name() const override { return "dfd_running_stats"; }
    void infer_shape() override;
    void run() override;
};

} // jittor
