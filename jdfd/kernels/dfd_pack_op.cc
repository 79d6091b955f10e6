#include <chrono>

#include "var.h"
#include "dfd_pack_op.h"

using namespace dnnl;

namespace jittor {

DfdPackOp::DfdPackOp(Var* w, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                     int transposed, int algo, int plain_src)
    : w(w), g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src} {
    y = create_output(nullptr, ns_float32);
}

void DfdPackOp::infer_shape() {
    auto& s = w->shape;
    int o = g.transposed ? 1 : 0, i = 1 - o;
    ASSERT(s.size() == 4 && s[o] == g.oc && s[i] == g.ic && s[2] == g.k && s[3] == g.k)
        << "dfd_pack: weights" << s << "do not match the geometry" << g.key();
    ASSERT(w->dtype() == ns_float32) << "dfd_pack: weights must be float32";
    y->set_shape(NanoVector((int64)dfd_conv_entry(g).weights.get_size() / 4));
}

void DfdPackOp::run() {
    auto t0 = std::chrono::steady_clock::now();
    auto& e = dfd_conv_entry(g);
    auto& eng = dfd_engine();
    memory from(e.user_weights, eng, w->mem_ptr), to(e.weights, eng, y->mem_ptr);
    reorder(from, to).execute(dfd_stream(), from, to);
    dfd_stream().wait();
    if (dfd_profiling())
        dfd_record("pack " + g.key() + " " + e.impl,
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
}

} // jittor
