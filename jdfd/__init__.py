"""jdfd: DeepFaceDrawing (Chen et al., SIGGRAPH 2020) in Jittor.

Data flows one way: sketch → components (:mod:`jdfd.components`) → embeddings
(CE, :mod:`jdfd.networks.ce`) → manifold projection (:mod:`jdfd.projection`) →
feature maps (FM, :mod:`jdfd.networks.fm`) → image (IS, :mod:`jdfd.networks.generator`).
:mod:`jdfd.pipeline` strings them together.

Jittor is imported lazily through :mod:`jdfd.runtime`, never at package import.
"""

__version__ = "0.1.0"
