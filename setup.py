from setuptools import find_packages, setup

setup(
    name="jdfd",
    version="0.1.0",
    description="DeepFaceDrawing (SIGGRAPH 2020) in Jittor: sketch to face, with training",
    packages=find_packages(include=["jdfd", "jdfd.*"]),
    package_data={"jdfd": ["configs/*.json"]},
    python_requires=">=3.9",
    install_requires=[
        "scipy",  # ndimage for sketch synthesis and augmentation (scikit-learn needs it anyway)
        "jittor==1.3.11.0",
        "numpy<2",
        "pillow",
        "scikit-learn",
        "matplotlib",
    ],
    extras_require={
        # test runner and linter
        "dev": ["pytest", "ruff", "safetensors"],
    },
    entry_points={"console_scripts": ["jdfd=jdfd.cli:main"]},
)
