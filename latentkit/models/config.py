"""One config per model family: a plain dataclass of exactly the fields its networks read.

    DCGANConfig   images, `latentkit.models.dcgan`         kind "dcgan"
    ResNetConfig  images, `latentkit.models.resnet`        kind "resnet" (R3GAN's, no normalisation)
    MLPConfig     points (the 2D toys), `latentkit.models.mlp`   kind "mlp"

A config only stores hyper-parameters; `latentkit.models.build_generator(cfg)` and
`build_discriminator(cfg)` turn it into modules. `cfg.to_dict()` is `{"kind": ..., **fields}`, saved
inside every bundle and checkpoint, and `model_config_from_dict` reads it back (and migrates the
single 14-field config written before families existed). `config_for_data` is the one place the
shape fields (resolution and channels, or data_dim) are taken from the data. Help text and choices
live in each field's metadata, so the command line derives its flags from them (`cli_options`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from latentkit.errors import LatentkitError

G_NORMS = ("batch", "none")
D_NORMS = ("batch", "none", "spectral", "layer", "instance")
MLP_D_NORMS = ("batch", "none", "spectral", "layer")
UPSAMPLES = ("transpose", "resize")
MINIBATCH = ("none", "stddev", "discrimination")
MLP_D_ACTS = ("leaky", "maxout")
YES_NO = ("yes", "no")
MLP_INITS = ("torch", "normal")
MIN_RESOLUTION, MAX_RESOLUTION = 32, 256
MAPPING_HELP = (0, "StyleGAN mapping network z -> w of this many layers (0: G reads z, no W space)")
MAX_SIZE = 16_384  # cap on widths, depths and counts: far above any real model, far below an OOM


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise LatentkitError(f"model config: {name}={value!r} is not one of {', '.join(choices)}")


def _opt(
    default: Any, help: str, choices: tuple[str, ...] | None = None, shape: bool = False, minimum: int = 1
) -> Any:
    """A config field with its help, its choices (str fields), whether the data decide it (shape) and
    its smallest value (int fields)."""
    return field(
        default=default, metadata={"help": help, "choices": choices, "shape": shape, "minimum": minimum}
    )


@dataclass
class _PairConfig:
    """Fields and behaviour shared by every family; not a family itself."""

    kind: ClassVar[str] = ""
    makes_images: ClassVar[bool] = False

    def validate(self) -> _PairConfig:
        """Raise `LatentkitError` naming the first bad field; return self so calls can chain."""
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            expected = int if f.type == "int" else str
            # bool is a subclass of int, but `channels: true` is a mistake, not 1.
            if not isinstance(value, expected) or isinstance(value, bool):
                raise LatentkitError(f"model config: {f.name}={value!r} must be {expected.__name__}")
            choices = f.metadata.get("choices")
            if choices:
                _check_choice(f.name, value, choices)
            elif expected is int and f.name != "resolution":
                low = f.metadata.get("minimum", 1)
                if not low <= value <= MAX_SIZE:
                    raise LatentkitError(f"model config: {f.name}={value} must be in {low}..{MAX_SIZE}")
        return self

    def to_dict(self) -> dict[str, Any]:
        """`{"kind": ..., **fields}`: JSON-able, and exactly what `model_config_from_dict` reads back."""
        return {"kind": self.kind, **dataclasses.asdict(self)}

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one sample the generator makes, (C, H, W) or (data_dim,)."""
        raise NotImplementedError

    @property
    def style_based(self) -> bool:
        """Whether G has a mapping network and so a W space (`latentkit.models.style`)."""
        return getattr(self, "mapping_layers", 0) > 0

    @property
    def d_batch_norm(self) -> bool:
        """Whether D has batch norm, which mixes the samples of a batch (families without d_norm: no)."""
        return getattr(self, "d_norm", "none") == "batch"


def _check_resolution(r: int) -> None:
    if r & (r - 1) or not MIN_RESOLUTION <= r <= MAX_RESOLUTION:
        raise LatentkitError(
            f"model config: resolution={r} must be a power of two between "
            f"{MIN_RESOLUTION} and {MAX_RESOLUTION}"
        )


@dataclass
class _ImageConfig(_PairConfig):
    """The shape fields and checks every image family shares; not a family itself."""

    makes_images: ClassVar[bool] = True
    resolution: int = _opt(64, "image side in pixels, a power of two in [32, 256] (--size)", shape=True)
    channels: int = _opt(3, "image channels, 1 grey or 3 RGB", shape=True)

    def validate(self) -> _ImageConfig:
        super().validate()
        _check_resolution(self.resolution)
        return self

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.channels, self.resolution, self.resolution)


@dataclass
class DCGANConfig(_ImageConfig):
    """A DCGAN generator/discriminator pair for images (`latentkit.models.dcgan`)."""

    kind: ClassVar[str] = "dcgan"
    latent_dim: int = _opt(128, "size of z")
    ngf: int = _opt(64, "generator base width; the widest stage is 8x this")
    ndf: int = _opt(64, "discriminator base width; the widest stage is 8x this")
    g_norm: str = _opt("batch", "normalisation in G's hidden layers", G_NORMS)
    d_norm: str = _opt("batch", "normalisation in D (batch norm is invalid with a gradient penalty)", D_NORMS)
    upsample: str = _opt(
        "transpose", "G upsampling: 4x4 stride-2 transposed conv, or nearest 2x + 3x3 conv", UPSAMPLES
    )
    pack: int = _opt(1, "PacGAN: D judges this many samples at once (1 = off)")
    minibatch: str = _opt("none", "a batch-level layer before D's head", MINIBATCH)
    mapping_layers: int = _opt(MAPPING_HELP[0], MAPPING_HELP[1], minimum=0)

    def validate(self) -> DCGANConfig:
        super().validate()
        if self.style_based and (self.g_norm, self.upsample) != ("none", "transpose"):
            raise LatentkitError(
                f"model config: a style-based dcgan (mapping_layers={self.mapping_layers}) needs "
                f"g_norm=none and upsample=transpose (got {self.g_norm}, {self.upsample}): "
                "demodulation normalises its layers"
            )
        return self


@dataclass
class ResNetConfig(_ImageConfig):
    """A normalisation-free ResNet pair for images after R3GAN (`latentkit.models.resnet`)."""

    kind: ClassVar[str] = "resnet"
    latent_dim: int = _opt(128, "size of z")
    width: int = _opt(32, "channels at full resolution, doubling per halving up to max_mult x this")
    max_mult: int = _opt(8, "the widest stage has max_mult x width channels")
    blocks: int = _opt(1, "residual blocks per resolution stage, in G and in D")
    group_size: int = _opt(16, "channels per group of each block's 3x3 conv")
    expansion: int = _opt(2, "how much each block's 1x1 conv widens its channels")
    pack: int = _opt(1, "PacGAN: D judges this many samples at once (1 = off)")
    minibatch: str = _opt("none", "a batch-level layer before D's head", MINIBATCH)
    mapping_layers: int = _opt(MAPPING_HELP[0], MAPPING_HELP[1], minimum=0)

    def validate(self) -> ResNetConfig:
        super().validate()
        if (self.width * self.expansion) % self.group_size:
            raise LatentkitError(
                f"model config: group_size={self.group_size} must divide width x expansion "
                f"({self.width} x {self.expansion})"
            )
        return self


@dataclass
class MLPConfig(_PairConfig):
    """A fully-connected pair for point data such as the 2D toy mixtures (`latentkit.models.mlp`)."""

    kind: ClassVar[str] = "mlp"
    data_dim: int = _opt(2, "size of one sample (2 for the toy mixtures)", shape=True)
    latent_dim: int = _opt(128, "size of z")
    hidden: int = _opt(256, "hidden width of G and D")
    depth: int = _opt(3, "hidden layers of G and D")
    g_norm: str = _opt("none", "normalisation in G's hidden layers", G_NORMS)
    d_norm: str = _opt(
        "none", "normalisation in D (batch norm is invalid with a gradient penalty)", MLP_D_NORMS
    )
    pack: int = _opt(1, "PacGAN: D judges this many samples at once (1 = off)")
    minibatch: str = _opt("none", "a batch-level layer before D's head", MINIBATCH)
    d_hidden: int = _opt(0, "hidden width of D (0 = hidden)", minimum=0)
    d_depth: int = _opt(0, "hidden layers of D (0 = depth)", minimum=0)
    d_act: str = _opt(
        "leaky", "D's hidden units: LeakyReLU(0.2), or maxout (Goodfellow et al. 2013)", MLP_D_ACTS
    )
    maxout_pieces: int = _opt(5, "linear pieces per maxout unit (with d_act=maxout)")
    g_bias: str = _opt(
        "yes", "biases in G's hidden Linear layers (no: batch norm's shift replaces them)", YES_NO
    )
    init: str = _opt(
        "torch", "weights: PyTorch's default, or N(0, 0.02) with zero biases (PacGAN's)", MLP_INITS
    )

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.data_dim,)

    @property
    def d_width(self) -> int:
        """D's hidden width: `d_hidden`, or G's `hidden` when 0."""
        return self.d_hidden or self.hidden

    @property
    def d_layers(self) -> int:
        """D's number of hidden layers: `d_depth`, or G's `depth` when 0."""
        return self.d_depth or self.depth


FAMILIES: dict[str, type[_PairConfig]] = {cls.kind: cls for cls in (DCGANConfig, ResNetConfig, MLPConfig)}
ModelConfig = DCGANConfig | ResNetConfig | MLPConfig  # any family's config, for annotations
# The one config of every family before families existed (a bundle's config.json until 0.1): all
# these keys at once, the other family's ignored. Read such a dict by keeping the family's own keys.
_UNION_KEYS = frozenset({
    "kind", "resolution", "channels", "latent_dim", "ngf", "ndf", "g_norm", "d_norm", "upsample",
    "data_dim", "hidden", "depth", "pack", "minibatch",
})  # fmt: skip


def family_fields(cls: type[_PairConfig]) -> dict[str, dataclasses.Field]:
    """The family's fields by name."""
    return {f.name: f for f in dataclasses.fields(cls)}


def model_config_from_dict(d: Any, source: str = "model config") -> ModelConfig:
    """Build and validate a family's config from a dict such as a bundle's `model` entry.

    `kind` picks the family (default "dcgan"); missing keys take the family's defaults; a key the
    family does not have is an error, except in the pre-family union layout, which is migrated.
    """
    if not isinstance(d, dict):
        raise LatentkitError(f"{source}: expected a JSON object, got {type(d).__name__}")
    kind = d.get("kind", "dcgan")
    if kind not in FAMILIES:
        raise LatentkitError(f"{source}: kind={kind!r} is not one of {', '.join(FAMILIES)}")
    cls = FAMILIES[kind]
    known = family_fields(cls)
    options = {k: v for k, v in d.items() if k != "kind"}
    if set(d) == _UNION_KEYS:
        options = {k: v for k, v in options.items() if k in known}
    for key in options:
        if key not in known:
            raise LatentkitError(
                f"{source}: unknown key {key!r} for a {kind} model (valid: {', '.join(sorted(known))})"
            )
    try:
        return cls(**options).validate()
    except LatentkitError as e:
        raise LatentkitError(f"{source}: {str(e).removeprefix('model config: ')}") from None


def family_for_shape(data_shape: tuple[int, ...]) -> type[_PairConfig]:
    """The default family for samples of `data_shape`: images (C, H, W) -> dcgan, points (D,) -> mlp."""
    return DCGANConfig if len(data_shape) == 3 else MLPConfig


def config_for_data(
    options: dict[str, Any], data_shape: tuple[int, ...], source: str = "model"
) -> ModelConfig:
    """The model config for data of `data_shape` from the user's `options` (any subset of a family).

    The one place shape fields are derived: resolution and channels (images) or data_dim (points)
    come from the data. An option that contradicts the data, or belongs to another family, is an
    error naming both values; nothing is silently overwritten.
    """
    default = family_for_shape(data_shape)
    kind = options.get("kind", default.kind)
    if kind not in FAMILIES:
        raise LatentkitError(f"{source}: kind={kind!r} is not one of {', '.join(FAMILIES)}")
    cls = FAMILIES[kind]
    what = (
        "images of shape " + "x".join(map(str, data_shape))
        if len(data_shape) == 3
        else f"{data_shape[0]}-d points"
    )
    if cls.makes_images != (len(data_shape) == 3):
        raise LatentkitError(f"{source}: kind={kind} cannot model the data ({what})")
    fields = family_fields(cls)
    for key in options:
        if key != "kind" and key not in fields:
            owners = [k for k, c in FAMILIES.items() if key in family_fields(c)]
            where = f"an option of {'/'.join(owners)} models" if owners else "not a model option"
            raise LatentkitError(f"{source}: {key} is {where}; the data ({what}) train {kind} models")
    derived = dict(zip(_shape_names(cls), _shape_values(cls, data_shape), strict=True))
    for key, value in derived.items():
        if key in options and options[key] != value:
            raise LatentkitError(
                f"{source}: {key}={options[key]!r} contradicts the data ({what}: {key} {value})"
            )
    return cls(**{**{k: v for k, v in options.items() if k != "kind"}, **derived}).validate()


def _shape_names(cls: type[_PairConfig]) -> list[str]:
    return [n for n, f in family_fields(cls).items() if f.metadata.get("shape")]


def _shape_values(cls: type[_PairConfig], data_shape: tuple[int, ...]) -> list[int]:
    """Values of the family's shape fields, in field order, for samples of `data_shape`."""
    if cls.makes_images:
        c, h, w = data_shape
        if h != w:
            raise LatentkitError(f"model: images must be square, got {h}x{w}")
        return [h, c]  # resolution, channels
    return [data_shape[0]]  # data_dim


def cli_options() -> dict[str, tuple[type, str]]:
    """Every model option a user can set, name -> (type, help), across families (shape fields excluded)."""
    out: dict[str, tuple[type, str]] = {
        "kind": (str, f"model family: {', '.join(FAMILIES)} (default: from the data)")
    }
    for kind, cls in FAMILIES.items():
        for name, f in family_fields(cls).items():
            if f.metadata.get("shape") or name in out:
                continue
            owners = [k for k, c in FAMILIES.items() if name in family_fields(c)]
            choices = f.metadata.get("choices")
            text = f.metadata["help"] + (f": {', '.join(choices)}" if choices else "")
            out[name] = (int if f.type == "int" else str, text + ("" if len(owners) > 1 else f" ({kind})"))
    return out
