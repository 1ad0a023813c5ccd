"""The invisible watermark on its own: payload coding, invisibility, robustness, no false positives."""

import io

import numpy as np
import pytest
from PIL import Image

from latentkit.data.faces import render_faces
from latentkit.provenance.watermark import (
    N_BITS,
    crc8,
    detect_watermark,
    embed_watermark,
    payload_bits,
    read_payload,
)


@pytest.fixture(scope="module")
def faces():
    """Twelve procedural faces at 64 px, bicubic-upscaled to the 256 px export size."""
    images, _ = render_faces(12, 64, seed=11, workers=1)
    return [np.asarray(Image.fromarray(f).resize((256, 256), Image.BICUBIC)) for f in images]


def test_payload_is_tag_id_crc_and_round_trips():
    bits = payload_bits("3fa2c1")
    assert bits.shape == (N_BITS,) and bits.dtype == np.uint8
    assert np.packbits(bits).tobytes()[:5] == bytes.fromhex("4c4b3fa2c1")
    assert read_payload(bits) == "3fa2c1"
    flipped = bits.copy()
    flipped[30] ^= 1
    assert read_payload(flipped) is None  # CRC catches a single bit error
    assert crc8(b"123456789") == 0xF4  # the CRC-8/SMBUS check value


def test_embedding_is_invisible_and_read_back_exactly(faces):
    for i, face in enumerate(faces):
        export_id = f"{i:06x}"
        marked = embed_watermark(face, export_id)
        psnr = 10 * np.log10(255**2 / np.mean((marked.astype(float) - face) ** 2))
        assert psnr >= 40
        result = detect_watermark(marked)
        assert result.found and result.export_id == export_id and result.confidence > 4


def test_watermark_survives_jpeg_q50_and_brightness(faces):
    for i, face in enumerate(faces[:6]):
        marked = Image.fromarray(embed_watermark(face, f"a{i:05x}"))
        buf = io.BytesIO()
        marked.save(buf, "JPEG", quality=50)
        assert detect_watermark(np.asarray(Image.open(buf))).export_id == f"a{i:05x}"
        brighter = np.clip(np.asarray(marked).astype(np.float32) * 1.2, 0, 255).astype(np.uint8)
        assert detect_watermark(brighter).export_id == f"a{i:05x}"


def test_other_export_sizes_carry_the_same_mark(faces):
    for size in (128, 512):
        face = np.asarray(Image.fromarray(faces[0]).resize((size, size), Image.BICUBIC))
        assert detect_watermark(embed_watermark(face, "c0ffee")).export_id == "c0ffee"


def test_unwatermarked_images_are_not_found(faces):
    rng = np.random.default_rng(0)
    others = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8), np.full((256, 256, 3), 128, np.uint8)]
    others.append(np.asarray(Image.fromarray(faces[0]).crop((0, 0, 200, 230))))  # takes the shift search
    for image in [*faces, *others]:
        result = detect_watermark(image)
        assert not result.found and result.export_id is None
        assert result.confidence < 2
