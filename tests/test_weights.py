"""The one weights folder (`latentkit.models.weights`) under the bundle, the predictor and the encoder."""

import hashlib
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import latentkit.latent.encoder as encoder_module
import latentkit.models
import latentkit.predictor.io as predictor_io
from latentkit.errors import LatentkitError
from latentkit.latent.encoder import Encoder, load_encoder, save_encoder
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.models.weights import VERSION as WEIGHTS_VERSION
from latentkit.predictor import (
    AttributeSpec,
    FeatureNet,
    bundle_predictor,
    load_feature_net,
    save_feature_net,
)

PRETRAINED = Path(__file__).resolve().parent.parent / "pretrained"
SPECS = [AttributeSpec("smile", "binary"), AttributeSpec("age", "continuous", mean=0.5, std=0.2)]
CFG = DCGANConfig(resolution=32, ngf=8, ndf=8, latent_dim=8)


def tiny_net() -> FeatureNet:
    torch.manual_seed(0)
    return FeatureNet(3, 32, SPECS, width=8, feature_dim=16).eval()


def tiny_encoder() -> Encoder:
    torch.manual_seed(0)
    return Encoder(3, 32, 8, width=8).eval()


def tiny_generator() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_generator(CFG).eval()


def saved(kind: str, folder: Path) -> Path:
    """A tiny module of `kind` saved at `folder`; returns the weights file."""
    if kind == "bundle":
        save_bundle(folder, tiny_generator(), CFG)
        return folder / "generator.safetensors"
    if kind == "predictor":
        save_feature_net(folder, tiny_net())
    else:
        save_encoder(folder, tiny_encoder())
    return folder / "weights.safetensors"


def load(kind: str, folder: Path):
    return {"bundle": load_bundle, "predictor": load_feature_net, "encoder": load_encoder}[kind](folder)


KINDS = ("bundle", "predictor", "encoder")


# --- the format -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, fmt",
    [
        ("bundle", "latentkit-bundle"),
        ("predictor", "latentkit-feature-net"),
        ("encoder", "latentkit-encoder"),
    ],
)
def test_every_kind_saves_its_tag_version_2_and_the_weights_digest(kind, fmt, tmp_path):
    weights = saved(kind, tmp_path / "m")
    doc = json.loads((tmp_path / "m" / "config.json").read_text())
    assert (doc["format"], doc["version"]) == (fmt, 2)
    assert doc["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()


def test_bundle_round_trip_through_the_weights_folder(tmp_path):
    G = tiny_generator()
    b = load_bundle(save_bundle(tmp_path / "b", G, CFG, extra={"dataset": "faces"}))
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(b.generator(z), G(z))
    assert b.meta == {"dataset": "faces"}  # the digest is the format's, not an extra key


def test_predictor_round_trip_through_the_weights_folder(tmp_path):
    net = tiny_net()
    loaded, report = load_feature_net(save_feature_net(tmp_path / "p", net, {"steps": 3}))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.features(x), net.features(x))
    assert loaded.attributes == SPECS and report == {"steps": 3}


def test_encoder_round_trip_through_the_weights_folder(tmp_path):
    enc = tiny_encoder()
    loaded = load_encoder(save_encoder(tmp_path / "e", enc, {"steps": 1}))
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(x), enc(x))


# --- damage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_a_bit_flip_in_the_tensor_data_fails_the_digest_naming_the_file(kind, tmp_path):
    weights = saved(kind, tmp_path / "m")
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0x08  # inside the last tensor: still valid safetensors, same shapes
    weights.write_bytes(bytes(data))
    with pytest.raises(LatentkitError, match=re.escape(f"{weights}: SHA-256 does not match")) as e:
        load(kind, tmp_path / "m")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("kind", KINDS)
def test_version_1_without_a_digest_loads_and_version_2_without_one_is_refused(kind, tmp_path):
    saved(kind, tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    doc = json.loads(config.read_text())
    del doc["weights_sha256"]
    config.write_text(json.dumps(doc))
    with pytest.raises(LatentkitError, match=re.escape(f"{config}: 'weights_sha256' must be")):
        load(kind, tmp_path / "m")
    config.write_text(json.dumps({**doc, "version": 1}))
    load(kind, tmp_path / "m")


def test_the_shipped_version_1_bundle_and_predictor_load_as_they_are():
    doc = json.loads((PRETRAINED / "faces32" / "config.json").read_text())
    assert doc["version"] == 1 and "weights_sha256" not in doc
    bundle = load_bundle(PRETRAINED / "faces32")
    net, folder = bundle_predictor(bundle)
    assert folder == PRETRAINED / "faces32" / "predictor" and net.resolution == bundle.config.resolution


def test_the_shipped_faces64_is_a_current_bundle_whose_weights_match_their_recorded_hash():
    doc = json.loads((PRETRAINED / "faces64" / "config.json").read_text())
    assert doc["version"] == WEIGHTS_VERSION and doc["model"]["mapping_layers"] == 2
    data = (PRETRAINED / "faces64" / "generator.safetensors").read_bytes()
    assert hashlib.sha256(data).hexdigest() == doc["weights_sha256"]
    bundle = load_bundle(PRETRAINED / "faces64")
    assert bundle_predictor(bundle)[1] == PRETRAINED / "faces64" / "predictor"


def test_bundle_predictor_is_none_for_a_bundle_without_one(tmp_path):
    assert bundle_predictor(load_bundle(save_bundle(tmp_path / "b", tiny_generator(), CFG))) is None


# --- a config claiming a huge network is refused before anything is allocated --------------------------


def built_only_on_meta(monkeypatch, owner, name: str) -> list[str]:
    """Wrap owner.name (a module class or builder) to record the default device of every call and
    fail on any call off the meta device, so a wrong loader cannot allocate the huge network."""
    real, devices = getattr(owner, name), []

    def spy(*args, **kwargs):
        devices.append(torch.get_default_device().type)
        assert devices[-1] == "meta", "the claimed network was built for real"
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, spy)
    return devices


def claim(folder: Path, change) -> None:
    config = folder / "config.json"
    config.write_text(json.dumps(change(json.loads(config.read_text()))))


def test_a_predictor_config_claiming_width_8192_is_refused_before_allocation(tmp_path, monkeypatch):
    saved("predictor", tmp_path / "p")
    claim(tmp_path / "p", lambda d: {**d, "architecture": {**d["architecture"], "width": 8192}})
    devices = built_only_on_meta(monkeypatch, predictor_io, "FeatureNet")
    message = (
        "weights.safetensors: tensor 'body.0.weight' has shape (8, 3, 3, 3), the config needs (8192, 3, 3, 3)"
    )
    with pytest.raises(LatentkitError, match=re.escape(message)):
        load_feature_net(tmp_path / "p")
    assert devices == ["meta"]


def test_an_encoder_config_claiming_width_8192_is_refused_before_allocation(tmp_path, monkeypatch):
    saved("encoder", tmp_path / "e")
    claim(tmp_path / "e", lambda d: {**d, "architecture": {**d["architecture"], "width": 8192}})
    devices = built_only_on_meta(monkeypatch, encoder_module, "Encoder")
    bundle = SimpleNamespace(config=CFG, name="tiny", weights_sha256="")
    with pytest.raises(
        LatentkitError, match=r"weights\.safetensors: tensor 'body\.0\.weight' has shape \(8, 3, 3, 3\)"
    ):
        load_encoder(tmp_path / "e", bundle)
    assert devices == ["meta"]


def test_a_bundle_config_claiming_ngf_8192_is_refused_before_allocation(tmp_path, monkeypatch):
    saved("bundle", tmp_path / "b")
    claim(tmp_path / "b", lambda d: {**d, "model": {**d["model"], "ngf": 8192}})
    devices = built_only_on_meta(monkeypatch, latentkit.models, "build_generator")
    with pytest.raises(LatentkitError, match=r"generator\.safetensors: tensor '.*' has shape"):
        load_bundle(tmp_path / "b")
    assert devices == ["meta"]


def test_a_bundle_killed_between_its_weights_and_its_config_is_refused_not_loaded(tmp_path):
    """save_bundle writes the weights, then config.json: a kill in between leaves new weights under
    the old config, which must fail the digest instead of loading as the old step."""
    torch.manual_seed(1)
    old = save_bundle(tmp_path / "b", build_generator(CFG), CFG, extra={"run": {"step": 1}})
    torch.manual_seed(3)
    newer = save_bundle(tmp_path / "newer", build_generator(CFG), CFG, extra={"run": {"step": 3}})
    (old / "generator.safetensors").write_bytes((newer / "generator.safetensors").read_bytes())
    with pytest.raises(LatentkitError, match=r"generator\.safetensors: SHA-256 does not match"):
        load_bundle(old)
