"""Animations: `export_animation` writes one signed, watermarked GIF/MP4; verify and reproduce check it."""

import hashlib
import io
import re

import numpy as np
import pytest
import torch
from PIL import Image

from latentkit.errors import LatentkitError
from latentkit.latent import keyframe_path, sample_latent
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
from latentkit.provenance import export_animation, reproduce_image, verify_image
from latentkit.provenance.animfile import MAX_FRAMES, frames_sha256, read_animation
from latentkit.provenance.manifest import decode_latents
from latentkit.provenance.watermark import detect_watermark

pytestmark = pytest.mark.usefixtures("home")  # one signing identity per module (conftest)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    return load_bundle(
        save_bundle(tmp_path_factory.mktemp("b") / "tiny", build_generator(cfg), cfg, name="tiny")
    )


@pytest.fixture(scope="module")
def path():
    """A 7-frame slerp path between seeds 3 and 7: (7, 16) float32."""
    return keyframe_path(np.stack([sample_latent(3, 16), sample_latent(7, 16)]), 6)[0]


@pytest.fixture(scope="module")
def gif(bundle, path, tmp_path_factory):
    record = {"method": "slerp", "keyframes": [{"seed": 3}, {"seed": 7}], "t": [[0, i / 6] for i in range(7)]}
    return export_animation(
        bundle, path, tmp_path_factory.mktemp("gif"), "walk.gif", fps=10, interpolation=record
    )


def test_gif_export_verifies_signature_every_frames_pixels_and_watermark(gif, path):
    report = verify_image(gif.path)
    assert report.verified, report.problems()
    assert report.format == "gif" and report.frames == 7 and (report.width, report.height) == (256, 256)
    assert report.c2pa.state == "trusted" and report.manifest_source == "c2pa"
    assert report.embedded_matches_signed is True  # the GIF comment carries the same manifest
    assert report.watermark.found and report.watermark.export_id == gif.export_id
    assert report.watermark_votes == (5, 5)
    m = report.manifest
    assert m["animation"]["frames"] == 7 and m["animation"]["fps"] == 10.0
    np.testing.assert_array_equal(decode_latents(m["animation"]["latents"]), path)
    assert m["output"]["format"] == "gif" and m["output"]["frames"] == 7


def test_every_gif_frame_keeps_all_watermark_bits_after_palette_quantisation(gif):
    frames = read_animation(gif.path).frames
    assert len(frames) == 7
    assert all(detect_watermark(f).export_id == gif.export_id for f in frames)


def test_a_tampered_gif_frame_fails_verification(gif, tmp_path):
    img = Image.open(gif.path)
    frames = []
    for i in range(img.n_frames):
        img.seek(i)
        frames.append(img.convert("RGB"))
    frames[3] = frames[3].copy()
    frames[3].putpixel((10, 10), (255, 0, 0))
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], comment=img.info["comment"])
    bad = tmp_path / "bad.gif"
    bad.write_bytes(buf.getvalue())
    report = verify_image(bad)
    assert not report.verified
    assert report.pixels == "mismatch" and report.c2pa.state == "absent"
    assert report.manifest_source == "gif-comment"
    assert "pixels differ from the recorded hash" in report.problems()


def test_an_edited_gif_comment_invalidates_the_signature(gif, tmp_path):
    data = gif.path.read_bytes()
    comment = data.index(b'"fps":10.0')  # the first copy: the comment extension, before the C2PA block
    bad = tmp_path / "edited.gif"
    bad.write_bytes(data[:comment] + b'"fps":90.0' + data[comment + 10 :])
    report = verify_image(bad)
    assert not report.verified and report.c2pa.state == "invalid"
    assert report.embedded_matches_signed is False


def test_reproduce_rerenders_an_animation_identically(gif, bundle, tmp_path):
    r = reproduce_image(gif.path, tmp_path / "again.gif", model=bundle.path)
    assert r.identical and verify_image(r.path).verified
    with pytest.raises(LatentkitError, match=r"give a \.gif name"):
        reproduce_image(gif.path, tmp_path / "again.png", model=bundle.path)


@pytest.mark.parametrize(
    ("zs", "name", "message"),
    [
        (np.zeros((0, 16), np.float32), "a.gif", "no frames"),
        (np.zeros((MAX_FRAMES + 1, 16), np.float32), "a.gif", "over the 600-frame limit"),
        (np.zeros((4, 8), np.float32), "a.gif", "the model needs (frames, 16)"),
        (np.zeros(16, np.float32), "a.gif", "the model needs (frames, 16)"),
        (np.full((2, 16), np.nan, np.float32), "a.gif", "NaN"),
        (np.zeros((2, 16), np.float32), "a.avi", "an animation is a .gif or .mp4 file"),
        (np.zeros((2, 16), np.float32), "../a.gif", "plain file name"),
    ],
)
def test_bad_animation_input_is_one_clear_line(bundle, tmp_path, zs, name, message):
    with pytest.raises(LatentkitError, match=re.escape(message)) as e:
        export_animation(bundle, zs, tmp_path, name)
    assert "\n" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_bad_fps_and_size_are_refused(bundle, path, tmp_path):
    with pytest.raises(LatentkitError, match="fps 0"):
        export_animation(bundle, path, tmp_path, "a.gif", fps=0)
    with pytest.raises(LatentkitError, match="size 4096"):
        export_animation(bundle, path, tmp_path, "a.gif", size=4096)


def test_frames_hash_is_that_of_the_stacked_array():
    frames = [np.full((2, 3, 3), i, np.uint8) for i in range(4)]
    assert frames_sha256(frames) == hashlib.sha256(np.stack(frames).tobytes()).hexdigest()


def test_mp4_export_verifies_and_reproduces(bundle, path, tmp_path):
    pytest.importorskip("imageio_ffmpeg")
    result = export_animation(bundle, path, tmp_path, "walk.mp4", fps=12, size=128)
    report = verify_image(result.path)
    assert report.verified, report.problems()
    assert report.format == "mp4" and report.frames == 7 and report.width == 128
    assert report.watermark.export_id == result.export_id
    assert report.manifest["output"]["pixels_sha256"] == frames_sha256(read_animation(result.path).frames)
    again = reproduce_image(result.path, tmp_path / "again.mp4", model=bundle.path)
    assert again.identical


def test_a_foreign_gif_reports_what_is_missing_and_a_truncated_one_is_one_line(gif, tmp_path):
    foreign = tmp_path / "foreign.gif"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(foreign, comment=b"made elsewhere")
    report = verify_image(foreign)
    assert report.manifest is None and report.frames == 1 and not report.watermark.found
    assert report.problems()[:2] == ["no latentkit manifest", "no C2PA signature"]
    cut = tmp_path / "cut.gif"
    cut.write_bytes(gif.path.read_bytes()[:5000])
    with pytest.raises(LatentkitError, match="truncated or corrupt GIF") as e:
        verify_image(cut)
    assert "\n" not in str(e.value)
