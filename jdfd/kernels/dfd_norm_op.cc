#include <chrono>
#include <cmath>
#include <sstream>
#include <vector>

#include "var.h"
#include "dfd_norm_op.h"
#include "dfd_dnnl.h"

namespace jittor {

DfdNormOp::DfdNormOp(Var* x, Var* gamma, Var* beta, Var* res, int channels, int norm, int relu, int pad, int has_res, float64 eps, int shuffle, int unshuffle)
    : x(x), gamma(gamma), beta(beta), res(res), channels(channels), norm(norm), relu(relu), pad(pad),
      has_res(has_res), shuffle(shuffle), unshuffle(unshuffle), eps(eps) {
    y = create_output(nullptr, ns_float32);
}

void DfdNormOp::infer_shape() {
    auto& s = x->shape;
    int64 cb = dfd_blocks(channels), f = shuffle ? 2 : 1;
    ASSERT(s.size() == 5 && s[4] == DFD_BL && s[1] == cb * f * f) << "dfd_norm: input" << s << "for" << channels
        << "channels" << (shuffle ? "in 4 phases" : "");
    ASSERT(x->dtype() == ns_float32 && gamma->dtype() == ns_float32 && beta->dtype() == ns_float32);
    ASSERT(gamma->num == channels && beta->num == channels);
    NanoVector out(s[0], cb, s[2] * f, s[3] * f, DFD_BL);
    ASSERT(!has_res || res->shape == out) << "dfd_norm: residual" << res->shape << "vs" << out;
    ASSERT(pad < out[2] && pad < out[3]) << "dfd_norm: reflection pad" << pad << "too large for" << out;
    int64 oh = out[2] + 2 * pad, ow = out[3] + 2 * pad;
    if (unshuffle) {
        ASSERT(oh % 2 == 0 && ow % 2 == 0) << "dfd_norm: cannot split an odd map" << oh << "x" << ow << "into phases";
        y->set_shape(NanoVector(out[0], cb * 4, oh / 2, ow / 2, DFD_BL));
    } else {
        y->set_shape(NanoVector(out[0], cb, oh, ow, DFD_BL));
    }
}


template <bool RELU, bool RES>
static inline void apply_block(const float* in, const float* sc, const float* sh, const float* r, float* out) {
    #pragma omp simd
    for (int c = 0; c < DFD_BL; c++) {
        float v = in[c] * sc[c] + sh[c];
        if (RELU) v = std::max(v, 0.f);
        if (RES) v += r[c];
        out[c] = v;
    }
}

// One output row: columns [0, OW) of the padded map read source columns dfd_reflect(ow - P).
template <bool RELU, bool RES>
static void apply_row(const float* const* src, int64 W, int64 P, int64 step, const float* sc, const float* sh,
                      const float* rrow, float* const* dst, int64 ostep) {
    // src[phase] is the source row for even (0) / odd (1) columns; step = 2 when the input is
    // four phases (after a transposed convolution), else 1. dst and ostep likewise for the output.
    const int64 OW = W + 2 * P;
    for (int64 ow = 0; ow < OW; ow++) {
        int64 w = dfd_reflect(ow - P, W);
        const float* in = src[w % step] + (w / step) * DFD_BL;
        apply_block<RELU, RES>(in, sc, sh, RES ? rrow + w * DFD_BL : nullptr, dst[ow % ostep] + (ow / ostep) * DFD_BL);
    }
}

void DfdNormOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    const int64 f = shuffle ? 2 : 1;
    const int64 N = x->shape[0], XB = x->shape[1], XH = x->shape[2], XW = x->shape[3];
    const int64 CB = XB / (f * f), H = XH * f, W = XW * f;  // the logical (output) map before padding
    const int64 P = pad, OH = H + 2 * P, OW = W + 2 * P;
    const float* xp = x->ptr<float32>();
    const float* rp = has_res ? res->ptr<float32>() : nullptr;
    const float* gp = gamma->ptr<float32>();
    const float* bp = beta->ptr<float32>();
    float* yp = y->ptr<float32>();
    // Padding lanes (ch >= channels) get scale 0 and shift 0, so they stay zero as oneDNN requires.
    constexpr int BL = DFD_BL;
    std::vector<float> scale(N * CB * BL, 0.f), shift(N * CB * BL, 0.f);
    if (!norm) {
        for (int64 b = 0; b < N * CB; b++)
            for (int c = 0; c < BL; c++) {
                int64 ch = (b % CB) * BL + c;
                if (ch < channels) scale[b * BL + c] = gp[ch], shift[b * BL + c] = bp[ch];
            }
    } else {
        // Row sums of the input as stored (double, in parallel), then per channel over its rows
        // (and its four phases): mean, E[x²], var = max(E[x²] - mean², 0), the layers' own formula.
        const int64 rows = N * XB * XH;
        std::vector<double> part(rows * 2 * BL);  // per row: BL sums, then BL sums of squares
        #pragma omp parallel for schedule(static)
        for (int64 r = 0; r < rows; r++) {
            const float* row = xp + r * XW * BL;
            double s[BL] = {0}, q[BL] = {0};
            for (int64 w = 0; w < XW; w++) {
                #pragma omp simd
                for (int c = 0; c < BL; c++) {
                    double v = row[w * BL + c];
                    s[c] += v;
                    q[c] += v * v;
                }
            }
            for (int c = 0; c < BL; c++) part[r * 2 * BL + c] = s[c], part[r * 2 * BL + BL + c] = q[c];
        }
        const double inv = 1.0 / double(H * W);
        for (int64 n = 0; n < N; n++)
            for (int64 cb = 0; cb < CB; cb++)
                for (int c = 0; c < BL; c++) {
                    double s = 0, q = 0;
                    for (int64 ph = 0; ph < f * f; ph++) {
                        const double* pr = &part[((n * XB + ph * CB + cb) * XH) * 2 * BL];
                        for (int64 h = 0; h < XH; h++) s += pr[h * 2 * BL + c], q += pr[h * 2 * BL + BL + c];
                    }
                    int64 ch = cb * BL + c, b = n * CB + cb;
                    float mean = float(s * inv), var = std::max(float(q * inv) - mean * mean, 0.f);
                    float g = ch < channels ? gp[ch] : 0.f, bt = ch < channels ? bp[ch] : 0.f;
                    float sc = g / std::sqrt(var + float(eps));
                    scale[b * BL + c] = sc;
                    shift[b * BL + c] = bt - mean * sc;
                }
    }
    const int mode = (relu ? 1 : 0) + (has_res ? 2 : 0);
    #pragma omp parallel for schedule(static)
    for (int64 r = 0; r < N * CB * OH; r++) {
        int64 b = r / OH, n = b / CB, cb = b % CB, h = dfd_reflect(r % OH - P, H);
        // Source rows for this output row: with phases, row h is phase (h%2, w%2) at (h/2, w/2).
        const float* src[2];
        for (int64 pw = 0; pw < f; pw++) {
            int64 ph = shuffle ? (h % 2) * 2 + pw : 0;
            src[pw] = xp + (((n * XB + ph * CB + cb) * XH) + h / f) * XW * BL;
        }
        const float* rrow = rp ? rp + (b * H + h) * W * BL : nullptr;
        // Output row r % OH; split into phases, its even and odd columns go to two rows of two phases.
        float* out[2];
        const int64 oh = r % OH, of = unshuffle ? 2 : 1;
        for (int64 pw = 0; pw < of; pw++) {
            int64 ph = unshuffle ? (oh % 2) * 2 + pw : 0;
            out[pw] = yp + (((n * CB * of * of + ph * CB + cb) * (OH / of)) + oh / of) * (OW / of) * BL;
        }
        const float* sc = &scale[b * BL];
        const float* sh = &shift[b * BL];
        switch (mode) {
            case 0: apply_row<false, false>(src, W, P, f, sc, sh, rrow, out, of); break;
            case 1: apply_row<true, false>(src, W, P, f, sc, sh, rrow, out, of); break;
            case 2: apply_row<false, true>(src, W, P, f, sc, sh, rrow, out, of); break;
            default: apply_row<true, true>(src, W, P, f, sc, sh, rrow, out, of); break;
        }
    }
    if (dfd_profiling()) {
        std::ostringstream what;
        what << "norm" << norm << " relu" << relu << " res" << has_res << " pad" << pad << " shuffle" << shuffle << " unshuffle" << unshuffle
             << " " << x->shape;
        dfd_record(what.str(), std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
}

} // jittor
