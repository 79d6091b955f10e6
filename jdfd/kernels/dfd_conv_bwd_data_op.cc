#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "var.h"
#include "dfd_conv_bwd_data_op.h"

using namespace dnnl;

namespace jittor {

using tag = memory::format_tag;
using dt = memory::data_type;

namespace {

DfdGradEntry make_grad_entry(const DfdGeom& g) {
    auto& eng = dfd_engine();
    primitive_attr attr;
    attr.set_scratchpad_mode(scratchpad_mode::user);  // ours, shared: see dfd_conv_op.cc
    auto md = dfd_descs(g);
    const auto &src_md = md.src, &dst_md = md.dst, &wei_any = md.weights_any, &bias_md = md.bias;
    const auto &strides = md.strides, &pad_l = md.pad_l, &pad_r = md.pad_r;
    DfdGradEntry e;
    e.src = src_md;
    e.dst = dst_md;
    e.bias = bias_md;
    e.user_weights = memory::desc(md.weights_dims, dt::f32, tag::oihw);
    auto build = [&](algorithm a) {
        // the backward primitives take the forward one as a hint (layouts, blocking)
        auto fd = convolution_forward::desc(prop_kind::forward_training, a, src_md, wei_any, bias_md, dst_md,
                                            strides, pad_l, pad_r);
        convolution_forward::primitive_desc fpd(fd, eng);
        auto dd = convolution_backward_data::desc(a, src_md, wei_any, dst_md, strides, pad_l, pad_r);
        convolution_backward_data::primitive_desc dpd(dd, attr, eng, fpd);
        auto wd = convolution_backward_weights::desc(a, src_md, wei_any, bias_md, dst_md, strides, pad_l, pad_r);
        convolution_backward_weights::primitive_desc wpd(wd, attr, eng, fpd);
        e.data_weights = dpd.weights_desc();
        e.diff_weights = wpd.diff_weights_desc();
        e.data_scratch = dpd.scratchpad_desc();
        e.weights_scratch = wpd.scratchpad_desc();
        e.impl = std::string(dpd.impl_info_str()) + " / " + wpd.impl_info_str();
        e.bwd_data = convolution_backward_data(dpd);
        e.bwd_weights = convolution_backward_weights(wpd);
    };
    bool done = false;
    if (g.algo) {  // Winograd where oneDNN has it for these shapes, else direct
        try {
            build(algorithm::convolution_winograd);
            done = true;
        } catch (dnnl::error&) {
        }
    }
    if (!done) build(algorithm::convolution_direct);
    return e;
}

}  // namespace

DfdGradEntry& dfd_grad_entry(const DfdGeom& g) {
    static std::unordered_map<std::string, DfdGradEntry> cache;
    auto k = g.key();
    auto it = cache.find(k);
    if (it == cache.end()) it = cache.emplace(k, make_grad_entry(g)).first;
    return it->second;
}

std::mutex& dfd_grad_running() {
    static std::mutex m;
    return m;
}

string dfd_conv_grad_impl(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                          int transposed, int algo, int plain_src) {
    DfdGeom g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src};
    if (transposed) return "";
    try {
        return dfd_grad_entry(g).impl;
    } catch (dnnl::error& e) {
        return "";
    }
}

DfdConvBwdDataOp::DfdConvBwdDataOp(Var* dy, Var* w, int n, int ic, int ih, int iw, int oc, int k, int stride,
                                   int pad_l, int pad_r, int transposed, int algo, int plain_src)
    : dy(dy), w(w), g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src} {
    dx = create_output(nullptr, ns_float32);
}

void DfdConvBwdDataOp::infer_shape() {
    ASSERT(!g.transposed && !g.plain_src) << "dfd_conv_bwd_data: ordinary convolutions on blocked inputs only";
    dfd_check_blocked(dy->shape, g.n, g.oc, g.oh(), g.ow(), "dfd_conv_bwd_data: dy", g);
    auto& s = w->shape;
    ASSERT(s.size() == 4 && s[0] == g.oc && s[1] == g.ic && s[2] == g.k && s[3] == g.k)
        << "dfd_conv_bwd_data: weights" << s << "do not match" << g.key();
    ASSERT(dy->dtype() == ns_float32 && w->dtype() == ns_float32);
    dx->set_shape(NanoVector(g.n, dfd_blocks(g.ic), g.ih, g.iw, DFD_BL));
}

void DfdConvBwdDataOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> hold(dfd_grad_running());
    auto& e = dfd_grad_entry(g);
    auto& eng = dfd_engine();
    auto& s = dfd_stream();
    memory user_w(e.user_weights, eng, w->mem_ptr), wei = user_w;
    bool reordered = e.data_weights != e.user_weights;
    DfdBuffer wbuf(reordered ? e.data_weights.get_size() : 0), scratch(e.data_scratch.get_size());
    if (reordered) {  // weights change every step: reorder them each call (small)
        wei = memory(e.data_weights, eng, wbuf.data());
        reorder(user_w, wei).execute(s, user_w, wei);
    }
    memory ddst(e.dst, eng, dy->mem_ptr), dsrc(e.src, eng, dx->mem_ptr);
    memory pad(e.data_scratch, eng, scratch.data());
    e.bwd_data.execute(s, {{DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DIFF_SRC, dsrc},
                           {DNNL_ARG_SCRATCHPAD, pad}});
    s.wait();
    if (dfd_profiling())
        dfd_record("conv-bwd-data " + g.key() + " " + e.impl,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
