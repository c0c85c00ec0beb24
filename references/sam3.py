"""The official SAM 3 (PyPI `sam3==0.1.4`, Meta's code) for parity tests and benchmarks: its
image model with instance interactivity, built by its own `build_sam3_image_model` with
seeded random weights, driven through `Sam3Processor.set_image` and `predict_inst`.

Its hurdles on a CPU machine, worked around here and never in what it computes:
- torchvision (imported by timm and by sam3 at module level) does not load beside the CPU
  torch. `install_torchvision` registers the few names imported, with torchvision's
  semantics where they run on the interactive path (`transforms.v2`'s ToDtype, Resize,
  Normalize and `functional.to_image`, the last three shared with SAM 2's stand-ins); the
  detector's ops (`roi_align`, `RoIAlign`, `masks_to_boxes`, `FrozenBatchNorm2d`) and the
  training data's `VisionDataset` are imported only (the ops raise if called).
- timm's package `__init__` imports all its models and torchvision's datasets: `timm` and
  `timm.models` are registered without running their `__init__`, so that `timm.layers`
  (DropPath, Mlp, trunc_normal_) imports alone.
- `sam3/model/edt.py` imports triton at module level (for the video tracker's clicks):
  that module is registered as a stand-in whose `edt_triton` raises (a `triton` stand-in
  would make torch believe triton is installed, and `torch._dynamo` fails on it).
- The 0.1.4 wheel ships no BPE vocabulary: open_clip_torch's `bpe_simple_vocab_16e6.txt.gz`
  (the same file) is read from the installed `open_clip` folder, which is not imported.
- `build_sam3_image_model` takes `device="cpu"`, and the processor is given it, but two
  builders hard-code "cuda" (`_cuda_is_cpu` makes those tensors on the CPU).
- The predictor's hole filling (`max_hole_area`) uses scikit-image on CPU (installed).

`build(seed, trunk=REDUCED)`: a reduced trunk (fewer blocks, narrower) is built by the
builder's own `_create_vit_backbone` with its ViT's width, depth, heads and global blocks
replaced for the call; what each block computes is the official code's.
"""

import contextlib
import importlib.util
import os
import sys
import types

import numpy as np
import torch

from eigjax.models.sam3 import configs as sam3_configs
from references import sam2 as sam2_reference
from references.official import _import_without_init


def _trunk_of(cfg) -> dict:
    """The builder's ViT arguments that a `Sam3ViTConfig` sets."""
    fields = ("embed_dim", "depth", "num_heads", "global_att_blocks")
    return {name: getattr(cfg, name) for name in fields}


SAM3 = _trunk_of(sam3_configs.SAM3_VIT)  # `model_builder._create_vit_backbone`'s trunk.
REDUCED = _trunk_of(sam3_configs.REDUCED_VIT)  # `sam3_reduced`'s.


def _unavailable(name):
    def fail(*args, **kwargs):
        raise NotImplementedError(f"{name} is not on SAM 3's interactive path")

    return fail


class _ToDtype(torch.nn.Module):
    """v2.ToDtype(dtype, scale=True) on an image tensor: uint8 → float ÷ 255."""

    def __init__(self, dtype, scale=False):
        super().__init__()
        self.dtype, self.scale = dtype, scale

    def forward(self, x):
        if x.dtype == self.dtype:
            return x
        if self.dtype == torch.float32 and x.dtype == torch.uint8:
            return x.float().div(255) if self.scale else x.float()
        raise NotImplementedError(f"ToDtype {x.dtype} → {self.dtype}")


class _Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x


def _to_image(image) -> torch.Tensor:
    """v2.functional.to_image: a PIL image or HWC array → a CHW tensor, dtype kept."""
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.transpose(2, 0, 1).copy())


def install_torchvision() -> None:
    """Registers `torchvision` (the names sam3 and timm import), timm's parents and sam3's
    triton module, once."""
    if "torchvision.transforms.v2" in sys.modules:
        return
    sam2_reference.install_torchvision_transforms()
    tv = sys.modules["torchvision"]
    transforms = sys.modules["torchvision.transforms"]
    v2 = types.ModuleType("torchvision.transforms.v2")
    # torchvision's v2 `Resize` calls `interpolate` on the image tensor as it is: on a uint8
    # CPU tensor that is torch's fixed-point path, as SAM 2's stand-in does on any dtype.
    v2.Compose, v2.ToDtype = _Compose, _ToDtype
    v2.Resize, v2.Normalize = sam2_reference.Resize, sam2_reference.Normalize
    v2.functional = types.ModuleType("torchvision.transforms.v2.functional")
    v2.functional.to_image = _to_image
    transforms.v2 = v2
    transforms.functional = types.ModuleType("torchvision.transforms.functional")
    ops = types.ModuleType("torchvision.ops")
    ops.roi_align = _unavailable("torchvision.ops.roi_align")
    ops.masks_to_boxes = _unavailable("torchvision.ops.masks_to_boxes")
    ops.roi_align_module = types.ModuleType("torchvision.ops.roi_align")
    ops.roi_align_module.RoIAlign = _unavailable("torchvision.ops.RoIAlign")
    misc = types.ModuleType("torchvision.ops.misc")
    misc.FrozenBatchNorm2d = type("FrozenBatchNorm2d", (torch.nn.Module,), {})
    ops.misc = misc
    tv.ops = ops
    datasets = types.ModuleType("torchvision.datasets")
    datasets.vision = types.ModuleType("torchvision.datasets.vision")
    datasets.vision.VisionDataset = type("VisionDataset", (torch.utils.data.Dataset,), {})
    tv.datasets = datasets
    modules = {
        "torchvision.transforms.v2": v2,
        "torchvision.transforms.v2.functional": v2.functional,
        "torchvision.transforms.functional": transforms.functional,
        "torchvision.ops": ops,
        "torchvision.ops.roi_align": ops.roi_align_module,
        "torchvision.ops.misc": misc,
        "torchvision.datasets": datasets,
        "torchvision.datasets.vision": datasets.vision,
    }
    if importlib.util.find_spec("triton") is None:
        # Only sam3's triton module is stood in for: a global `triton` stand-in makes
        # torch believe triton is installed, and torch._dynamo then fails on import.
        edt = types.ModuleType("sam3.model.edt")
        edt.edt_triton = _unavailable("sam3.model.edt.edt_triton (triton)")
        modules["sam3.model.edt"] = edt
    sys.modules.update(modules)
    # timm's package __init__ imports every model and its data pipeline (torchvision's
    # datasets); sam3 needs only `timm.layers` (and its old alias `timm.models.layers`).
    _import_without_init("timm")
    _import_without_init("timm.models")


def bpe_path() -> str:
    """open_clip's BPE vocabulary (the file the sam3 wheel leaves out), by path."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None:
        raise RuntimeError(
            "SAM 3's reference needs open_clip_torch's BPE vocabulary: "
            "pip install --no-deps open_clip_torch"
        )
    return os.path.join(spec.submodule_search_locations[0], "bpe_simple_vocab_16e6.txt.gz")


@contextlib.contextmanager
def _trunk(trunk: dict, text_layers: int | None):
    """The builder's ViT arguments (and text encoder depth) replaced for one build."""
    from sam3 import model_builder

    vit, text = model_builder.ViT, model_builder._create_text_encoder

    def reduced_vit(**kwargs):  # The builder's own arguments, the trunk's four replaced.
        return vit(**{**kwargs, **trunk})

    def create_text(path):
        encoder = text(path)
        if text_layers is not None:
            encoder.encoder.transformer.resblocks = encoder.encoder.transformer.resblocks[
                :text_layers
            ]
        return encoder

    if trunk != SAM3:
        model_builder.ViT = reduced_vit
    model_builder._create_text_encoder = create_text
    try:
        yield
    finally:
        model_builder.ViT, model_builder._create_text_encoder = vit, text


@contextlib.contextmanager
def _cuda_is_cpu():
    """`torch.zeros` and `torch.arange` asked for device "cuda" (the builder's position
    encoding and detector decoder hard-code it: sam3 issues 550, 587) make CPU tensors."""
    originals = {name: getattr(torch, name) for name in ("zeros", "arange")}

    def on_cpu(make):
        def call(*args, **kwargs):
            if str(kwargs.get("device")) == "cuda":
                kwargs["device"] = "cpu"
            return make(*args, **kwargs)

        return call

    for name, make in originals.items():
        setattr(torch, name, on_cpu(make))
    try:
        yield
    finally:
        for name, make in originals.items():
            setattr(torch, name, make)


def build(seed: int = 0, trunk: dict = SAM3, text_layers: int | None = None):
    """The official `Sam3Image` with instance interactivity, every parameter and buffer
    the checkpoint holds perturbed by seeded noise (the two `torch.empty` text tensors
    set), in eval mode on the CPU. `trunk`: the ViT's width, depth, heads and global
    blocks (`SAM3`, or a reduced one); `text_layers`: the text encoder cut to that many
    blocks (it is not on the interactive path; None keeps its 24)."""
    install_torchvision()
    from sam3.model_builder import build_sam3_image_model

    torch.manual_seed(seed)
    with _trunk(trunk, text_layers), _cuda_is_cpu():
        model = build_sam3_image_model(
            bpe_path=bpe_path(),
            device="cpu",
            load_from_HF=False,
            enable_inst_interactivity=True,
        )
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        text = model.backbone.language_backbone.encoder
        for uninitialised in (text.positional_embedding, text.text_projection):
            uninitialised.zero_()  # `torch.empty` in the builder: garbage, not a seed's.
        for tensor in model.state_dict().values():
            if not tensor.is_floating_point():
                continue
            spread = float(tensor.std()) if tensor.numel() > 1 else 0.0
            scale = 0.1 if tensor.ndim <= 1 or spread == 0 else 0.2 * spread
            tensor.add_(scale * torch.randn(tensor.shape, generator=generator))
    return model.eval().requires_grad_(False)


def checkpoint_dict(model) -> dict[str, torch.Tensor]:
    """The model's weights as the released `sam3.pt` holds them: `detector.<key>` for the
    image model, `tracker.<key>` for the interactive predictor's SAM heads."""
    out = {}
    for key, value in model.state_dict().items():
        prefix = "inst_interactive_predictor.model."
        if key.startswith(prefix):
            out["tracker." + key[len(prefix) :]] = value
        else:
            out["detector." + key] = value
    return out


def processor_state(model, image: np.ndarray) -> dict:
    """`Sam3Processor(model, device="cpu").set_image` of a uint8 RGB image [H, W, 3]."""
    install_torchvision()
    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor

    with torch.inference_mode():
        return Sam3Processor(model, device="cpu").set_image(Image.fromarray(image))


def preprocessed(image: np.ndarray) -> np.ndarray:
    """float32 [1008, 1008, 3]: the processor's transform of `image` (on this CPU)."""
    install_torchvision()
    from PIL import Image
    from sam3.model.sam3_image_processor import Sam3Processor

    processor = Sam3Processor(None, device="cpu")  # Its transform needs no model.
    tensor = _to_image(Image.fromarray(image))
    return processor.transform(tensor).permute(1, 2, 0).numpy()


def features(model, state) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predictor's image embedding [72, 72, C] (no_mem_embed added) and high-res
    features [288, 288, C/8], [144, 144, C/4], NHWC, as `predict_inst` sets them."""
    predictor = model.inst_interactive_predictor
    backbone = state["backbone_out"]["sam2_backbone_out"]
    _, feats, _, _ = predictor.model._prepare_backbone_features(backbone)
    feats[-1] = feats[-1] + predictor.model.no_mem_embed
    maps = [
        f.permute(1, 2, 0).view(1, -1, *size)
        for f, size in zip(feats[::-1], predictor._bb_feat_sizes[::-1], strict=True)
    ][::-1]
    embed, s0, s1 = maps[-1], maps[0], maps[1]
    return tuple(m[0].permute(1, 2, 0).numpy() for m in (embed, s0, s1))


def predict(model, state, points=None, labels=None, box=None, mask_input=None, multimask=True):
    """`predict_inst(..., return_logits=True)`: logits at the original size [K, H, W], IoU
    [K] and low-res logits [K, 288, 288] (K = 3 multimask, 1 without)."""
    with torch.inference_mode():
        return model.predict_inst(
            state,
            point_coords=points,
            point_labels=labels,
            box=box,
            mask_input=mask_input,
            multimask_output=multimask,
            return_logits=True,
        )


def predictor_on(model, features, size: tuple[int, int]):
    """The model's `SAM3InteractiveImagePredictor` holding image features ((embed, s0, s1)
    NHWC numpy) for an image of `size` (H, W), as `predict_inst` sets them."""
    predictor = model.inst_interactive_predictor
    embed, s0, s1 = (torch.as_tensor(f).permute(2, 0, 1)[None] for f in features)
    predictor._features = {"image_embed": embed, "high_res_feats": [s0, s1]}
    predictor._orig_hw, predictor._is_image_set = [tuple(size)], True
    return predictor


def decoder_outputs(model, state, points=None, labels=None, box=None, mask_input=None):
    """Every token of the tracker's mask decoder, as `_predict` calls it: low-res logits
    [4, 288, 288], IoU [4] and the object-score logit []."""
    size = (state["original_height"], state["original_width"])
    predictor = predictor_on(model, features(model, state), size)
    try:
        prompts = predictor._prep_prompts(points, labels, box, mask_input, True)
        mask_t, coords, labels_t, box_t = prompts
        with torch.inference_mode():
            low, iou, score = sam2_reference.decoder_tokens(
                predictor, coords, labels_t, box_t, mask_t
            )
        return low[0].numpy(), iou[0].numpy(), float(score[0, 0])
    finally:
        predictor._features, predictor._is_image_set = None, False
