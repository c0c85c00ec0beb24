"""The official SAM 2 (PyPI `sam2==1.1.0`) for parity tests and benchmarks: models built
from its own yaml configs with seeded random weights, and its `SAM2ImagePredictor`.

PyPI's torchvision does not load beside the CPU torch here, and the predictor uses only
three of its transforms (`sam2/utils/transforms.py`). `install_torchvision_transforms`
supplies those three with torchvision's tensor semantics (torchvision ≥ 0.17):
  ToTensor    uint8 HWC (numpy) → float32 CHW in [0, 1] (÷ 255)
  Resize      F.interpolate(bilinear, align_corners=False, antialias=True) to (H, W)
  Normalize   (x − mean) / std per channel
written as scriptable modules, since `SAM2Transforms` scripts the last two.
"""

import sys
import types

import numpy as np
import torch
import torch.nn.functional as F

CONFIG_FILES = {
    "sam2.1_hiera_tiny": "sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "sam2.1/sam2.1_hiera_l.yaml",
    "medsam2": "sam2.1/sam2.1_hiera_t.yaml",  # At image_size 512, as MedSAM2 sets it.
}


class ToTensor:
    def __call__(self, image) -> torch.Tensor:
        array = np.asarray(image)
        return torch.from_numpy(array.transpose(2, 0, 1).copy()).float().div(255)


class Resize(torch.nn.Module):
    def __init__(self, size):
        super().__init__()
        self.size = [int(size[0]), int(size[1])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(
            x[None], size=self.size, mode="bilinear", align_corners=False, antialias=True
        )[0]


class Normalize(torch.nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.mean = [float(v) for v in mean]
        self.std = [float(v) for v in std]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return (x - mean) / std


def install_torchvision_transforms() -> None:
    """Registers `torchvision.transforms` with the three classes above (once)."""
    if "torchvision.transforms" in sys.modules:
        return
    transforms = types.ModuleType("torchvision.transforms")
    transforms.ToTensor, transforms.Resize, transforms.Normalize = ToTensor, Resize, Normalize
    torchvision = types.ModuleType("torchvision")
    torchvision.transforms = transforms
    sys.modules.update({"torchvision": torchvision, "torchvision.transforms": transforms})


def _official(name: str, version: str, image_size: int | None):
    from sam2.build_sam import build_sam2

    config = "configs/" + CONFIG_FILES[name]
    if version == "2.0":
        config = config.replace("sam2.1/sam2.1_", "sam2/sam2_")
    size = image_size or (512 if name == "medsam2" else None)
    overrides = [f"++model.image_size={size}"] if size else []
    return build_sam2(config, None, device="cpu", hydra_overrides_extra=overrides)


def build(name: str, seed: int = 0, version: str = "2.1", image_size: int | None = None):
    """The official SAM2Base of model `name` (its yaml; SAM 2.0's with `version="2.0"`;
    at another `image_size` if given), with every parameter perturbed by seeded noise, so
    that no table initialised to a constant (zeros, ones) escapes a parity check."""
    torch.manual_seed(seed)
    model = _official(name, version, image_size)
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            scale = 0.1 if p.ndim <= 1 or p.std() == 0 else 0.2 * float(p.std())
            p.add_(scale * torch.randn(p.shape, generator=generator))
    return model.eval().requires_grad_(False)


def shapes(name: str, version: str = "2.1") -> dict[str, tuple[int, ...]]:
    """{key: shape} of the official model's state_dict (its own initialisation)."""
    return {k: tuple(v.shape) for k, v in _official(name, version, None).state_dict().items()}


def predictor(model: torch.nn.Module, image: np.ndarray):
    """`SAM2ImagePredictor` with `image` set (its feature sizes follow the model's image
    size; the package hard-codes 1024's)."""
    install_torchvision_transforms()
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    p = SAM2ImagePredictor(model)
    size = model.image_size
    p._bb_feat_sizes = [(size // 4, size // 4), (size // 8, size // 8), (size // 16, size // 16)]
    p.set_image(image)
    return p


def predictor_on(model: torch.nn.Module, features, size: tuple[int, int]):
    """`SAM2ImagePredictor` holding given image features ((embed, s0, s1) NHWC numpy) for
    an image of `size` (H, W), as if `set_image` had computed them."""
    install_torchvision_transforms()
    from sam2.sam2_image_predictor import SAM2ImagePredictor

    p = SAM2ImagePredictor(model)
    embed, s0, s1 = (torch.as_tensor(f).permute(2, 0, 1)[None] for f in features)
    p._features = {"image_embed": embed, "high_res_feats": [s0, s1]}
    p._orig_hw, p._is_image_set = [tuple(size)], True
    return p


def predict(p, points=None, labels=None, box=None, mask_input=None):
    """Every mask token of the official predictor for one prompt: low-res logits [4, r, r]
    (clamped as it returns them), logits at the original size [4, H, W] and IoU [4].

    Tokens 1–3 are `predict(..., multimask_output=True, return_logits=True)`; token 0 is
    the mask decoder's own output, called as `_predict` calls it.
    """
    with torch.no_grad():
        masks, iou, low_res = p.predict(
            points, labels, box, mask_input, multimask_output=True, return_logits=True
        )
        mask_t, coords, labels_t, box_t = p._prep_prompts(points, labels, box, mask_input, True)
        first = _token0(p, coords, labels_t, box_t, mask_t)
    low0, full0, iou0 = first
    return (
        np.concatenate([low0, low_res]),
        np.concatenate([full0, masks]),
        np.concatenate([iou0, iou]),
    )


def decoder_tokens(p, coords, labels, boxes, mask_input):
    """Every token of an image predictor's mask decoder (SAM 2's, or SAM 3's, which is
    adapted from it), as `_predict` calls it on prompts from `_prep_prompts`: low-res
    logits [1, 4, r, r], IoU [1, 4] and the object-score logit [1, 1], torch tensors."""
    points = None if coords is None else (coords, labels)
    if boxes is not None:
        box_points = (boxes.reshape(-1, 2, 2), torch.tensor([[2, 3]], dtype=torch.int))
        if points is None:
            points = box_points
        else:
            points = (
                torch.cat([box_points[0], points[0]], dim=1),
                torch.cat([box_points[1], points[1]], dim=1),
            )
    sparse, dense = p.model.sam_prompt_encoder(points=points, boxes=None, masks=mask_input)
    low, iou, _, score = p.model.sam_mask_decoder.predict_masks(
        image_embeddings=p._features["image_embed"][-1].unsqueeze(0),
        image_pe=p.model.sam_prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=sparse,
        dense_prompt_embeddings=dense,
        repeat_image=False,
        high_res_features=[f[-1].unsqueeze(0) for f in p._features["high_res_feats"]],
    )
    return low, iou, score


def _token0(p, coords, labels, boxes, mask_input):
    """Token 0's low-res logits [1, r, r], logits [1, H, W] and IoU [1], as `_predict`
    computes the tokens (the decoder's `predict_masks`, all four)."""
    low, iou, _ = decoder_tokens(p, coords, labels, boxes, mask_input)
    full = p._transforms.postprocess_masks(low[:, :1], p._orig_hw[-1])
    low = torch.clamp(low[:, :1], -32.0, 32.0)
    return low[0].numpy(), full[0].numpy(), iou[0, :1].numpy()


def features(p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predictor's image embedding [h, w, C] and high-res features, NHWC."""
    embed = p._features["image_embed"][0].permute(1, 2, 0).numpy()
    s0, s1 = (f[0].permute(1, 2, 0).numpy() for f in p._features["high_res_feats"])
    return embed, s0, s1


def state_dict_numpy(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
