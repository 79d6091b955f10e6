#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "var.h"
#include "dfd_pad_op.h"
#include "dfd_dnnl.h"

namespace jittor {

DfdPadOp::DfdPadOp(Var* x, int p, int grad) : x(x), p(p), grad(grad) {
    y = create_output(nullptr, ns_float32);
}

void DfdPadOp::infer_shape() {
    ASSERT(x->shape.size() == 5 && x->dtype() == ns_float32) << "dfd_pad: a float32 N×CB×H×W×B map, not" << x->shape;
    int64 h = x->shape[2], w = x->shape[3], d = grad ? -2 * p : 2 * p;
    int64 inner_h = grad ? h - 2 * p : h, inner_w = grad ? w - 2 * p : w;
    ASSERT(p >= 0 && p < inner_h && p < inner_w) << "dfd_pad: reflection by" << p << "needs a map larger than that";
    y->set_shape(NanoVector(x->shape[0], x->shape[1], h + d, w + d, x->shape[4]));
}

void DfdPadOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    const bool back = grad != 0;
    Var* inner = back ? y : x;
    const int64 rows = inner->shape[0] * inner->shape[1], B = inner->shape[4];
    const int64 h = inner->shape[2], w = inner->shape[3], ph = h + 2 * p, pw = w + 2 * p;
    const float* src = x->ptr<float32>();
    float* dst = y->ptr<float32>();
    if (!back) {
        std::vector<int64> col(pw);
        for (int64 b = 0; b < pw; b++) col[b] = dfd_reflect(b - p, w);
        #pragma omp parallel for collapse(2) schedule(static)
        for (int64 r = 0; r < rows; r++)
            for (int64 a = 0; a < ph; a++) {
                const float* in = src + (r * h + dfd_reflect(a - p, h)) * w * B;
                float* out = dst + (r * ph + a) * pw * B;
                for (int64 b = 0; b < pw; b++) std::memcpy(out + b * B, in + col[b] * B, B * sizeof(float));
            }
    } else {
        // Gather, not scatter: each unpadded index lists the padded ones that copied it (ascending, so the
        // sums run in the order Jittor's reindex_reduce adds them).
        auto sources = [&](int64 size) {
            std::vector<std::vector<int64>> s(size);
            for (int64 a = 0; a < size + 2 * p; a++) s[dfd_reflect(a - p, size)].push_back(a);
            return s;
        };
        const auto rs = sources(h), cs = sources(w);
        #pragma omp parallel for collapse(2) schedule(static)
        for (int64 r = 0; r < rows; r++)
            for (int64 i = 0; i < h; i++) {
                float* out = dst + (r * h + i) * w * B;
                for (int64 j = 0; j < w; j++) {
                    float* o = out + j * B;
                    for (int64 l = 0; l < B; l++) o[l] = 0.f;
                    for (int64 a : rs[i]) {
                        const float* in = src + (r * ph + a) * pw * B;
                        for (int64 b : cs[j]) {
                            const float* g = in + b * B;
                            #pragma omp simd
                            for (int64 l = 0; l < B; l++) o[l] += g[l];
                        }
                    }
                }
            }
    }
    if (dfd_profiling())
        dfd_record(std::string(back ? "pad-bwd " : "pad ") + std::to_string(inner->shape[0]) + "," +
                   std::to_string(inner->shape[1] * B) + "," + std::to_string(h) + "," + std::to_string(w) + " p" +
                   std::to_string(p), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
