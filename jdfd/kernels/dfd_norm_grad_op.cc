#include <chrono>
#include <cmath>
#include <vector>

#include "var.h"
#include "dfd_norm_grad_op.h"
#include "dfd_dnnl.h"

namespace jittor {

DfdNormGradOp::DfdNormGradOp(Var* x, Var* dy, Var* stats, Var* gamma, Var* beta, int channels, int per_sample, float64 slope, float64 eps)
    : x(x), dy(dy), stats(stats), gamma(gamma), beta(beta), channels(channels), per_sample(per_sample), slope(slope), eps(eps) {
    dx = create_output(nullptr, ns_float32);
    dgb = create_output(nullptr, ns_float32);
}

void DfdNormGradOp::infer_shape() {
    dfd_check_norm_operands(x, gamma, beta, channels, "dfd_norm_grad");
    ASSERT(dy->shape == x->shape && dy->dtype() == ns_float32) << "dfd_norm_grad: dy" << dy->shape << "for x" << x->shape;
    NanoVector st(per_sample ? x->shape[0] : 1, x->shape[1], 2, DFD_BL);
    ASSERT(stats->shape == st && stats->dtype() == ns_float32) << "dfd_norm_grad: stats" << stats->shape << "should be" << st;
    dx->set_shape(x->shape);
    dgb->set_shape(NanoVector(2, channels));
}

// With x̂ = (x - mean) rstd, pre = gamma x̂ + beta and y = act(pre), dpre = dy act'(pre):
// dbeta = Σ dpre, dgamma = Σ dpre x̂, dx = gamma rstd (dpre - mean(dpre) - x̂ mean(dpre x̂)),
// the sums and means over each statistics group.
void DfdNormGradOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    constexpr int BL = DFD_BL;
    const int64 N = x->shape[0], CB = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64 S = per_sample ? N : 1;
    const float *xp = x->ptr<float32>(), *dyp = dy->ptr<float32>(), *sp = stats->ptr<float32>();
    const float *gp = gamma->ptr<float32>(), *bp = beta->ptr<float32>();
    // per group and lane: mean, rstd, and the forward's scale and shift (the activation's mask is pre > 0)
    std::vector<float> mean(S * CB * BL), rstd(S * CB * BL), scale(S * CB * BL, 0.f), shift(S * CB * BL, 0.f);
    for (int64 g = 0; g < S * CB; g++)
        for (int c = 0; c < BL; c++) {
            const int64 ch = (g % CB) * BL + c, i = g * BL + c;
            mean[i] = sp[g * 2 * BL + c];
            const float sd = std::sqrt(sp[g * 2 * BL + BL + c] + float(eps));
            rstd[i] = 1.f / sd;
            if (ch < channels) {  // as dfd_norm_train forms them, so the mask is the forward's
                scale[i] = gp[ch] / sd;
                shift[i] = bp[ch] - mean[i] * scale[i];
            }
        }
    const float a = float(slope);
    auto group = [&](int64 p) { return (per_sample ? p : p % CB) * BL; };
    std::vector<double> sums(S * CB * 2 * BL);  // per statistics group, as dfd_norm_train's
    dfd_plane_sums(N * CB, H, [&](int64 p, int64 h, double* s, double* q) {
        const int64 g = group(p), off = (p * H + h) * W * BL;
        float sc[BL], sh[BL], mu[BL], rs[BL];  // local copies: no aliasing with the maps, kept in registers
        for (int c = 0; c < BL; c++) sc[c] = scale[g + c], sh[c] = shift[g + c], mu[c] = mean[g + c], rs[c] = rstd[g + c];
        const float* xr = xp + off;
        const float* dr = dyp + off;
        const float k = a;  // a local copy: read through the lambda's reference, GCC would not vectorize
        for (int64 w = 0; w < W; w++) {
            #pragma omp simd
            for (int c = 0; c < BL; c++) {
                const float xv = xr[w * BL + c], d = dr[w * BL + c];
                const float dp = xv * sc[c] + sh[c] > 0.f ? d : d * k;
                s[c] += dp;
                q[c] += double(dp) * double((xv - mu[c]) * rs[c]);
            }
        }
    }, sums.data(), per_sample ? 0 : CB);
    // per group: mean(dpre), mean(dpre x̂); gamma's and beta's gradients summed over all groups
    std::vector<float> m1(S * CB * BL), m2(S * CB * BL);
    std::vector<double> dg(CB * BL, 0.0), db(CB * BL, 0.0);
    const double inv = 1.0 / double(H * W * (N / S));
    for (int64 s = 0; s < S; s++)
        for (int64 cb = 0; cb < CB; cb++)
            for (int c = 0; c < BL; c++) {
                const double sd = sums[(s * CB + cb) * 2 * BL + c], sq = sums[(s * CB + cb) * 2 * BL + BL + c];
                m1[(s * CB + cb) * BL + c] = float(sd * inv);
                m2[(s * CB + cb) * BL + c] = float(sq * inv);
                dg[cb * BL + c] += sq;
                db[cb * BL + c] += sd;
            }
    float* dgp = dgb->ptr<float32>();
    for (int ch = 0; ch < channels; ch++) dgp[ch] = float(dg[ch]), dgp[channels + ch] = float(db[ch]);
    float* dxp = dx->ptr<float32>();
    #pragma omp parallel for schedule(static)
    for (int64 r = 0; r < N * CB * H; r++) {
        const int64 p = r / H, g = group(p), cb = p % CB, off = r * W * BL;
        float sc[BL], sh[BL], mu[BL], rs[BL], a1[BL], a2[BL], k[BL];
        for (int c = 0; c < BL; c++) {
            sc[c] = scale[g + c], sh[c] = shift[g + c], mu[c] = mean[g + c], rs[c] = rstd[g + c];
            a1[c] = m1[g + c], a2[c] = m2[g + c];
            k[c] = cb * BL + c < channels ? gp[cb * BL + c] * rs[c] : 0.f;
        }
        for (int64 w = 0; w < W; w++) {
            #pragma omp simd
            for (int c = 0; c < BL; c++) {
                const float xv = xp[off + w * BL + c], d = dyp[off + w * BL + c];
                const float dp = xv * sc[c] + sh[c] > 0.f ? d : d * a;
                dxp[off + w * BL + c] = k[c] * (dp - a1[c] - (xv - mu[c]) * rs[c] * a2[c]);
            }
        }
    }
    if (dfd_profiling())
        dfd_record("norm-grad " + std::string(per_sample ? "sample " : "batch ") + std::to_string(N) + "," +
                   std::to_string(channels) + "," + std::to_string(H) + "," + std::to_string(W),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
