"""The FeatureNet: attribute kinds, training, prediction in label units, and its weights folder."""

import json

import numpy as np
import pytest
import torch

from latentkit.data import load_dataset
from latentkit.data.base import Dataset
from latentkit.errors import LatentkitError
from latentkit.metrics.modes import stacked_mode_ids
from latentkit.predictor import (
    AttributeSpec,
    FeatureNet,
    extract_features,
    infer_attribute,
    load_feature_net,
    predict_attributes,
    predict_channels,
    save_feature_net,
    train_feature_net,
)

torch.set_num_threads(1)

SPECS = [
    AttributeSpec("glasses", "binary"),
    AttributeSpec("smile", "continuous", mean=0.5, std=2.0),
    AttributeSpec("digit", "categorical", classes=10),
]


def tiny_net(channels: int = 3, resolution: int = 32, specs=SPECS) -> FeatureNet:
    torch.manual_seed(0)
    return FeatureNet(channels, resolution, specs, width=8, feature_dim=16).eval()


@pytest.fixture(scope="module")
def faces() -> Dataset:
    return load_dataset("faces", size=32, n=256, seed=0)


@pytest.fixture(scope="module")
def trained(faces):
    """A glasses detector after 80 steps on 192 faces (64 held out)."""
    return train_feature_net(
        faces,
        attributes=["glasses"],
        steps=80,
        batch_size=32,
        lr=5e-3,
        width=16,
        feature_dim=32,
        val_fraction=0.25,
        progress=False,
    )


# ---- attribute kinds ----------------------------------------------------------------------------


def test_infer_attribute_reads_the_kind_from_the_values():
    assert infer_attribute("glasses", np.array([0, 1, 1, 0], np.float32)).kind == "binary"
    digit = infer_attribute("digit", np.array([0, 3, 9, 2], np.float32))
    assert (digit.kind, digit.classes) == ("categorical", 10)
    smile = infer_attribute("smile", np.array([-1.0, 1.0, 0.5, 0.5]))
    assert smile.kind == "continuous"
    assert (smile.mean, smile.std) == pytest.approx((0.25, np.std([-1.0, 1.0, 0.5, 0.5])))
    # Negative or huge integers are not class indices.
    assert infer_attribute("offset", np.array([-1.0, 0.0, 1.0])).kind == "continuous"
    assert infer_attribute("year", np.array([1990.0, 2000.0])).kind == "continuous"


def test_infer_attribute_rejects_constant_and_missing_values():
    with pytest.raises(LatentkitError, match="'bald': has a single value"):
        infer_attribute("bald", np.zeros(5))
    with pytest.raises(LatentkitError, match="'age': values must be finite"):
        infer_attribute("age", np.array([0.1, np.nan]))


# ---- the network --------------------------------------------------------------------------------


def test_features_and_predictions_have_the_documented_shapes_and_units():
    net = tiny_net()
    x = torch.rand(5, 3, 32, 32) * 2 - 1
    assert net.features(x).shape == (5, 16)
    pred = net.predict(x)
    assert set(pred) == {"glasses", "smile", "digit"}
    assert all(v.shape == (5,) for v in pred.values())
    assert ((pred["glasses"] > 0) & (pred["glasses"] < 1)).all()
    assert pred["digit"].dtype == torch.int64 and ((pred["digit"] >= 0) & (pred["digit"] < 10)).all()


def test_block_features_are_the_four_blocks_and_the_last_pooled_is_the_embedding():
    net = tiny_net()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        blocks = net.block_features(x)
        shapes = [tuple(b.shape) for b in blocks]
        assert shapes == [(2, 8, 16, 16), (2, 16, 8, 8), (2, 32, 4, 4), (2, 16, 2, 2)]
        assert torch.equal(blocks[-1].mean(dim=(2, 3)), net.features(x))
        assert all((b >= 0).all() for b in blocks)  # each block ends in a ReLU


def test_continuous_predictions_come_back_in_label_units():
    net = tiny_net()
    with torch.no_grad():
        net.head.weight.zero_()
        net.head.bias.zero_()
        net.head.bias[1] = 1.0  # the smile slot: one standard deviation above the mean
    pred = net.predict(torch.zeros(2, 3, 32, 32))
    assert pred["smile"].tolist() == [2.5, 2.5]  # mean 0.5 + 1 * std 2.0
    assert pred["glasses"].tolist() == [0.5, 0.5]


def test_other_image_sizes_are_resized_to_the_training_resolution():
    net = tiny_net()
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    small = torch.nn.functional.interpolate(x, size=(32, 32), mode="bilinear", antialias=True)
    assert torch.equal(net.features(x), net.features(small))


def test_wrong_channel_count_is_a_user_error():
    with pytest.raises(LatentkitError, match=r"expected images \(N, 3, H, W\)"):
        tiny_net().features(torch.zeros(2, 1, 32, 32))


def test_batched_helpers_accept_uint8_and_match_the_direct_call():
    net = tiny_net()
    images = torch.randint(0, 256, (7, 3, 32, 32), dtype=torch.uint8)
    x = images.float() / 127.5 - 1
    assert torch.allclose(extract_features(net, images, batch_size=3), net.features(x), atol=1e-6)
    pred = predict_attributes(net, images, batch_size=4)
    np.testing.assert_allclose(pred["smile"], net.predict(x)["smile"].detach().numpy(), rtol=1e-5, atol=1e-6)


def test_stacked_mode_ids_read_each_channel_as_a_digit():
    net = tiny_net(channels=1, specs=[AttributeSpec("digit", "categorical", classes=10)])
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    per_channel = predict_channels(net, images)  # (4, 3)
    grey = [predict_attributes(net, images[:, c : c + 1])["digit"] for c in range(3)]
    np.testing.assert_array_equal(per_channel, np.stack(grey, axis=1))
    np.testing.assert_array_equal(
        stacked_mode_ids(net, images), 100 * per_channel[:, 0] + 10 * per_channel[:, 1] + per_channel[:, 2]
    )
    with pytest.raises(LatentkitError, match="single-channel"):
        predict_channels(tiny_net(), images)


# ---- training -----------------------------------------------------------------------------------


def test_training_lowers_the_loss_and_detects_glasses_better_than_chance(trained, faces):
    net, report = trained
    assert [a.name for a in net.attributes] == ["glasses"]
    assert (report["train_size"], report["val_size"], report["steps"]) == (192, 64, 80)
    assert report["loss_last"] < 0.7 * report["loss_first"]
    # Chance is always answering the majority class of the held-out faces.
    val = np.sort(np.random.default_rng(0).permutation(256)[:64])
    majority = max(faces.labels["glasses"][val].mean(), 1 - faces.labels["glasses"][val].mean())
    assert report["attributes"]["glasses"]["accuracy"] >= majority + 0.1


def test_training_is_deterministic_per_seed(faces):
    def run(seed):
        net, _ = train_feature_net(
            faces, ["glasses"], steps=3, batch_size=16, width=4, feature_dim=8, seed=seed, progress=False
        )
        return net.state_dict()

    a, b, c = run(0), run(0), run(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_training_rejects_points_and_unknown_labels(faces):
    ring = load_dataset("ring", n=100)
    with pytest.raises(LatentkitError, match="needs images"):
        train_feature_net(ring, progress=False)
    with pytest.raises(LatentkitError, match="no label 'beard'"):
        train_feature_net(faces, ["beard"], progress=False)


# ---- save / load --------------------------------------------------------------------------------


def test_save_load_round_trip_gives_identical_outputs(trained, faces, tmp_path):
    net, report = trained
    save_feature_net(tmp_path / "fnet", net, report)
    doc = json.loads((tmp_path / "fnet" / "config.json").read_text())
    assert doc["format"] == "latentkit-feature-net"
    assert doc["architecture"] == {"channels": 3, "resolution": 32, "width": 16, "feature_dim": 32}
    assert doc["attributes"] == [{"name": "glasses", "kind": "binary", "classes": 0, "mean": 0.0, "std": 1.0}]

    loaded, loaded_report = load_feature_net(tmp_path / "fnet")
    assert loaded_report == json.loads(json.dumps(report))
    x = faces.batch(torch.arange(8))
    with torch.no_grad():
        assert torch.equal(loaded.features(x), net.features(x))
        for name, value in net.predict(x).items():
            assert torch.equal(loaded.predict(x)[name], value)


def test_attribute_specs_survive_the_round_trip(tmp_path):
    save_feature_net(tmp_path / "fnet", tiny_net())
    loaded, report = load_feature_net(tmp_path / "fnet")
    assert loaded.attributes == SPECS and report == {}
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded.predict(x)["smile"], tiny_net().predict(x)["smile"])


def test_corrupt_weights_are_a_user_error_naming_the_file(tmp_path):
    save_feature_net(tmp_path / "fnet", tiny_net())
    weights = tmp_path / "fnet" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(LatentkitError, match=r"weights\.safetensors: not a valid safetensors file"):
        load_feature_net(tmp_path / "fnet")


def test_mismatched_or_missing_files_are_user_errors(tmp_path):
    save_feature_net(tmp_path / "fnet", tiny_net())
    config = tmp_path / "fnet" / "config.json"
    doc = json.loads(config.read_text())

    config.write_text(json.dumps({**doc, "architecture": {**doc["architecture"], "width": 9}}))
    with pytest.raises(LatentkitError, match=r"weights\.safetensors: tensor 'body\.0\.weight' has shape"):
        load_feature_net(tmp_path / "fnet")

    config.write_text(json.dumps({**doc, "format": "latentkit-bundle"}))
    with pytest.raises(LatentkitError, match=r"config\.json: format is 'latentkit-bundle'"):
        load_feature_net(tmp_path / "fnet")

    config.write_text("{not json")
    with pytest.raises(LatentkitError, match=r"config\.json: invalid JSON"):
        load_feature_net(tmp_path / "fnet")

    with pytest.raises(LatentkitError, match=r"nowhere[/\\]config\.json: file not found"):
        load_feature_net(tmp_path / "nowhere")
