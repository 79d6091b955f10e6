#include <chrono>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "var.h"
#include "dfd_conv_bwd_weights_op.h"

using namespace dnnl;

namespace jittor {

using tag = memory::format_tag;
using dt = memory::data_type;

DfdConvBwdWeightsOp::DfdConvBwdWeightsOp(Var* x, Var* dy, int n, int ic, int ih, int iw, int oc, int k,
                                         int stride, int pad_l, int pad_r, int transposed, int algo, int plain_src)
    : x(x), dy(dy), g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src} {
    dw = create_output(nullptr, ns_float32);
    db = create_output(nullptr, ns_float32);
}

void DfdConvBwdWeightsOp::infer_shape() {
    ASSERT(!g.transposed) << "dfd_conv_bwd_weights: ordinary convolutions only";
    auto& s = x->shape;
    if (g.plain_src)
        ASSERT(s.size() == 4 && s[0] == g.n && s[1] == g.ic && s[2] == g.ih && s[3] == g.iw)
            << "dfd_conv_bwd_weights: x" << s << "does not match" << g.key();
    else
        dfd_check_blocked(s, g.n, g.ic, g.ih, g.iw, "dfd_conv_bwd_weights: x", g);
    dfd_check_blocked(dy->shape, g.n, g.oc, g.oh(), g.ow(), "dfd_conv_bwd_weights: dy", g);
    ASSERT(x->dtype() == ns_float32 && dy->dtype() == ns_float32);
    dw->set_shape(NanoVector(g.oc, g.ic, g.k, g.k));
    db->set_shape(NanoVector(g.oc));
}

void DfdConvBwdWeightsOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> hold(dfd_grad_running());
    auto& e = dfd_grad_entry(g);
    auto& eng = dfd_engine();
    auto& s = dfd_stream();
    memory src(e.src, eng, x->mem_ptr), ddst(e.dst, eng, dy->mem_ptr), dbias(e.bias, eng, db->mem_ptr);
    memory user_dw(e.user_weights, eng, dw->mem_ptr), dwei = user_dw;
    bool reordered = e.diff_weights != e.user_weights;
    DfdBuffer wbuf(reordered ? e.diff_weights.get_size() : 0), scratch(e.weights_scratch.get_size());
    if (reordered) dwei = memory(e.diff_weights, eng, wbuf.data());
    memory pad(e.weights_scratch, eng, scratch.data());
    e.bwd_weights.execute(s, {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_DST, ddst}, {DNNL_ARG_DIFF_WEIGHTS, dwei},
                              {DNNL_ARG_DIFF_BIAS, dbias}, {DNNL_ARG_SCRATCHPAD, pad}});
    if (reordered) reorder(dwei, user_dw).execute(s, dwei, user_dw);
    s.wait();
    if (dfd_profiling())
        dfd_record("conv-bwd-weights " + g.key() + " " + e.impl,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
