#include <chrono>
#include <cmath>
#include <vector>

#include "var.h"
#include "dfd_adam_op.h"
#include "dfd_dnnl.h"

namespace jittor {

// The vectors are copied, not moved: Jittor's generated maker registers them as inputs after this.
DfdAdamOp::DfdAdamOp(vector<Var*>&& p, vector<Var*>&& g, vector<Var*>&& m, vector<Var*>&& v, float64 lr,
                     float64 beta1, float64 beta2, float64 eps, float64 weight_decay, int64 t)
    : p(p), g(g), m(m), v(v), lr(lr), beta1(beta1), beta2(beta2), eps(eps), weight_decay(weight_decay), t(t) {
    ASSERT(p.size() && p.size() == g.size() && p.size() == m.size() && p.size() == v.size())
        << "dfd_adam: params, grads, m and v must be lists of one length";
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < p.size(); i++) outs.push_back(create_output(nullptr, ns_float32));
}

void DfdAdamOp::infer_shape() {
    const size_t n = p.size();
    for (size_t i = 0; i < n; i++) {
        for (Var* x : {g[i], m[i], v[i]})
            ASSERT(x->shape == p[i]->shape) << "dfd_adam: tensor" << i << "has shape" << x->shape << "for a parameter of" << p[i]->shape;
        for (Var* x : {p[i], g[i], m[i], v[i]}) ASSERT(x->dtype() == ns_float32) << "dfd_adam: float32 only";
        for (int k = 0; k < 3; k++) outs[k * n + i]->set_shape(p[i]->shape);
    }
}

void DfdAdamOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    // Constants as jt.nn.Adam forms them: Python floats (double), rounded to float32 where they meet a tensor.
    const float b1 = float(beta1), b2 = float(beta2), c1 = float(1 - beta1), c2 = float(1 - beta2);
    const float wd = float(weight_decay), e = float(eps);
    const float step = float(lr) * std::sqrt(float(1 - std::pow(beta2, double(t)))) / float(1 - std::pow(beta1, double(t)));
    // Work in chunks of at most 16K elements, so small and large tensors share the threads evenly.
    const int64 CHUNK = 1 << 14;
    const size_t n = p.size();
    std::vector<std::pair<int64, int64>> work;  // (tensor, first element)
    for (size_t i = 0; i < n; i++)
        for (int64 s = 0; s < p[i]->num; s += CHUNK) work.emplace_back(i, s);
    #pragma omp parallel for schedule(static)
    for (int64 w = 0; w < int64(work.size()); w++) {
        const int64 i = work[w].first, s = work[w].second, end = std::min(s + CHUNK, int64(p[i]->num));
        const float *pp = p[i]->ptr<float32>(), *gp = g[i]->ptr<float32>();
        const float *mp = m[i]->ptr<float32>(), *vp = v[i]->ptr<float32>();
        float *po = outs[i]->ptr<float32>(), *mo = outs[n + i]->ptr<float32>(), *vo = outs[2 * n + i]->ptr<float32>();
        #pragma omp simd
        for (int64 k = s; k < end; k++) {
            float gk = wd != 0.f ? gp[k] + pp[k] * wd : gp[k];
            float mk = b1 * mp[k] + c1 * gk;
            float vk = b2 * vp[k] + c2 * gk * gk;  // (c2 g) g, as Python evaluates (1 - b2) * g * g
            mo[k] = mk;
            vo[k] = vk;
            po[k] = pp[k] - mk * step / (std::sqrt(vk) + e);
        }
    }
    if (dfd_profiling())
        dfd_record("adam " + std::to_string(n) + " tensors",
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
