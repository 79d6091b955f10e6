"""Benchmarks: a PyTorch twin of the networks, weight transfer, and ``jdfd bench``.

Nothing here is needed to run jdfd: PyTorch is the optional ``bench`` extra, and
neither Jittor nor PyTorch is imported when this package is.

- :mod:`jdfd.bench.torch_twin`  the CE, FM, IS (and training-only D) networks in PyTorch, tensor names as in Jittor
- :mod:`jdfd.bench.transfer`    Jittor state dict ↔ PyTorch state dict, strict
- :mod:`jdfd.bench.torch_train` one stage-I / stage-II training step in PyTorch
- :mod:`jdfd.bench.workload`    the synthetic sketches, photos, weights and banks every framework is timed on
- :mod:`jdfd.bench.worker`      one framework's measurements, run in its own process
- :mod:`jdfd.bench.runner`      spawns the workers in interleaved rounds and gathers their numbers
- :mod:`jdfd.bench.report`      JSON, Markdown table and bar chart
- :mod:`jdfd.bench.cli`         ``jdfd bench``
"""
