// One oneDNN library's time for jdfd's convolutions, built the way jdfd/kernels builds them, so that
// two oneDNN versions can be compared on the same geometries (scripts/onednn_versions.py compiles this
// once per library and runs each build in a process of its own: two oneDNNs never share a process).
//
// stdin, one geometry per line: kind n ic ih iw oc k stride pad_l pad_r transposed algo plain_src
// (kind: conv, conv-bwd-data or conv-bwd-weights; the rest as DfdGeom in jdfd/kernels/dfd_dnnl.h).
// stdout, per line: kind geometry-key median-ms min-ms implementation. argv[1]: timed repetitions.
// Activations are channel-blocked (DFD_BLOCK: 8 or 16) as jdfd keeps them; weights as jdfd holds them
// (packed once for the forward pass, reordered from oihw on every backward call, as jdfd's ops do).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <dnnl.hpp>

#ifndef DFD_BLOCK
#define DFD_BLOCK 8
#endif

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

struct Geom {
    int n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src;
    int oh() const { return transposed ? (ih - 1) * stride - pad_l - pad_r + k : (ih + pad_l + pad_r - k) / stride + 1; }
    int ow() const { return transposed ? (iw - 1) * stride - pad_l - pad_r + k : (iw + pad_l + pad_r - k) / stride + 1; }
    std::string key() const {
        std::ostringstream ss;
        ss << n << ',' << ic << ',' << ih << ',' << iw << ',' << oc << ',' << k << ',' << stride << ',' << pad_l
           << ',' << pad_r << ',' << transposed << ',' << algo << ',' << plain_src;
        return ss.str();
    }
};

static engine eng(engine::kind::cpu, 0);
static stream strm(eng);
static const tag blocked = DFD_BLOCK == 16 ? tag::nChw16c : tag::nChw8c;

// A buffer of floats, filled with small values (oneDNN's speed does not depend on them; denormals would),
// aligned to 64 bytes as jdfd's kernels align theirs (DfdBuffer): oneDNN's AVX-512 kernels write some
// buffers with non-temporal 64-byte stores, which fault elsewhere.
struct Buf {
    std::vector<float> v;
    explicit Buf(size_t bytes) : v(bytes / sizeof(float) + 1 + 16) {
        for (size_t i = 0; i < v.size(); i++) v[i] = 0.001f * float(int(i % 97) - 48);
    }
    void* p() {
        auto a = reinterpret_cast<uintptr_t>(v.data());
        return reinterpret_cast<void*>((a + 63) / 64 * 64);
    }
};

struct Descs {
    memory::desc src, dst, wany, bias, user_w;
    memory::dims strides, pl, pr;
};

static Descs descs(const Geom& g) {
    Descs d;
    d.src = memory::desc({g.n, g.ic, g.ih, g.iw}, dt::f32, g.plain_src ? tag::nchw : blocked);
    d.dst = memory::desc({g.n, g.oc, g.oh(), g.ow()}, dt::f32, blocked);
    d.wany = memory::desc({g.oc, g.ic, g.k, g.k}, dt::f32, tag::any);
    d.bias = memory::desc({g.oc}, dt::f32, tag::x);
    d.user_w = memory::desc({g.oc, g.ic, g.k, g.k}, dt::f32, g.transposed ? tag::iohw : tag::oihw);
    d.strides = {g.stride, g.stride};
    d.pl = {g.pad_l, g.pad_l};
    d.pr = {g.pad_r, g.pad_r};
    return d;
}

// oneDNN 3 builds primitive descriptors directly; oneDNN 2 from an operation descriptor.
#if DNNL_VERSION_MAJOR >= 3
static convolution_forward::primitive_desc fwd_pd(const Descs& d, prop_kind p, algorithm a, const primitive_attr& at) {
    return {eng, p, a, d.src, d.wany, d.bias, d.dst, d.strides, d.pl, d.pr, at};
}
static deconvolution_forward::primitive_desc deconv_pd(const Descs& d, const primitive_attr& at) {
    return {eng, prop_kind::forward_inference, algorithm::deconvolution_direct, d.src, d.wany, d.bias, d.dst,
            d.strides, d.pl, d.pr, at};
}
static convolution_backward_data::primitive_desc bwd_data_pd(const Descs& d, algorithm a, const primitive_attr& at,
                                                             const convolution_forward::primitive_desc& hint) {
    return {eng, a, d.src, d.wany, d.dst, d.strides, d.pl, d.pr, hint, at};
}
static convolution_backward_weights::primitive_desc bwd_weights_pd(
    const Descs& d, algorithm a, const primitive_attr& at, const convolution_forward::primitive_desc& hint) {
    return {eng, a, d.src, d.wany, d.bias, d.dst, d.strides, d.pl, d.pr, hint, at};
}
#else
static convolution_forward::primitive_desc fwd_pd(const Descs& d, prop_kind p, algorithm a, const primitive_attr& at) {
    return {convolution_forward::desc(p, a, d.src, d.wany, d.bias, d.dst, d.strides, d.pl, d.pr), at, eng};
}
static deconvolution_forward::primitive_desc deconv_pd(const Descs& d, const primitive_attr& at) {
    return {deconvolution_forward::desc(prop_kind::forward_inference, algorithm::deconvolution_direct, d.src, d.wany,
                                        d.bias, d.dst, d.strides, d.pl, d.pr),
            at, eng};
}
static convolution_backward_data::primitive_desc bwd_data_pd(const Descs& d, algorithm a, const primitive_attr& at,
                                                             const convolution_forward::primitive_desc& hint) {
    return {convolution_backward_data::desc(a, d.src, d.wany, d.dst, d.strides, d.pl, d.pr), at, eng, hint};
}
static convolution_backward_weights::primitive_desc bwd_weights_pd(
    const Descs& d, algorithm a, const primitive_attr& at, const convolution_forward::primitive_desc& hint) {
    return {convolution_backward_weights::desc(a, d.src, d.wany, d.bias, d.dst, d.strides, d.pl, d.pr), at, eng, hint};
}
#endif

// Winograd first where jdfd asks for it (algo 1 or 2), direct where oneDNN has no Winograd for the shape;
// `chosen` says which.
template <class Build>
static auto with_fallback(int algo, Build build, algorithm& chosen) -> decltype(build(algorithm::convolution_direct)) {
    if (algo) {
        try {
            chosen = algorithm::convolution_winograd;
            return build(chosen);
        } catch (dnnl::error&) {
        }
    }
    chosen = algorithm::convolution_direct;
    return build(chosen);
}

// One call of the geometry's kind, as a closure over its memory; and oneDNN's implementation name.
struct Call {
    std::function<void()> run;
    std::string impl;
    std::deque<Buf> keep;  // a deque: adding a buffer moves none of those that memory objects point into
};

static Call make_call(const std::string& kind, const Geom& g) {
    primitive_attr at;
    at.set_scratchpad_mode(scratchpad_mode::user);
    Descs d = descs(g);
    Call c;
    auto buf = [&](const memory::desc& md) {
        c.keep.emplace_back(md.get_size());
        return memory(md, eng, c.keep.back().p());
    };
    if (kind == "conv") {
        primitive prim;
        memory::desc wmd, pad;
        if (g.transposed) {
            auto pd = deconv_pd(d, at);
            prim = deconvolution_forward(pd), wmd = pd.weights_desc(), pad = pd.scratchpad_desc();
            c.impl = pd.impl_info_str();
        } else {
            auto p = g.algo == 2 ? prop_kind::forward_training : prop_kind::forward_inference;
            algorithm a;
            auto pd = with_fallback(g.algo, [&](algorithm x) { return fwd_pd(d, p, x, at); }, a);
            prim = convolution_forward(pd), wmd = pd.weights_desc(), pad = pd.scratchpad_desc();
            c.impl = pd.impl_info_str();
        }
        memory src = buf(d.src), w = buf(wmd), b = buf(d.bias), dst = buf(d.dst), sp = buf(pad);
        c.run = [=]() mutable {
            prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, dst},
                                {DNNL_ARG_SCRATCHPAD, sp}});
            strm.wait();
        };
        return c;
    }
    algorithm a;
    auto hint = with_fallback(
        g.algo, [&](algorithm x) { return fwd_pd(d, prop_kind::forward_training, x, primitive_attr()); }, a);
    memory user_w = buf(d.user_w), dst = buf(d.dst), src = buf(d.src);
    if (kind == "conv-bwd-data") {
        auto pd = bwd_data_pd(d, a, at, hint);
        c.impl = pd.impl_info_str();
        convolution_backward_data prim(pd);
        memory sp = buf(pd.scratchpad_desc());
        bool re = pd.weights_desc() != d.user_w;
        memory w = re ? buf(pd.weights_desc()) : user_w;
        c.run = [=]() mutable {
            if (re) reorder(user_w, w).execute(strm, user_w, w);
            prim.execute(strm, {{DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_SRC, src},
                                {DNNL_ARG_SCRATCHPAD, sp}});
            strm.wait();
        };
        return c;
    }
    auto pd = bwd_weights_pd(d, a, at, hint);
    c.impl = pd.impl_info_str();
    convolution_backward_weights prim(pd);
    memory sp = buf(pd.scratchpad_desc()), db = buf(d.bias);
    bool re = pd.diff_weights_desc() != d.user_w;
    memory dw = re ? buf(pd.diff_weights_desc()) : user_w;
    c.run = [=]() mutable {
        prim.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, dst}, {DNNL_ARG_DIFF_WEIGHTS, dw},
                            {DNNL_ARG_DIFF_BIAS, db}, {DNNL_ARG_SCRATCHPAD, sp}});
        if (re) reorder(dw, user_w).execute(strm, dw, user_w);
        strm.wait();
    };
    return c;
}

int main(int argc, char** argv) {
    const int reps = argc > 1 ? std::atoi(argv[1]) : 7;
    const auto* v = dnnl::version();
    std::fprintf(stderr, "oneDNN %d.%d.%d, %d-channel blocks\n", v->major, v->minor, v->patch, DFD_BLOCK);
    std::string kind;
    Geom g;
    while (std::cin >> kind >> g.n >> g.ic >> g.ih >> g.iw >> g.oc >> g.k >> g.stride >> g.pad_l >> g.pad_r >>
           g.transposed >> g.algo >> g.plain_src) {
        std::string impl = "-";
        double med = -1, lo = -1;
        try {
            Call c = make_call(kind, g);
            impl = c.impl;
            c.run();
            c.run();
            std::vector<double> ms;
            for (int i = 0; i < reps; i++) {
                auto t0 = std::chrono::steady_clock::now();
                c.run();
                ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
            }
            std::sort(ms.begin(), ms.end());
            med = ms[ms.size() / 2], lo = ms[0];
        } catch (dnnl::error& e) {
            impl = std::string("error:") + e.what();
        }
        std::replace(impl.begin(), impl.end(), ' ', '_');
        std::printf("%s %s %.4f %.4f %s\n", kind.c_str(), g.key().c_str(), med, lo, impl.c_str());
        std::fflush(stdout);
    }
    return 0;
}
