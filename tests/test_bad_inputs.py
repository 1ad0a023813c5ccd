"""A sweep of malformed inputs through every loader: each one exits 2 with one line naming the culprit.

Every case below builds one bad file (a truncated or bit-flipped safetensors, a bundle config.json
of the wrong shape, a directions.json for another model, latents with NaN, a recipe or train config
with a bad field, an image that is not one or carries a hostile manifest) and runs the real
`latentkit.cli.main` on it. The contract, for every case:

- exit code 2, and stderr is exactly one line `latentkit: error: ...` naming the file or field;
- no traceback, nothing on stdout for `verify`;
- nothing new on disk: no output file, no stray `*.tmp`.

A handful run again as real subprocesses (`python -m latentkit`) to prove the same end to end.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch
from PIL import Image, PngImagePlugin
from test_provenance import build_png  # the PNG surgery helpers of the tamper tests

from latentkit.cli import main
from latentkit.latent.directions import Direction, save_directions
from latentkit.latent.sampling import sample_latent
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.predictor import AttributeSpec, FeatureNet, save_feature_net
from latentkit.provenance import export_image, init_keys
from latentkit.train.config import TrainConfig
from latentkit.train.loop import train

DIM = 16


# --- fixtures: one tiny bundle, predictor, run and export, shared read-only by every case ------------


@dataclass
class Ctx:
    root: Path
    bundle: Path  # tiny DCGAN bundle with directions.json (smile, age)
    predictor: Path  # untrained feature net (smile binary, age continuous)
    run: Path  # a finished 2-step training run with one checkpoint
    png: Path  # a signed export
    jpeg: Path
    manifest: dict


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(DIM)
    return v / np.linalg.norm(v)


@pytest.fixture(scope="module")
def ctx(tmp_path_factory) -> Ctx:
    root = tmp_path_factory.mktemp("bad_inputs")
    init_keys(root / "home" / "keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTKIT_HOME", str(root / "home"))
        torch.manual_seed(0)
        cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=DIM)
        path = save_bundle(root / "tiny", build_generator(cfg), cfg, name="tiny")
        bundle = load_bundle(path)
        save_directions(
            bundle,
            {
                "smile": Direction("smile", _unit(1), 0.1, {"kind": "supervised", "method": "svm"}),
                "age": Direction("age", _unit(2), 0.0, {"kind": "supervised", "method": "ridge"}),
            },
        )
        specs = [AttributeSpec("smile", "binary"), AttributeSpec("age", "continuous", mean=0.5, std=0.2)]
        predictor = save_feature_net(
            root / "pred", FeatureNet(3, 32, specs, width=8, feature_dim=16), {"steps": 0}
        )
        run_cfg = TrainConfig(
            dataset="faces", size=32, data_n=64, batch_size=4, steps=2, log_every=1, sample_every=1000,
            checkpoint_every=1000, keep_checkpoints=1, model={"latent_dim": 8, "ngf": 8, "ndf": 8},
        )  # fmt: skip
        run = train(run_cfg, root / "run", progress=False)
        png = export_image(bundle, sample_latent(3, DIM), root / "exports", "face.png", seed=3)
        jpeg = export_image(bundle, sample_latent(3, DIM), root / "exports", "face.jpg", seed=3)
        yield Ctx(root, path, Path(predictor), run, png.path, jpeg.path, png.manifest)


# --- byte surgery -------------------------------------------------------------------------------------


def header_end(data: bytes) -> int:
    """Offset of the first data byte of a safetensors file (8-byte length + JSON header)."""
    return 8 + struct.unpack("<Q", data[:8])[0]


def flip_bit(data: bytes, pos: int, bit: int = 0) -> bytes:
    return data[:pos] + bytes([data[pos] ^ (1 << bit)]) + data[pos + 1 :]


def torch_zip_file() -> bytes:
    """What `torch.save` writes: a zip holding a pickle (never to be loaded)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
    return buf.getvalue()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def deep_json(depth: int = 100_000) -> bytes:
    return b"[" * depth + b"]" * depth


def safetensors_damage(data: bytes) -> dict[str, bytes]:
    """Named damaged copies of a safetensors file: truncations, bit flips, foreign contents.

    Bit flips in the tensor data keep the file valid: only the checksum that checkpoints and weights
    folders carry over the tensor bytes catches them.
    """
    end = header_end(data)
    header = data[8:end]
    cases = {
        "empty": b"",
        "trunc4": data[:4],
        "trunc8": data[:8],
        "trunc12": data[:12],
        "trunc_mid_header": data[: 8 + len(header) // 2],
        "trunc_header_minus1": data[: end - 1],
        "trunc_after_header": data[:end],
        "trunc_half": data[: len(data) // 2],
        "trunc_minus1": data[:-1],
        "length_huge": struct.pack("<Q", 2**63 - 1) + data[8:],
        "length_zero": struct.pack("<Q", 0) + data[8:],
        "length_past_end": struct.pack("<Q", len(data)) + data[8:],
        "flip_length_high_bit": flip_bit(data, 7, 6),
        "random_bytes": np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "json_text": b'{"not": "safetensors"}',
        "torch_pickle_zip": torch_zip_file(),
    }
    for char in b'{":,[':
        pos = 8 + header.index(bytes([char]))
        cases[f"flip_header_{chr(char)}"] = flip_bit(data, pos)
    shape = 8 + header.index(b'"shape":[') + len(b'"shape":[')
    cases["flip_shape_digit"] = flip_bit(data, shape, 1)
    dtype = 8 + header.index(b'"dtype":"') + len(b'"dtype":"')
    cases["flip_dtype_letter"] = flip_bit(data, dtype, 1)
    for frac in (0.0, 0.5, 0.999):
        pos = end + int(frac * (len(data) - end - 1))
        cases[f"flip_data_{frac}"] = flip_bit(data, pos, 3)
    return cases


def png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return build_png([(b"IHDR", ihdr), (b"IDAT", zlib.compress(b"\x00" * 16)), (b"IEND", b"")])


def png_with_manifest(text: str | bytes, size: int = 8) -> bytes:
    """A small unsigned PNG whose `latentkit` iTXt chunk holds `text` verbatim."""
    info = PngImagePlugin.PngInfo()
    info.add_itxt("latentkit", text if isinstance(text, str) else text.decode())
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (90, 120, 150)).save(buf, "PNG", pnginfo=info)
    return buf.getvalue()


def jpeg_with_xmp_manifest(text: str) -> bytes:
    from xml.sax.saxutils import quoteattr

    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:latentkit="http://ns.latentkit.org/1.0/" '
        f"latentkit:manifest={quoteattr(text)}/>"
        "</rdf:RDF></x:xmpmeta>"
    )
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, "JPEG")
    data = buf.getvalue()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    return data[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + data[2:]


# --- the cases ----------------------------------------------------------------------------------------

# A case builds its bad input under `tmp` and returns (argv, text the error line must contain).
Build = Callable[[Ctx, Path], tuple[list, str]]


@dataclass
class Case:
    id: str
    build: Build


CASES: list[Case] = []


def case(id: str) -> Callable[[Build], Build]:
    def register(fn: Build) -> Build:
        CASES.append(Case(id, fn))
        return fn

    return register


def copy_bundle(c: Ctx, tmp: Path) -> Path:
    return Path(shutil.copytree(c.bundle, tmp / "model"))


# Bundle weights (generator.safetensors), through `latentkit generate`.
def _bundle_weights(damage: str) -> Build:
    def build(c: Ctx, tmp: Path):
        b = copy_bundle(c, tmp)
        weights = b / "generator.safetensors"
        weights.write_bytes(safetensors_damage(weights.read_bytes())[damage])
        return ["generate", "--model", b, "--seeds", "0", "--out", tmp / "out"], str(weights)

    return build


# Feature net / attribute predictor weights, through `latentkit directions report`.
def _predictor_weights(damage: str) -> Build:
    def build(c: Ctx, tmp: Path):
        p = Path(shutil.copytree(c.predictor, tmp / "pred"))
        weights = p / "weights.safetensors"
        weights.write_bytes(safetensors_damage(weights.read_bytes())[damage])
        argv = ["directions", "report", "--model", c.bundle, "--predictor", p, "--out", tmp / "out"]
        return [*argv, "--samples", "2", "--no-progress"], str(weights)

    return build


# Training checkpoints, through `latentkit train --resume` (the run's only checkpoint is damaged).
def _checkpoint(damage: str) -> Build:
    def build(c: Ctx, tmp: Path):
        run = Path(shutil.copytree(c.run, tmp / "run"))
        (ckpt,) = (run / "checkpoints").glob("step-*.safetensors")
        ckpt.write_bytes(safetensors_damage(ckpt.read_bytes())[damage])
        return ["train", "--resume", "--out", run, "--steps", "3", "--no-progress"], str(run / "checkpoints")

    return build


_EXAMPLE = safetensors.torch.save({"a": torch.zeros(4)})  # only its damage names are used here
for _damage in safetensors_damage(_EXAMPLE):
    case(f"bundle-weights-{_damage}")(_bundle_weights(_damage))
    case(f"predictor-weights-{_damage}")(_predictor_weights(_damage))
    case(f"checkpoint-{_damage}")(_checkpoint(_damage))


# Bundle config.json, through `latentkit generate` (and a few through `eval` and `edit`).
def _bundle_config(content: bytes | Callable[[dict], object], expect: str = "config.json", via="generate"):
    def build(c: Ctx, tmp: Path):
        b = copy_bundle(c, tmp)
        config = b / "config.json"
        doc = json.loads(config.read_text())
        text = content if isinstance(content, bytes) else json.dumps(content(doc)).encode()
        config.write_bytes(text)
        argv = {
            "generate": ["generate", "--model", b, "--seeds", "0", "--out", tmp / "out"],
            "eval": ["eval", "--model", b, "--samples", "20", "--metrics", "fid"],
            "edit": ["edit", "--model", b, "--seeds", "0", "--edit", "smile=1", "--out", tmp / "out"],
        }[via]
        return argv, str(config) if expect == "config.json" else expect

    return build


def _with_model(**fields):
    return lambda doc: {**doc, "model": {**doc["model"], **fields}}


def _without(key):
    return lambda doc: {k: v for k, v in doc.items() if k != key}


_MODEL_FIELDS = {
    "kind": 3, "resolution": "32", "channels": 3.0, "latent_dim": True, "ngf": None, "ndf": [64],
    "g_norm": 1, "d_norm": {"x": 1}, "upsample": False, "data_dim": "2", "hidden": 1.5, "depth": "3",
    "pack": None, "minibatch": 0,
}  # fmt: skip
for _field, _value in _MODEL_FIELDS.items():
    case(f"bundle-config-type-{_field}")(_bundle_config(_with_model(**{_field: _value}), _field))
_BAD_VALUES = {
    "kind-unknown": {"kind": "stylegan"}, "resolution-48": {"resolution": 48},
    "resolution-huge": {"resolution": 2**40}, "resolution-zero": {"resolution": 0},
    "latent-zero": {"latent_dim": 0}, "latent-negative": {"latent_dim": -16},
    "latent-huge": {"latent_dim": 10**12}, "ngf-huge": {"ngf": 10**9}, "ngf-giant": {"ngf": 10**30},
    "channels-huge": {"channels": 2**31}, "depth-huge": {"depth": 10**7}, "pack-zero": {"pack": 0},
    "g-norm-unknown": {"g_norm": "group"}, "upsample-unknown": {"upsample": "pixelshuffle"},
    "latent-mismatch": {"latent_dim": 32}, "ngf-mismatch": {"ngf": 16},
}  # fmt: skip
for _name, _fields in _BAD_VALUES.items():
    # Values that are valid on their own but disagree with the weights are named by the weights file.
    _expect = "generator.safetensors" if "mismatch" in _name else next(iter(_fields))
    case(f"bundle-config-value-{_name}")(_bundle_config(_with_model(**_fields), _expect))
case("bundle-config-unknown-model-key")(_bundle_config(_with_model(layers=4), "layers"))
case("bundle-config-model-is-list")(_bundle_config(lambda d: {**d, "model": [1, 2]}, "config.json"))
case("bundle-config-model-is-string")(_bundle_config(lambda d: {**d, "model": "dcgan"}, "config.json"))
case("bundle-config-no-model")(_bundle_config(_without("model"), "generator.safetensors"))
case("bundle-config-no-format")(_bundle_config(_without("format")))
case("bundle-config-no-version")(_bundle_config(_without("version")))
case("bundle-config-format-typo")(_bundle_config(lambda d: {**d, "format": "latentkit-bundel"}))
case("bundle-config-format-checkpoint")(_bundle_config(lambda d: {**d, "format": "latentkit-checkpoint"}))
case("bundle-config-format-null")(_bundle_config(lambda d: {**d, "format": None}))
case("bundle-config-version-3")(_bundle_config(lambda d: {**d, "version": 3}))
case("bundle-config-version-string")(_bundle_config(lambda d: {**d, "version": "1"}))
case("bundle-config-version-huge")(_bundle_config(lambda d: {**d, "version": 10**400}))
case("bundle-config-list")(_bundle_config(b"[1, 2, 3]"))
case("bundle-config-null")(_bundle_config(b"null"))
case("bundle-config-empty")(_bundle_config(b""))
case("bundle-config-truncated")(_bundle_config(b'{"format": "latentkit-bundle", "version": 1, "mo'))
case("bundle-config-not-utf8")(_bundle_config(b'{"format": "\xff\xfe"}'))
case("bundle-config-deeply-nested")(_bundle_config(deep_json()))
case("bundle-config-nested-model")(_bundle_config(lambda d: {**d, "model": json.loads(deep_json(200))}))
case("bundle-config-nan-literal")(_bundle_config(_with_model(latent_dim=float("nan"))))
case("bundle-config-via-eval")(_bundle_config(_with_model(ngf="8"), "ngf", via="eval"))
case("bundle-config-via-edit")(_bundle_config(b"{", via="edit"))


def _bundle_missing(missing: str) -> Build:
    def build(c: Ctx, tmp: Path):
        b = copy_bundle(c, tmp)
        (b / missing).unlink()
        return ["generate", "--model", b, "--seeds", "0", "--out", tmp / "out"], missing

    return build


case("bundle-missing-weights")(_bundle_missing("generator.safetensors"))
case("bundle-missing-config")(_bundle_missing("config.json"))


def _bundle_weights_is_folder(c: Ctx, tmp: Path):
    b = copy_bundle(c, tmp)
    (b / "generator.safetensors").unlink()
    (b / "generator.safetensors").mkdir()
    return ["generate", "--model", b, "--seeds", "0", "--out", tmp / "out"], "generator.safetensors"


case("bundle-weights-is-a-folder")(_bundle_weights_is_folder)


def _bundle_is_a_file(c: Ctx, tmp: Path):
    (tmp / "model").write_text("not a folder")
    return ["generate", "--model", tmp / "model", "--seeds", "0", "--out", tmp / "out"], str(tmp / "model")


case("bundle-is-a-file")(_bundle_is_a_file)


# Predictor config.json, through `latentkit directions report`.
def _predictor_config(change: Callable[[dict], object] | bytes, expect: str = "config.json") -> Build:
    def build(c: Ctx, tmp: Path):
        p = Path(shutil.copytree(c.predictor, tmp / "pred"))
        config = p / "config.json"
        doc = json.loads(config.read_text())
        config.write_bytes(change if isinstance(change, bytes) else json.dumps(change(doc)).encode())
        argv = ["directions", "report", "--model", c.bundle, "--predictor", p, "--out", tmp / "out"]
        return [*argv, "--samples", "2", "--no-progress"], str(config) if expect == "config.json" else expect

    return build


case("predictor-config-format")(_predictor_config(lambda d: {**d, "format": "latentkit-bundle"}))
case("predictor-config-arch-string")(
    _predictor_config(lambda d: {**d, "architecture": {**d["architecture"], "width": "8"}})
)
case("predictor-config-arch-negative")(
    _predictor_config(lambda d: {**d, "architecture": {**d["architecture"], "channels": -3}})
)
case("predictor-config-no-attributes")(_predictor_config(lambda d: {**d, "attributes": []}))
case("predictor-config-attribute-kind")(
    _predictor_config(lambda d: {**d, "attributes": [{"name": "smile", "kind": "fuzzy"}]})
)
case("predictor-config-attribute-extra-key")(
    _predictor_config(lambda d: {**d, "attributes": [{"name": "smile", "kind": "binary", "bias": 1}]})
)
case("predictor-config-attribute-std-zero")(
    _predictor_config(lambda d: {**d, "attributes": [{"name": "a", "kind": "continuous", "std": 0}]})
)
case("predictor-config-classes-huge")(
    _predictor_config(lambda d: {**d, "attributes": [{"name": "a", "kind": "categorical", "classes": 10**9}]})
)
case("predictor-config-deeply-nested")(_predictor_config(deep_json()))
case("predictor-config-empty")(_predictor_config(b""))


# directions.json, through `latentkit edit --edit smile=1`.
def _directions(change: Callable[[dict], object] | bytes, expect: str = "directions.json") -> Build:
    def build(c: Ctx, tmp: Path):
        b = copy_bundle(c, tmp)
        path = b / "directions.json"
        doc = json.loads(path.read_text())
        path.write_bytes(change if isinstance(change, bytes) else json.dumps(change(doc)).encode())
        argv = ["edit", "--model", b, "--seeds", "0", "--edit", "smile=1", "--out", tmp / "out"]
        return argv, str(path) if expect == "directions.json" else expect

    return build


def _smile(**fields):
    return lambda d: {**d, "directions": {**d["directions"], "smile": {**d["directions"]["smile"], **fields}}}


case("directions-other-model")(_directions(lambda d: {**d, "model": {"weights_sha256": "ab" * 32}}))
case("directions-no-model")(_directions(_without("model")))
case("directions-model-is-list")(_directions(lambda d: {**d, "model": ["x"]}))
case("directions-format")(_directions(lambda d: {**d, "format": "latentkit-bundle"}))
case("directions-version")(_directions(lambda d: {**d, "version": 7}))
case("directions-not-object")(_directions(lambda d: {**d, "directions": [1, 2]}))
case("directions-entry-number")(_directions(lambda d: {**d, "directions": {"smile": 3}}))
case("directions-vector-missing")(_directions(lambda d: {**d, "directions": {"smile": {"intercept": 0}}}))
case("directions-vector-string")(_directions(_smile(vector="0.25,0.25")))
case("directions-vector-short")(_directions(_smile(vector=[1.0])))
case("directions-vector-long")(_directions(_smile(vector=[0.0] * 10**5 + [1.0])))
case("directions-vector-nested")(_directions(_smile(vector=[[0.25] * DIM])))
case("directions-vector-nan")(_directions(_smile(vector=[float("nan")] * DIM)))
case("directions-vector-inf")(_directions(_smile(vector=[float("inf")] + [0.0] * (DIM - 1))))
case("directions-vector-text")(_directions(_smile(vector=["a"] * DIM)))
case("directions-vector-nulls")(_directions(_smile(vector=[None] * DIM)))
case("directions-vector-zero")(_directions(_smile(vector=[0.0] * DIM)))
case("directions-vector-huge")(_directions(_smile(vector=[1e308] * DIM)))
case("directions-intercept-string")(_directions(_smile(intercept="high")))
case("directions-intercept-nan")(_directions(_smile(intercept=float("nan"))))
case("directions-intercept-list")(_directions(_smile(intercept=[1])))
case("directions-empty-file")(_directions(b""))
case("directions-invalid-json")(_directions(b'{"format": "latentkit-directions",'))
case("directions-deeply-nested")(_directions(deep_json()))
case("directions-not-utf8")(_directions(b"\xff\xd8\xff\xe0"))
case("directions-unknown-name")(_directions(lambda d: {**d, "directions": {}}, "smile"))


# Latents files, through `latentkit edit --latent FILE`.
def _latents(name: str, data: bytes, expect: str | None = None) -> Build:
    def build(c: Ctx, tmp: Path):
        path = tmp / name
        path.write_bytes(data)
        argv = ["edit", "--model", c.bundle, "--latent", path, "--edit", "smile=1", "--out", tmp / "out"]
        return argv, expect or str(path)

    return build


_GOOD = np.stack([sample_latent(s, DIM) for s in range(2)])
_NPY = {
    "nan": _GOOD.copy() * np.where(np.arange(DIM) == 3, np.nan, 1).astype(np.float32),
    "inf": np.full((2, DIM), np.inf, np.float32),
    "neg-inf": np.full(DIM, -np.inf, np.float64),
    "float16-overflow-inf": np.full(DIM, np.inf, np.float16),
    "shape-short": np.zeros(8, np.float32),
    "shape-long": np.zeros(DIM + 1, np.float32),
    "shape-3d": np.zeros((2, 2, DIM), np.float32),
    "shape-scalar": np.float32(1.0),
    "shape-empty": np.zeros((0, DIM), np.float32),
    "shape-empty-1d": np.zeros(0, np.float32),
    "shape-transposed": np.zeros((DIM, 3), np.float32),
    "dtype-bool": np.ones(DIM, bool),
    "dtype-string": np.array(["1.0"] * DIM),
    "dtype-bytes": np.array([b"1"] * DIM),
    "dtype-structured": np.zeros(DIM, dtype=[("a", "<f4"), ("b", "<i4")]),
    "dtype-datetime": np.zeros(DIM, dtype="datetime64[s]"),
    "dtype-complex": np.ones(DIM, np.complex64),
}
for _name, _array in _NPY.items():
    case(f"latents-npy-{_name}")(_latents("z.npy", npy_bytes(_array)))
case("latents-npy-object-pickle")(_latents("z.npy", npy_bytes(np.array([{"x": 1}], object), True)))
case("latents-npy-object-list")(_latents("z.npy", npy_bytes(np.array([[0.0] * DIM, None], object), True)))
case("latents-npy-empty-file")(_latents("z.npy", b""))
case("latents-npy-magic-only")(_latents("z.npy", b"\x93NUMPY"))
case("latents-npy-truncated-data")(_latents("z.npy", npy_bytes(_GOOD)[:-7]))
case("latents-npy-truncated-header")(_latents("z.npy", npy_bytes(_GOOD)[:40]))
case("latents-npy-bad-header")(_latents("z.npy", npy_bytes(_GOOD).replace(b"'descr'", b"'dexcr'")))
case("latents-npy-header-code")(
    _latents("z.npy", npy_bytes(_GOOD).replace(b"'descr': '<f4'", b"'descr': __import__('os')"))
)
case("latents-npy-is-text")(_latents("z.npy", b"0.1 0.2 0.3\n"))
case("latents-npy-is-json")(_latents("z.npy", json.dumps(_GOOD.tolist()).encode()))
case("latents-npz")(_latents("z.npz", b"PK\x03\x04"))
case("latents-txt-suffix")(_latents("z.txt", b"[0.0]"))
case("latents-no-suffix")(_latents("z", npy_bytes(_GOOD)))
_JSON = {
    "nan": [[float("nan")] * DIM],
    "infinity": [float("inf")] * DIM,
    "huge-overflows-float32": [1e300] * DIM,
    "strings": [["0.5"] * DIM],
    "nulls": [[None] * DIM],
    "objects": [{"z": 1}] * DIM,
    "ragged": [[0.0] * DIM, [0.0] * (DIM - 1)],
    "short": [[0.0] * 3],
    "empty-list": [],
    "empty-rows": [[]],
    "latents-empty": {"latents": []},
    "latents-string": {"latents": "zzz"},
    "no-latents-key": {"z": [[0.0] * DIM]},
    "number": 3.5,
    "string": "0,1,2",
    "3d": [[[0.0] * DIM]],
}
for _name, _doc in _JSON.items():
    case(f"latents-json-{_name}")(_latents("z.json", json.dumps(_doc).encode()))
case("latents-json-invalid")(_latents("z.json", b"[[0.1, 0.2,"))
case("latents-json-empty-file")(_latents("z.json", b""))
case("latents-json-not-utf8")(_latents("z.json", b"\xff\xfe[\x000\x00]\x00"))
case("latents-json-deeply-nested")(_latents("z.json", deep_json()))


def _latents_missing(c: Ctx, tmp: Path):
    path = tmp / "missing.npy"
    return ["edit", "--model", c.bundle, "--latent", path, "--edit", "smile=1", "--out", tmp / "out"], str(
        path
    )


case("latents-missing-file")(_latents_missing)


def _latents_folder(c: Ctx, tmp: Path):
    path = tmp / "z.npy"
    path.mkdir()
    return ["edit", "--model", c.bundle, "--latent", path, "--edit", "smile=1", "--out", tmp / "out"], str(
        path
    )


case("latents-is-a-folder")(_latents_folder)


# Edit recipes, TOML and JSON, through `latentkit edit --recipe FILE`.
def _toml_value(v) -> str:
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v != v:
        return "nan"
    return json.dumps(v)


def _recipe(jobs: object, fmt: str, expect: str | None = None, raw: bytes | None = None) -> Build:
    def build(c: Ctx, tmp: Path):
        path = tmp / f"recipe.{fmt}"
        if raw is not None:
            path.write_bytes(raw)
        elif fmt == "json":
            path.write_text(json.dumps(jobs))
        else:
            path.write_text(
                "".join(
                    "[[jobs]]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in job.items())
                    for job in jobs
                )
            )
        return ["edit", "--model", c.bundle, "--recipe", path, "--out", tmp / "out"], expect or str(path)

    return build


_OK_JOB = {"seeds": "0", "edits": {"smile": 1.0}}
_RECIPE_JOBS = {
    "unknown-key": ([{**_OK_JOB, "strength": 2}], "strength"),
    "typo-key": ([{**_OK_JOB, "edit": {"smile": 1}}], "'edit'"),
    "edits-list": ([{**_OK_JOB, "edits": ["smile"]}], "edits"),
    "edits-string": ([{**_OK_JOB, "edits": "smile=1"}], "edits"),
    "edit-strength-string": ([{**_OK_JOB, "edits": {"smile": "big"}}], "smile"),
    "edit-strength-bool-list": ([{**_OK_JOB, "edits": {"smile": [1]}}], "smile"),
    "edit-strength-nan": ([{**_OK_JOB, "edits": {"smile": float("nan")}}], "smile"),
    "edit-unknown-direction": ([{**_OK_JOB, "edits": {"smiel": 1}}], "smiel"),
    "seeds-backwards": ([{**_OK_JOB, "seeds": "5-1"}], "seeds"),
    "seeds-words": ([{**_OK_JOB, "seeds": "all"}], "seeds"),
    "seeds-list": ([{**_OK_JOB, "seeds": [0, 1]}], "seeds"),
    "seeds-huge": ([{**_OK_JOB, "seeds": "0-99999999999"}], "seeds"),
    "hold-number": ([{**_OK_JOB, "hold": 3}], "hold"),
    "hold-unknown": ([{**_OK_JOB, "hold": ["glasses"]}], "glasses"),
    "hold-and-its-old-name": ([{**_OK_JOB, "hold": ["age"], "conditional": ["age"]}], "'hold' only"),
    "mode-unknown": ([{**_OK_JOB, "mode": "sideways"}], "sideways"),
    "sweep-number": ([{**_OK_JOB, "sweep": 5}], "sweep"),
    "sweep-malformed": ([{**_OK_JOB, "sweep": "smile=1:2"}], "sweep"),
    "psi-string": ([{**_OK_JOB, "psi": "strong"}], "psi"),
    "psi-too-big": ([{**_OK_JOB, "psi": 5.0}], "psi"),
    "psi-nan": ([{**_OK_JOB, "psi": float("nan")}], "psi"),
    "name-slash": ([{**_OK_JOB, "name": "../escape"}], "name"),
    "name-dotdot": ([{**_OK_JOB, "name": ".."}], "name"),
    "name-duplicate": ([{**_OK_JOB, "name": "a"}, {**_OK_JOB, "name": "a"}], "'a'"),
    "name-nul-byte": ([{**_OK_JOB, "name": "a\0b"}], "name"),
    "seeds-twice": ([{**_OK_JOB, "seeds": "0-2,1"}], "seed 1 is given twice"),
    "latent-missing": ([{"latent": "nope.npy", "edits": {"smile": 1.0}}], "nope.npy"),
    "no-seeds-or-latent": ([{"edits": {"smile": 1.0}}], "seeds"),
}
for _fmt in ("json", "toml"):
    for _name, (_jobs, _expect) in _RECIPE_JOBS.items():
        case(f"recipe-{_fmt}-{_name}")(_recipe(_jobs, _fmt, _expect))
case("recipe-json-empty-jobs")(_recipe({"jobs": []}, "json"))
case("recipe-json-jobs-object")(_recipe({"jobs": {"seeds": "0"}}, "json"))
case("recipe-json-job-is-string")(_recipe(["seeds=0"], "json"))
case("recipe-json-number")(_recipe(42, "json"))
case("recipe-json-invalid")(_recipe(None, "json", raw=b'{"jobs": [{"seeds": "0",}]}'))
case("recipe-json-deeply-nested")(_recipe(None, "json", raw=deep_json()))
case("recipe-json-not-utf8")(_recipe(None, "json", raw=b'{"jobs": "\xff"}'))
case("recipe-toml-invalid")(_recipe(None, "toml", raw=b"[[jobs]\nseeds = 0-3\n"))
case("recipe-toml-not-utf8")(_recipe(None, "toml", raw=b'[[jobs]]\nname = "\xff\xfe"\n'))
case("recipe-toml-no-jobs")(_recipe(None, "toml", raw=b'seeds = "0"\n'))
case("recipe-toml-jobs-string")(_recipe(None, "toml", raw=b'jobs = "all"\n'))
case("recipe-toml-empty")(_recipe(None, "toml", raw=b""))
case("recipe-yaml-suffix")(_recipe(None, "yaml", raw=b"jobs: []\n"))


def _recipe_missing(c: Ctx, tmp: Path):
    path = tmp / "nope.toml"
    return ["edit", "--model", c.bundle, "--recipe", path, "--out", tmp / "out"], str(path)


case("recipe-missing-file")(_recipe_missing)


# Train configs, JSON and TOML, through `latentkit train --config FILE`. The base values keep any
# accidental success down to seconds.
_TRAIN_BASE = {"dataset": "faces", "size": 32, "data_n": 64, "batch_size": 4, "steps": 1}


def _train_config(
    fields: dict | None, fmt: str, expect: str | None = None, raw: bytes | None = None, base=True
) -> Build:
    def build(c: Ctx, tmp: Path):
        path = tmp / f"train.{fmt}"
        if raw is not None:
            path.write_bytes(raw)
        else:
            doc = {**(_TRAIN_BASE if base else {}), **fields}
            model = doc.pop("model", None)
            if fmt == "json":
                path.write_text(json.dumps({**doc, **({"model": model} if model is not None else {})}))
            else:
                lines = [f"{k} = {_toml_value(v)}\n" for k, v in doc.items()]
                if isinstance(model, dict):
                    lines += ["[model]\n", *(f"{k} = {_toml_value(v)}\n" for k, v in model.items())]
                elif model is not None:
                    lines.insert(0, f"model = {_toml_value(model)}\n")
                path.write_text("".join(lines))
        return ["train", "--config", path, "--out", tmp / "out", "--no-progress"], expect or str(path)

    return build


_TRAIN_TYPES = {
    "dataset": 3, "size": "32", "data_n": 6.4, "data_seed": "0", "loss": ["ns"], "r1_gamma": "1",
    "real_label": "0.9", "feature_matching": 1, "unrolled_steps": 2.5, "diffaugment": 1, "steps": "1",
    "batch_size": 4.0, "n_critic": "5", "lr_g": "1e-3", "lr_d": [1], "beta1": "0.5", "beta2": {},
    "ema": "0.9", "seed": 1.5, "deterministic": "yes", "device": 0, "channels_last": "true",
    "sync_bn": 0, "log_every": "10", "sample_every": 1.5, "checkpoint_every": True,
    "keep_checkpoints": "3", "eval_every": "0", "eval_features": 5, "eval_samples": 20.5,
}  # fmt: skip
for _i, (_field, _value) in enumerate(_TRAIN_TYPES.items()):
    case(f"train-type-{_field}")(_train_config({_field: _value}, "toml" if _i % 2 else "json", _field))
_TRAIN_VALUES = {
    "loss-unknown": {"loss": "wasserstein"}, "device-unknown": {"device": "tpu"},
    "steps-zero": {"steps": 0}, "steps-negative": {"steps": -5}, "batch-zero": {"batch_size": 0},
    "size-48": {"size": 48}, "size-4": {"size": 4}, "size-huge": {"size": 2**30},
    "lr-zero": {"lr_g": 0.0}, "lr-negative": {"lr_d": -1e-3}, "lr-nan": {"lr_g": float("nan")},
    "beta1-one": {"beta1": 1.0}, "beta2-negative": {"beta2": -0.1}, "ema-one": {"ema": 1.0},
    "ema-nan": {"ema": float("nan")}, "real-label-zero": {"real_label": 0.0},
    "r1-negative": {"r1_gamma": -1.0}, "n-critic-zero": {"n_critic": 0},
    "unrolled-negative": {"unrolled_steps": -1}, "diffaugment-unknown": {"diffaugment": "blur"},
    "eval-samples-small": {"eval_samples": 5}, "keep-zero": {"keep_checkpoints": 0},
    "checkpoint-every-zero": {"checkpoint_every": 0}, "data-n-zero": {"data_n": 0},
    "data-n-negative": {"data_n": -64}, "data-seed-negative": {"data_seed": -1},
    "seed-negative": {"seed": -3},
    "batch-not-multiple-of-pack": {"batch_size": 5, "model": {"pack": 2}},
    "eval-without-features": {"eval_every": 1},
    "dataset-missing-folder": {"dataset": "/no/such/folder"},
    "gradient-penalty-with-batchnorm": {"loss": "wgan-gp"},
}  # fmt: skip
for _i, (_name, _fields) in enumerate(_TRAIN_VALUES.items()):
    _expect = next(iter(_fields)).replace("gradient_penalty", "d_norm")
    _expect = {"batch-not-multiple-of-pack": "pack", "eval-without-features": "eval-features",
               "dataset-missing-folder": "/no/such/folder", "gradient-penalty-with-batchnorm": "d_norm",
               "size-huge": "size", "data-seed-negative": "data_seed"}.get(_name, _expect)  # fmt: skip
    case(f"train-value-{_name}")(_train_config(_fields, "json" if _i % 2 else "toml", _expect))
case("train-unknown-option-json")(_train_config({"learning_rate": 1e-3}, "json", "learning_rate"))
case("train-unknown-option-toml")(_train_config({"epochs": 3}, "toml", "epochs"))
case("train-unknown-model-key")(_train_config({"model": {"width": 8}}, "json", "width"))
case("train-model-type")(_train_config({"model": {"ngf": "8"}}, "toml", "ngf"))
case("train-model-value")(_train_config({"model": {"d_norm": "fancy"}}, "json", "d_norm"))
case("train-model-huge")(_train_config({"model": {"latent_dim": 10**12}}, "json", "latent_dim"))
case("train-model-is-string")(_train_config({"model": "dcgan"}, "toml", "model"))
case("train-model-is-list")(_train_config({"model": [1]}, "json", "model"))
case("train-config-list")(_train_config(None, "json", raw=b"[1, 2]"))
case("train-config-string")(_train_config(None, "json", raw=b'"faces"'))
case("train-config-invalid-json")(_train_config(None, "json", raw=b'{"steps": 1,}'))
case("train-config-empty-json")(_train_config(None, "json", raw=b""))
case("train-config-invalid-toml")(_train_config(None, "toml", raw=b"steps = = 1\n"))
case("train-config-toml-not-utf8")(_train_config(None, "toml", raw=b'dataset = "\xff\xfe"\n'))
case("train-config-json-not-utf8")(_train_config(None, "json", raw=b'{"dataset": "\xff"}'))
case("train-config-deeply-nested")(_train_config(None, "json", raw=deep_json()))
case("train-config-toml-deeply-nested")(
    _train_config(None, "toml", raw=b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n")
)


def _train_config_missing(c: Ctx, tmp: Path):
    path = tmp / "nope.toml"
    return ["train", "--config", path, "--out", tmp / "out"], str(path)


case("train-config-missing-file")(_train_config_missing)


def _train_config_folder(c: Ctx, tmp: Path):
    return ["train", "--config", tmp, "--out", tmp / "out"], str(tmp)


case("train-config-is-a-folder")(_train_config_folder)


# Images given to `latentkit verify`.
def _image(name: str, make: Callable[[Ctx], bytes]) -> Build:
    def build(c: Ctx, tmp: Path):
        path = tmp / name
        path.write_bytes(make(c))
        return ["verify", path], str(path)

    return build


def _export_prefix(n: int | float, fmt="png"):
    def make(c: Ctx) -> bytes:
        data = (c.png if fmt == "png" else c.jpeg).read_bytes()
        return data[: n if isinstance(n, int) else int(len(data) * n)]

    return make


def _gif_header(width: int, height: int) -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x00\x00\x00"
        + b",\x00\x00\x00\x00"
        + (struct.pack("<HH", width, height) + b"\x00\x02\x02\x44\x01\x00;")
    )


def _bmp_header(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + b"\x00" * 16


def _zip_bytes(c: Ctx) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("face.png", c.png.read_bytes())
    return buf.getvalue()


def _chunk_flip(kind: bytes):
    def make(c: Ctx) -> bytes:
        data = c.png.read_bytes()
        pos = data.index(kind) + 4 + 2  # inside the chunk's body
        return flip_bit(data, pos, 4)

    return make


_IMAGES = {
    "empty.png": lambda c: b"",
    "one-byte.png": lambda c: b"\x89",
    "signature-only.png": lambda c: b"\x89PNG\r\n\x1a\n",
    "trunc-16.png": _export_prefix(16),
    "trunc-33.png": _export_prefix(33),
    "trunc-60.png": _export_prefix(60),
    "trunc-quarter.png": _export_prefix(0.25),
    "trunc-half.png": _export_prefix(0.5),
    "trunc-90pct.png": _export_prefix(0.9),
    "trunc-half.jpg": _export_prefix(0.5, "jpeg"),
    "trunc-10.jpg": _export_prefix(10, "jpeg"),
    "flip-ihdr.png": _chunk_flip(b"IHDR"),
    "flip-idat.png": _chunk_flip(b"IDAT"),
    "bomb-100000x100000.png": lambda c: png_header_only(100_000, 100_000),
    "bomb-65535x65535.png": lambda c: png_header_only(65_535, 65_535),
    "bomb-1x2e9.png": lambda c: png_header_only(1, 2_000_000_000),
    "bomb-9000x9000.png": lambda c: png_header_only(9000, 9000),
    "zero-size.png": lambda c: png_header_only(0, 0),
    "bomb-65535x65535.gif": lambda c: _gif_header(65535, 65535),
    "bomb-60000x60000.bmp": lambda c: _bmp_header(60000, 60000),
    "text.png": lambda c: b"hello, not a picture\n",
    "zip.png": _zip_bytes,
    "pdf.png": lambda c: b"%PDF-1.7\n1 0 obj << >> endobj\n%%EOF\n",
    "gzip.png": lambda c: zlib.compress(b"\x00" * 1000),
    "html.png": lambda c: b"<html><script>alert(1)</script></html>",
    "random.png": lambda c: np.random.default_rng(1).integers(0, 256, 2048, dtype=np.uint8).tobytes(),
    "itxt-invalid-json.png": lambda c: png_with_manifest('{"schema": "latentkit.manifest", '),
    "itxt-deeply-nested.png": lambda c: png_with_manifest(deep_json(50_000)),
    "itxt-nested-object.png": lambda c: png_with_manifest('{"a":' * 50_000 + "1" + "}" * 50_000),
    "itxt-huge-chunk.png": lambda c: png_with_manifest("x" * (3 * 2**20)),
    "itxt-list.png": lambda c: png_with_manifest("[1, 2, 3]"),
    "itxt-other-schema.png": lambda c: png_with_manifest(json.dumps({"schema": "c2pa"})),
    "itxt-schema-version-string.png": lambda c: png_with_manifest(
        json.dumps({**c.manifest, "schema_version": "1"})
    ),
    "itxt-model-is-list.png": lambda c: png_with_manifest(json.dumps({**c.manifest, "model": ["tiny"]})),
    "itxt-latent-is-string.png": lambda c: png_with_manifest(json.dumps({**c.manifest, "latent": "z"})),
    "itxt-output-missing.png": lambda c: png_with_manifest(
        json.dumps({k: v for k, v in c.manifest.items() if k != "output"})
    ),
    "itxt-created-number.png": lambda c: png_with_manifest(json.dumps({**c.manifest, "created": 17})),
    "itxt-edits-number.png": lambda c: png_with_manifest(json.dumps({**c.manifest, "edits": 5})),
    "itxt-edits-string.png": lambda c: png_with_manifest(json.dumps({**c.manifest, "edits": "smile"})),
    "itxt-software-null.png": lambda c: png_with_manifest(json.dumps({**c.manifest, "software": None})),
    "itxt-interpolation-list.png": lambda c: png_with_manifest(
        json.dumps({**c.manifest, "interpolation": [1]})
    ),
    "itxt-nan-literal.png": lambda c: png_with_manifest(
        json.dumps({**c.manifest, "schema_version": float("nan")})
    ),
    "xmp-invalid-json.jpg": lambda c: jpeg_with_xmp_manifest("{not json"),
    "xmp-deeply-nested.jpg": lambda c: jpeg_with_xmp_manifest("[" * 20_000 + "]" * 20_000),
}  # fmt: skip
for _name, _make in _IMAGES.items():
    case(f"verify-{_name}")(_image(_name, _make))


def _verify_missing(c: Ctx, tmp: Path):
    return ["verify", tmp / "nope.png"], str(tmp / "nope.png")


def _verify_folder(c: Ctx, tmp: Path):
    (tmp / "dir.png").mkdir()
    return ["verify", tmp / "dir.png"], str(tmp / "dir.png")


def _verify_oversized_file(c: Ctx, tmp: Path):
    path = tmp / "sparse.png"
    with open(path, "wb") as f:  # a sparse 300 MB file: no disk used
        f.write(b"\x89PNG\r\n\x1a\n")
        f.truncate(300 * 2**20)
    return ["verify", path], str(path)


case("verify-missing")(_verify_missing)
case("verify-folder")(_verify_folder)
case("verify-oversized-file")(_verify_oversized_file)


# `latentkit reproduce` of an image whose (unsigned) manifest asks for impossible things.
def _reproduce(change: Callable[[dict], dict], expect: str | None = None) -> Build:
    def build(c: Ctx, tmp: Path):
        path = tmp / "face.png"
        path.write_bytes(png_with_manifest(json.dumps(change(c.manifest))))
        return ["reproduce", path, "--model", c.bundle, "--out", tmp / "out" / "copy.png"], expect or str(
            path
        )

    return build


def _set(section: str, **fields):
    return lambda m: {**m, section: {**m[section], **fields}}


case("reproduce-latent-not-base64")(_reproduce(_set("latent", vector_b64="***"), "vector_b64"))
case("reproduce-latent-sha-mismatch")(_reproduce(_set("latent", sha256="0" * 64), "sha256"))
case("reproduce-latent-dim-string")(_reproduce(_set("latent", dim="sixteen"), "sixteen"))
case("reproduce-output-format-bmp")(_reproduce(_set("output", format="bmp"), "format"))
case("reproduce-output-width-string")(_reproduce(_set("output", width="wide"), "width"))
case("reproduce-output-width-huge")(_reproduce(_set("output", width=10**9), "size"))
case("reproduce-weights-other-model")(_reproduce(_set("model", weights_sha256="ab" * 32), "weights"))
case("reproduce-export-id-bad")(_reproduce(_set("watermark", export_id="not-hex!"), "export_id"))
case("reproduce-edits-number")(_reproduce(lambda m: {**m, "edits": 5}, "edits"))
case("reproduce-no-manifest")(
    lambda c, tmp: (
        ["reproduce", _plain_png(tmp), "--model", c.bundle, "--out", tmp / "out" / "copy.png"],
        str(tmp / "plain.png"),
    )
)


def _plain_png(tmp: Path) -> Path:
    Image.new("RGB", (8, 8)).save(tmp / "plain.png")
    return tmp / "plain.png"


# --- every write refuses to replace what exists, and never writes over its input (issue 16) -----------


def _existing(tmp: Path, name: str, folder: bool = False) -> Path:
    """A file (or a folder holding one) the user already had at `name`."""
    path = tmp / name
    if folder:
        path.mkdir()
        (path / "mine.txt").write_text("the user's own file")
    else:
        path.write_text("the user's own file")
    return path


@case("overwrite-data-preview")
def _overwrite_preview(c: Ctx, tmp: Path):
    out = _existing(tmp, "grid.png")
    return ["data", "preview", "--size", "32", "--n", "4", "--out", out], "already exists"


@case("overwrite-plot")
def _overwrite_plot(c: Ctx, tmp: Path):
    return ["plot", c.run, "--out", _existing(tmp, "config.json")], "already exists"


@case("overwrite-bundle")
def _overwrite_bundle(c: Ctx, tmp: Path):
    return ["bundle", c.run, "--out", _existing(tmp, "model", folder=True)], "already exists"


@case("overwrite-attributes-train")
def _overwrite_predictor(c: Ctx, tmp: Path):
    out = _existing(tmp, "pred", folder=True)
    return [
        "attributes",
        "train",
        "--size",
        "32",
        "--n",
        "64",
        "--steps",
        "1",
        "--out",
        out,
    ], "already exists"


@case("overwrite-directions-report")
def _overwrite_report(c: Ctx, tmp: Path):
    out = _existing(tmp, "report", folder=True)
    argv = ["directions", "report", "--model", c.bundle, "--predictor", c.predictor, "--out", out]
    return [*argv, "--samples", "2", "--no-progress"], "already exists"


@case("overwrite-project")
def _overwrite_project(c: Ctx, tmp: Path):
    out = _existing(tmp, "z.npy")
    return [
        "project",
        c.png,
        "--model",
        c.bundle,
        "--out",
        out,
        "--steps",
        "1",
        "--no-progress",
    ], "already exists"


@case("overwrite-encoder")
def _overwrite_encoder(c: Ctx, tmp: Path):
    out = _existing(tmp, "enc", folder=True)
    return [
        "encoder",
        "train",
        "--model",
        c.bundle,
        "--steps",
        "1",
        "--out",
        out,
        "--no-progress",
    ], "already exists"


@case("overwrite-generate")
def _overwrite_generate(c: Ctx, tmp: Path):
    folder = tmp / "exports"
    folder.mkdir()
    _existing(folder, "seed0000.png")
    return ["generate", "--model", c.bundle, "--seeds", "0", "--out", folder], "already exists"


@case("reproduce-over-its-own-input")
def _reproduce_over_input(c: Ctx, tmp: Path):
    original = Path(shutil.copy(c.png, tmp / "face.png"))
    return ["reproduce", original, "--out", original, "--overwrite"], "is the input"


@case("train-out-is-a-file")
def _train_out_file(c: Ctx, tmp: Path):
    return ["train", "--dataset", "ring", "--steps", "1", "--out", _existing(tmp, "run")], "is a file"


@case("train-out-holds-the-users-files")
def _train_out_not_empty(c: Ctx, tmp: Path):
    out = _existing(tmp, "run", folder=True)
    return ["train", "--dataset", "ring", "--steps", "1", "--out", out, "--no-progress"], "not empty"


def _resume_with(*flags: str, expect: str) -> Build:
    def build(c: Ctx, tmp: Path):
        run = Path(shutil.copytree(c.run, tmp / "run"))
        return ["train", "--resume", "--out", run, "--steps", "3", "--no-progress", *flags], expect

    return build


for _flags, _expect in {
    ("--loss", "hinge"): "loss='ns', not 'hinge'",
    ("--size", "64"): "size=32, not 64",
    ("--dataset", "ring"): "dataset='faces', not 'ring'",
    ("--latent-dim", "16"): "model.latent_dim=8, not 16",
    ("--batch-size", "8"): "batch_size=4, not 8",
    ("--ema", "0.5"): "ema=None, not 0.5",
    ("--seed", "7"): "seed=0, not 7",
    ("--ngf", "16"): "model.ngf=8, not 16",
}.items():
    case(f"resume-changes{'-'.join(['', *_flags])}")(_resume_with(*_flags, expect=_expect))


@case("path-component-over-255-bytes")
def _name_too_long(c: Ctx, tmp: Path):
    return ["generate", "--model", c.bundle, "--seeds", "0", "--out", tmp / ("x" * 300)], "File name too long"


for _flag, _value in (("--n", "0"), ("--nrow", "0"), ("--scale", "100000")):
    case(f"preview{_flag}-{_value}")(
        lambda c, tmp, _flag=_flag, _value=_value: (
            ["data", "preview", "--size", "32", _flag, _value, "--out", tmp / "out"],
            _flag,
        )
    )


def _fit_with(*flags: str, expect: str) -> Build:
    def build(c: Ctx, tmp: Path):
        argv = ["directions", "fit", "--model", c.bundle, "--predictor", c.predictor, "--attributes", "smile"]
        return [*argv, "--samples", "200", "--no-progress", "--out", tmp / "out", *flags], expect

    return build


for _name, (_flags, _expect) in {
    "pca-negative": (("--pca", "-1"), "pca=-1"),
    "ratio-nan": (("--ratio", "nan"), "ratio=nan"),
    "ratio-over-half": (("--ratio", "0.7"), "ratio=0.7"),
    "samples-0": (("--samples", "0"), "samples=0"),
}.items():
    case(f"directions-fit-{_name}")(_fit_with(*_flags, expect=_expect))


for _flags, _expect in ((("--epochs", "nan"), "epochs=nan"), (("--steps", "0"), "steps=0")):
    case(f"attributes-train{'-'.join(['', *_flags])}")(
        lambda c, tmp, _flags=_flags, _expect=_expect: (
            ["attributes", "train", "--size", "32", "--n", "64", *_flags, "--out", tmp / "out"],
            _expect,
        )
    )


# Options the commands check before doing anything (issue 16).
case("editor-port-over-65535")(
    lambda c, tmp: (["editor", "--model", c.bundle, "--port", "99999"], "--port 99999")
)
case("editor-port-negative")(lambda c, tmp: (["editor", "--model", c.bundle, "--port", "-1"], "--port -1"))
case("generate-seeds-twice")(
    lambda c, tmp: (
        ["generate", "--model", c.bundle, "--seeds", "1,1", "--out", tmp / "out"],
        "--seeds '1,1': seed 1 is given twice",
    )
)


# --- the test -----------------------------------------------------------------------------------------


def files_under(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def test_the_sweep_is_big_enough():
    assert len(CASES) >= 200, len(CASES)
    assert len({c.id for c in CASES}) == len(CASES), "duplicate case ids"


@pytest.mark.parametrize("bad", CASES, ids=[c.id for c in CASES])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(
    bad: Case, ctx: Ctx, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("LATENTKIT_HOME", str(ctx.root / "home"))
    argv, expect = bad.build(ctx, tmp_path)
    before, shared_before = files_under(tmp_path), files_under(ctx.root)
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert len(lines) == 1 and lines[0].startswith("latentkit: error: "), err[-2000:]
    assert "Traceback" not in err
    assert expect in lines[0], f"{expect!r} not named in: {lines[0]}"
    if argv[0] == "verify":
        assert out == ""
    after = files_under(tmp_path)
    assert after == before, f"files changed: {sorted(set(after) ^ set(before))}"
    assert not (tmp_path / "out").exists()
    assert files_under(ctx.root) == shared_before


# A few of the same, end to end in a real process: exit status 2 and no traceback.
SUBPROCESS_CASES = [
    "bundle-weights-trunc_half",
    "bundle-config-deeply-nested",
    "latents-npy-object-pickle",
    "verify-bomb-100000x100000.png",
    "checkpoint-flip_data_0.5",
]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process_exits_2_without_traceback(name, ctx, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("LATENTKIT_HOME", str(ctx.root / "home"))
    (bad,) = [c for c in CASES if c.id == name]
    argv, expect = bad.build(ctx, tmp_path)
    before = files_under(tmp_path)
    r = cli(*argv)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("latentkit: error: ") and expect in lines[0], r.stderr
    assert files_under(tmp_path) == before


def test_an_error_naming_text_from_a_file_shows_its_control_characters_escaped(capsys):
    from latentkit.cli import _user_error

    assert _user_error("direction 'a\x1b[8mb': bad\r\nverified yes") == 2
    err = capsys.readouterr().err
    assert err == "latentkit: error: direction 'a\\x1b[8mb': bad verified yes\n"
