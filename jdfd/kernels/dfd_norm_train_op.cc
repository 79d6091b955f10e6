#include <chrono>
#include <cmath>
#include <vector>

#include "var.h"
#include "dfd_norm_train_op.h"
#include "dfd_dnnl.h"

namespace jittor {

DfdNormTrainOp::DfdNormTrainOp(Var* x, Var* gamma, Var* beta, int channels, int per_sample, float64 slope, float64 eps)
    : x(x), gamma(gamma), beta(beta), channels(channels), per_sample(per_sample), slope(slope), eps(eps) {
    y = create_output(nullptr, ns_float32);
    stats = create_output(nullptr, ns_float32);
}

void DfdNormTrainOp::infer_shape() {
    dfd_check_norm_operands(x, gamma, beta, channels, "dfd_norm_train");
    y->set_shape(x->shape);
    stats->set_shape(NanoVector(per_sample ? x->shape[0] : 1, x->shape[1], 2, DFD_BL));
}

void DfdNormTrainOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    constexpr int BL = DFD_BL;
    const int64 N = x->shape[0], CB = x->shape[1], H = x->shape[2], W = x->shape[3];
    const int64 S = per_sample ? N : 1;
    const float* xp = x->ptr<float32>();
    float* yp = y->ptr<float32>();
    float* sp = stats->ptr<float32>();
    std::vector<double> sums(S * CB * 2 * BL);  // per statistics group: one sample's plane, or every sample's
    dfd_plane_sums(N * CB, H, [&](int64 p, int64 h, double* s, double* q) {
        const float* row = xp + (p * H + h) * W * BL;
        for (int64 w = 0; w < W; w++) {
            #pragma omp simd
            for (int c = 0; c < BL; c++) {
                double v = row[w * BL + c];
                s[c] += v;
                q[c] += v * v;
            }
        }
    }, sums.data(), per_sample ? 0 : CB);
    // Statistics per group, then scale and shift.
    const double inv = 1.0 / double(H * W * (N / S));
    const float* gp = gamma->ptr<float32>();
    const float* bp = beta->ptr<float32>();
    std::vector<float> scale(S * CB * BL), shift(S * CB * BL);
    for (int64 s = 0; s < S; s++)
        for (int64 cb = 0; cb < CB; cb++)
            for (int c = 0; c < BL; c++) {
                const double sum = sums[(s * CB + cb) * 2 * BL + c], sq = sums[(s * CB + cb) * 2 * BL + BL + c];
                const int64 ch = cb * BL + c, g = (s * CB + cb) * BL + c;
                // E[x²] - E[x]² in double: in float it loses the variance's digits where the mean dwarfs
                // the spread (a sketch's white page)
                const double md = sum * inv;
                const float mean = float(md), var = float(std::max(sq * inv - md * md, 0.0));
                sp[(s * CB + cb) * 2 * BL + c] = mean;
                sp[(s * CB + cb) * 2 * BL + BL + c] = var;
                // padding lanes (ch >= channels) get scale and shift 0, so they stay zero
                const float w = ch < channels ? gp[ch] / std::sqrt(var + float(eps)) : 0.f;
                scale[g] = w;
                shift[g] = ch < channels ? bp[ch] - mean * w : 0.f;
            }
    const float a = float(slope);
    #pragma omp parallel for schedule(static)
    for (int64 r = 0; r < N * CB * H; r++) {
        const int64 p = r / H, g = (per_sample ? p : p % CB) * BL;
        float sc[BL], sh[BL];  // local copies: no aliasing with the maps, kept in registers
        for (int c = 0; c < BL; c++) sc[c] = scale[g + c], sh[c] = shift[g + c];
        const float* in = xp + r * W * BL;
        float* out = yp + r * W * BL;
        for (int64 i = 0; i < W; i++) {
            #pragma omp simd
            for (int c = 0; c < BL; c++) {
                float v = in[i * BL + c] * sc[c] + sh[c];
                out[i * BL + c] = v > 0.f ? v : v * a;
            }
        }
    }
    if (dfd_profiling())
        dfd_record("norm-train " + std::string(per_sample ? "sample " : "batch ") + std::to_string(N) + "," +
                   std::to_string(channels) + "," + std::to_string(H) + "," + std::to_string(W),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
