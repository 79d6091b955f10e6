#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <unordered_map>
#include <vector>

#include "var.h"
#include "dfd_conv_op.h"

using namespace dnnl;

namespace jittor {

using tag = memory::format_tag;
using dt = memory::data_type;

dnnl::engine& dfd_engine() {
    static engine eng(engine::kind::cpu, 0);
    return eng;
}

dnnl::stream& dfd_stream() {
    static stream s(dfd_engine());
    return s;
}

static bool profiling = false;
static std::map<std::string, std::pair<long, double>> times;

bool dfd_profiling() { return profiling; }

void dfd_record(const std::string& what, double seconds) {
    auto& t = times[what];
    t.first++;
    t.second += seconds;
}

int dfd_block() { return DFD_BL; }

string dfd_kernel_profile(int on) {
    std::ostringstream ss;
    for (auto& kv : times) ss << kv.first << '\t' << kv.second.first << '\t' << kv.second.second << '\n';
    times.clear();
    profiling = on;
    return ss.str();
}

string dfd_buffer_misaligned(int64 bytes, int count) {
    std::vector<std::unique_ptr<DfdBuffer>> held;
    int raw = 0, aligned = 0;
    for (int i = 1; i <= count; i++) {
        held.emplace_back(new DfdBuffer(bytes * i));
        raw += reinterpret_cast<uintptr_t>(held.back()->mem.ptr) % DfdBuffer::align != 0;
        aligned += reinterpret_cast<uintptr_t>(held.back()->data()) % DfdBuffer::align != 0;
    }
    return std::to_string(raw) + " " + std::to_string(aligned);
}

std::string DfdGeom::key() const {
    std::ostringstream ss;
    ss << n << ',' << ic << ',' << ih << ',' << iw << ',' << oc << ',' << k << ',' << stride << ','
       << pad_l << ',' << pad_r << ',' << transposed << ',' << algo << ',' << plain_src;
    return ss.str();
}

DfdDescs dfd_descs(const DfdGeom& g) {
    DfdDescs d;
    memory::dims src{g.n, g.ic, g.ih, g.iw}, dst{g.n, g.oc, g.oh(), g.ow()}, bias{g.oc};
    d.weights_dims = {g.oc, g.ic, g.k, g.k};
    d.strides = {g.stride, g.stride};
    d.pad_l = {g.pad_l, g.pad_l};
    d.pad_r = {g.pad_r, g.pad_r};
    d.src = memory::desc(src, dt::f32, g.plain_src ? tag::nchw : dfd_blocked_tag());
    d.dst = memory::desc(dst, dt::f32, dfd_blocked_tag());
    d.weights_any = memory::desc(d.weights_dims, dt::f32, tag::any);
    d.bias = memory::desc(bias, dt::f32, tag::x);
    return d;
}

static DfdConvEntry make_entry(const DfdGeom& g) {
    auto& eng = dfd_engine();
    // The scratchpad is ours: oneDNN's default one is per thread, and cached primitives are run
    // from whichever thread calls (a web server's request threads): with the default, a primitive
    // created in a thread that has since exited uses freed memory.
    primitive_attr attr;
    attr.set_scratchpad_mode(scratchpad_mode::user);
    auto md = dfd_descs(g);
    const auto &src_md = md.src, &dst_md = md.dst, &wei_md = md.weights_any, &bias_md = md.bias;
    const auto &strides = md.strides, &pad_l = md.pad_l, &pad_r = md.pad_r;
    DfdConvEntry e;
    e.src = src_md;
    e.dst = dst_md;
    e.bias = bias_md;
    // Jittor keeps conv weights as oihw and transposed-conv weights as iohw.
    e.user_weights = memory::desc(md.weights_dims, dt::f32, g.transposed ? tag::iohw : tag::oihw);
    if (g.transposed) {
        auto d = deconvolution_forward::desc(prop_kind::forward_inference, algorithm::deconvolution_direct,
                                             src_md, wei_md, bias_md, dst_md, strides, pad_l, pad_r);
        auto pd = deconvolution_forward::primitive_desc(d, attr, eng);
        e.scratchpad = pd.scratchpad_desc();
        e.weights = pd.weights_desc();
        e.impl = pd.impl_info_str();
        e.prim = deconvolution_forward(pd);
        return e;
    }
    // algo 2: Winograd as for training: the weights stay in a plain blocked layout (the size of the
    // layer's own) and are transformed on every call, instead of a pre-transformed copy 4x the size
    // whose layout also changes with the batch size.
    auto prop = g.algo == 2 ? prop_kind::forward_training : prop_kind::forward_inference;
    auto build = [&](algorithm a) {
        auto d = convolution_forward::desc(prop, a, src_md, wei_md, bias_md, dst_md, strides, pad_l, pad_r);
        return convolution_forward::primitive_desc(d, attr, eng);
    };
    convolution_forward::primitive_desc pd;
    bool done = false;
    if (g.algo == 1 || g.algo == 2) {
        // Winograd (oneDNN picks F(4x4,3x3) or F(2x2,3x3)): about half the time of direct 3x3 on AVX-512.
        // Only some shapes have it; the others fall back to direct.
        try {
            pd = build(algorithm::convolution_winograd);
            done = true;
        } catch (dnnl::error&) {
        }
    }
    if (!done) pd = build(algorithm::convolution_direct);
    e.scratchpad = pd.scratchpad_desc();
    e.weights = pd.weights_desc();
    e.impl = pd.impl_info_str();
    e.prim = convolution_forward(pd);
    return e;
}

DfdConvEntry& dfd_conv_entry(const DfdGeom& g) {
    static std::unordered_map<std::string, DfdConvEntry> cache;
    auto k = g.key();
    auto it = cache.find(k);
    if (it == cache.end()) it = cache.emplace(k, make_entry(g)).first;
    return it->second;
}

string dfd_conv_impl(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                     int transposed, int algo, int plain_src) {
    DfdGeom g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src};
    try {
        return dfd_conv_entry(g).impl;
    } catch (dnnl::error& e) {
        return "";
    }
}

string dfd_conv_weights_layout(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                               int transposed, int algo, int plain_src) {
    DfdGeom g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src};
    // oneDNN zero-initialises its memory descriptors, so equal layouts have equal bytes.
    const auto& md = dfd_conv_entry(g).weights.data;
    const unsigned char* p = reinterpret_cast<const unsigned char*>(&md);
    static const char* hex = "0123456789abcdef";
    string out;
    for (size_t i = 0; i < sizeof(md); i++) out += hex[p[i] >> 4], out += hex[p[i] & 15];
    return out;
}

DfdConvOp::DfdConvOp(Var* x, Var* w, Var* b, int n, int ic, int ih, int iw, int oc, int k, int stride,
                     int pad_l, int pad_r, int transposed, int algo, int plain_src)
    : x(x), w(w), b(b), g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src} {
    y = create_output(nullptr, ns_float32);
}

void DfdConvOp::infer_shape() {
    auto& s = x->shape;
    bool ok = g.plain_src ? s.size() == 4 && s[0] == g.n && s[1] == g.ic && s[2] == g.ih && s[3] == g.iw
                          : dfd_is_blocked(s, g.n, g.ic, g.ih, g.iw);
    ASSERT(ok)
        << "dfd_conv: input" << s << "does not match the geometry" << g.key();
    auto& e = dfd_conv_entry(g);
    ASSERT(w->num * 4 == (int64)e.weights.get_size()) << "dfd_conv: weights not packed for" << g.key();
    ASSERT(b->num == g.oc);
    ASSERT(x->dtype() == ns_float32 && w->dtype() == ns_float32 && b->dtype() == ns_float32);
    y->set_shape(NanoVector(g.n, dfd_blocks(g.oc), g.oh(), g.ow(), DFD_BL));
}

void DfdConvOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    // One convolution at a time (Jittor runs one op at a time; oneDNN's stream is shared).
    static std::mutex running;
    std::lock_guard<std::mutex> hold(running);
    auto& e = dfd_conv_entry(g);
    auto& eng = dfd_engine();
    DfdBuffer scratch(e.scratchpad.get_size());
    memory src(e.src, eng, x->mem_ptr), wei(e.weights, eng, w->mem_ptr), bias(e.bias, eng, b->mem_ptr),
        dst(e.dst, eng, y->mem_ptr), pad(e.scratchpad, eng, scratch.data());
    e.prim.execute(dfd_stream(), {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias},
                                  {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, pad}});
    dfd_stream().wait();
    if (profiling)
        dfd_record("conv " + g.key() + " " + e.impl,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
