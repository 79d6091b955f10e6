#include "var.h"
#include "dfd_running_stats_op.h"
#include "dfd_dnnl.h"

namespace jittor {

DfdRunningStatsOp::DfdRunningStatsOp(Var* stats, Var* mean, Var* var, Var* shift, int channels, float64 momentum)
    : stats(stats), mean(mean), var(var), shift(shift), channels(channels), momentum(momentum) {
    new_mean = create_output(nullptr, ns_float32);
    new_var = create_output(nullptr, ns_float32);
}

void DfdRunningStatsOp::infer_shape() {
    auto& s = stats->shape;
    ASSERT(s.size() == 4 && s[2] == 2 && s[3] == DFD_BL && s[1] * DFD_BL >= channels)
        << "dfd_running_stats: statistics" << s << "are not S×CB×2×B for" << channels << "channels";
    for (Var* v : {mean, var, shift})
        ASSERT(v->shape.size() == 1 && v->shape[0] == channels && v->dtype() == ns_float32)
            << "dfd_running_stats: running buffers and shift must be float32 of" << channels << "channels";
    new_mean->set_shape(mean->shape);
    new_var->set_shape(var->shape);
}

void DfdRunningStatsOp::run() {
    const int64 S = stats->shape[0], CB = stats->shape[1];
    const float* sp = stats->ptr<float32>();
    const float* m0 = mean->ptr<float32>();
    const float* v0 = var->ptr<float32>();
    const float* sh = shift->ptr<float32>();
    float* m1 = new_mean->ptr<float32>();
    float* v1 = new_var->ptr<float32>();
    const float m = float(momentum), inv = 1.f / float(S);
    for (int c = 0; c < channels; c++) {
        const int64 cb = c / DFD_BL, lane = c % DFD_BL;
        float sm = 0.f, sv = 0.f;
        for (int64 s = 0; s < S; s++) {
            sm += sp[((s * CB + cb) * 2) * DFD_BL + lane];
            sv += sp[((s * CB + cb) * 2 + 1) * DFD_BL + lane];
        }
        m1[c] = m0[c] + (sm * inv + sh[c] - m0[c]) * m;
        v1[c] = v0[c] + (sv * inv - v0[c]) * m;
    }
}

} // jittor
