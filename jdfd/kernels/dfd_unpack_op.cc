#include "var.h"
#include "dfd_unpack_op.h"

using namespace dnnl;

namespace jittor {

bool dfd_conv_weights_reorderable(int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                                  int transposed, int algo, int plain_src) {
    DfdGeom g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src};
    // Winograd's inference layout holds transformed weights (format kind "wino"), not a reordering.
    return dfd_conv_entry(g).weights.data.format_kind == dnnl_blocked;
}

DfdUnpackOp::DfdUnpackOp(Var* w, int n, int ic, int ih, int iw, int oc, int k, int stride, int pad_l, int pad_r,
                         int transposed, int algo, int plain_src)
    : w(w), g{n, ic, ih, iw, oc, k, stride, pad_l, pad_r, transposed, algo, plain_src} {
    y = create_output(nullptr, ns_float32);
}

void DfdUnpackOp::infer_shape() {
    auto& e = dfd_conv_entry(g);
    ASSERT(e.weights.data.format_kind == dnnl_blocked) << "dfd_unpack: weights of" << g.key() << "are not a reordering";
    ASSERT(w->num * 4 == (int64)e.weights.get_size()) << "dfd_unpack: weights not packed for" << g.key();
    ASSERT(w->dtype() == ns_float32);
    if (g.transposed) y->set_shape(NanoVector(g.ic, g.oc, g.k, g.k));
    else y->set_shape(NanoVector(g.oc, g.ic, g.k, g.k));
}

void DfdUnpackOp::run() {
    auto& e = dfd_conv_entry(g);
    auto& eng = dfd_engine();
    memory from(e.weights, eng, w->mem_ptr), to(e.user_weights, eng, y->mem_ptr);
    reorder(from, to).execute(dfd_stream(), from, to);
    dfd_stream().wait();
}

} // jittor
