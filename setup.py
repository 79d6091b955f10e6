from setuptools import find_packages, setup

setup(
    name="jdfd",
    version="0.1.0",
    description="DeepFaceDrawing (SIGGRAPH 2020) in Jittor: sketch to face, with training",
    # The shipped model stays in the repository's top-level pretrained/; installed, it is jdfd/pretrained/
    # (data only, found by jdfd.shipped), so `pip install .` gives a working `jdfd generate` anywhere.
    packages=find_packages(include=["jdfd", "jdfd.*"]) + ["jdfd.pretrained"],
    package_dir={"jdfd.pretrained": "pretrained"},
    package_data={"jdfd": ["configs/*.json", "app/static/*", "kernels/*.h", "kernels/*.cc"],
                  "jdfd.pretrained": ["config.json", "*.safetensors", "MODEL_CARD.md"]},
    python_requires=">=3.9",
    install_requires=[
        "scipy",  # ndimage for sketch synthesis and augmentation (scikit-learn needs it anyway)
        "jittor==1.3.11.0",
        "numpy<2",
        "pillow",
        "scikit-learn",
        "matplotlib",
        # the shipped model, exported models and run checkpoints are safetensors files (a small wheel)
        "safetensors",
        # progress bars of sketchify, build-bank, train and eval (small, no dependencies)
        "tqdm",
    ],
    extras_require={
        # test runner, linter, and what the tests exercise (playwright drives Debian's chromium;
        # setuptools and wheel build jdfd's wheel offline in tests/test_install.py)
        "dev": ["pytest", "ruff", "flask>=3.1", "waitress>=3", "playwright", "setuptools>=61", "wheel"],
        # jdfd serve: the drawing web app (Flask) and a production WSGI server to run it (waitress)
        "serve": ["flask>=3.1", "waitress>=3"],
        # stage-II training: the VGG16 perceptual loss reads its ImageNet weights from an ONNX file
        "train": ["onnx"],
        # --wandb on jdfd train / jdfd eval: experiment tracking in Weights & Biases (offline by default)
        "track": ["wandb"],
        # PyTorch twin of the networks, jdfd bench and its parity tests (the CPU build on these machines)
        "bench": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["jdfd=jdfd.cli:main"]},
)
