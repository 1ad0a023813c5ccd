"""Scheme "latentkit-iss/1" (exports before issue 21): 48 bits in the luma, read but no longer written
by default (`watermark.py` picks the scheme from the export id's width: 6 hex digits mean /1).

The scheme: improved spread spectrum (Malvar & Florencio 2003, IEEE TSP 51(4)).
Each payload bit b has a fixed pseudo-random pattern p_b on a 256x256 grid, band-limited to 32-64
cycles per image side: above the detail a bicubic upscale from 64 px creates (little host
interference), below what a 50% downscale or JPEG q75 removes. The embedder adds a luma pattern
w = sum_b a_b p_b whose coefficients a = G^-1 (alpha s - P y) make each correlation <y + w, p_b>
exactly alpha * s_b (s_b = +-1, G = P P^T): the host's own correlation is cancelled instead of being
noise, which is what lets alpha stay small (PSNR ~42 dB). The detector resizes to 256x256,
correlates, and takes signs; 16 unused "decoy" patterns measure the noise floor for the confidence.

Payload: 16-bit tag 0x4C4B ("LK") + 24-bit export id + CRC-8 of those 40 bits. An image counts as
watermarked only when the tag and CRC both match, so a random image passes with probability 2^-24.

Other export sizes embed the 256 grid's pattern resized to the image, and detection resizes back.
A crop without rescaling is found by searching all shifts (FFT correlation), used only for images
smaller than the grid. New exports under SMALL_MAX px (64 px previews up to 128 px), whose Nyquist
limit lies below that band or too close to it to outlive JPEG, carry the same payload on a second
carrier: a 64 px grid with the band at the same fraction of it (8-16 cycles per side) and the
correlation target scaled with the grid side (the same target energy per pixel; cancelling the
host's stronger low-frequency correlation costs more, PSNR ~35 dB); their manifest records
"carrier": "small" (older exports are all "main", so `reproduce` re-renders them unchanged), and the
detector tries it after the main one. The patterns come from a public seed: anyone can
read, and with effort remove or forge, the mark; it is a label that survives stripping, not a
security feature.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from PIL import Image

SCHEME = "latentkit-iss/1"
N_BITS = 48
N_DECOYS = 16


@dataclass(frozen=True)
class Carrier:
    """Where the patterns live: a `grid` x `grid` image, radial `band` in cycles per side, and the
    target correlation `alpha` per bit (patterns have unit norm; grey levels)."""

    grid: int
    band: tuple[float, float]
    alpha: float
    seed: int


PATTERN_SEED = 0x1A7E_4E7C_17  # public: the mark is a label, not a secret
MAIN = Carrier(256, (32.0, 64.0), 74.0, PATTERN_SEED)
SMALL = Carrier(64, (8.0, 16.0), 74.0 * 64 / 256, PATTERN_SEED + 1)  # same energy per pixel
SMALL_MAX = 160  # new exports with a side under this carry SMALL (and /1: watermark.ISS2_MIN_SIZE)
CARRIERS = {"main": MAIN, "small": SMALL}
GRID, BAND, ALPHA = MAIN.grid, MAIN.band, MAIN.alpha
TAG = 0x4C4B
LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def payload_bits(export_id: str) -> np.ndarray:
    """(48,) uint8 bits: tag, export id, CRC-8 — most significant bit first."""
    ident = int(export_id, 16)
    if len(export_id) != 6 or not 0 <= ident < 2**24:
        raise ValueError(f"export id must be 6 hex digits, got {export_id!r}")
    head = TAG.to_bytes(2, "big") + ident.to_bytes(3, "big")
    return np.unpackbits(np.frombuffer(head + bytes([crc8(head)]), np.uint8))


def read_payload(bits: np.ndarray) -> str | None:
    """The export id in 48 decoded bits, or None when the tag or CRC does not match."""
    data = np.packbits(bits.astype(np.uint8)).tobytes()
    if int.from_bytes(data[:2], "big") != TAG or crc8(data[:5]) != data[5]:
        return None
    return data[2:5].hex()


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial x^8 + x^2 + x + 1 (0x07), initial value 0."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def carrier_for(size: int) -> str:
    """The carrier a new `size` px export gets: "small" under SMALL_MAX px, else "main"."""
    return "small" if size < SMALL_MAX else "main"


def embed(pixels: np.ndarray, export_id: str, carrier: str | None = None) -> np.ndarray:
    """Return a watermarked copy of (H, W, 3) uint8 RGB pixels carrying `export_id` (6 hex digits).

    `carrier`: "main" or "small" (default `carrier_for` the image's smaller side); exports record
    it, so a re-render of an older export (all "main") gets the same pixels. The same luma change is
    added to R, G and B, so hue is untouched.
    """
    h, w = pixels.shape[:2]
    carrier = carrier or carrier_for(min(h, w))
    if carrier not in CARRIERS:
        raise ValueError(f"watermark carrier {carrier!r}: main or small")
    c = CARRIERS[carrier]
    img = pixels.astype(np.float32)
    y = _to_grid(img @ LUMA, c.grid)
    p = _patterns(c)[:N_BITS]
    s = payload_bits(export_id).astype(np.float32) * 2 - 1
    a = _gram_inverse(c) @ (c.alpha * s - p @ y.reshape(-1))
    mark = (a.astype(np.float32) @ p).reshape(c.grid, c.grid)
    if (h, w) != (c.grid, c.grid):
        mark = np.asarray(Image.fromarray(mark).resize((w, h), Image.BICUBIC))
    return np.clip(np.rint(img + mark[..., None]), 0, 255).astype(np.uint8)


def detect(y: np.ndarray, shift_search: bool = True) -> Reading:
    """Read (H, W) float32 luma at the main grid, then the small one (and, for an image smaller than
    the main grid, at every shift)."""
    result = _decode(_patterns(MAIN) @ _to_grid(y, GRID).reshape(-1), "direct")
    if result.export_id:
        return result
    small = _decode(_patterns(SMALL) @ _to_grid(y, SMALL.grid).reshape(-1), "direct, small carrier")
    if small.export_id:
        return small
    if not shift_search or max(y.shape) > GRID or y.shape == (GRID, GRID):
        return result
    shifted = _decode(_shift_search(y), "shift search")
    return shifted if shifted.export_id or shifted.confidence > result.confidence else result


@dataclass
class Reading:
    """What the /1 detector read: the export id (None unless tag and CRC match), confidence, bits."""

    export_id: str | None
    confidence: float
    bits: np.ndarray
    method: str


def _decode(corr: np.ndarray, method: str) -> Reading:
    """(N_BITS + N_DECOYS,) correlations -> reading."""
    bits = (corr[:N_BITS] > 0).astype(np.uint8)
    noise = float(np.sqrt(np.mean(corr[N_BITS:] ** 2))) + 1e-6
    confidence = float(np.mean(np.abs(corr[:N_BITS]))) / noise
    return Reading(read_payload(bits), confidence, bits, method)


def _to_grid(y: np.ndarray, grid: int) -> np.ndarray:
    """(H, W) float32 luma -> (grid, grid), bicubic."""
    if y.shape == (grid, grid):
        return y
    return np.asarray(Image.fromarray(y).resize((grid, grid), Image.BICUBIC))


def _shift_search(y: np.ndarray) -> np.ndarray:
    """Correlations at the best cyclic shift of a smaller-than-grid (cropped) luma image.

    The crop is placed at the grid's corner; the shift that maximises the payload's total
    correlation energy is where it was cut from.
    """
    canvas = np.zeros((GRID, GRID), np.float32)
    canvas[: y.shape[0], : y.shape[1]] = y - y.mean()
    spec = np.conj(np.fft.rfft2(canvas))
    corr = np.fft.irfft2(spec[None] * _pattern_spectra(), s=(GRID, GRID))  # (K, GRID, GRID)
    energy = (corr[:N_BITS] ** 2).sum(0)
    dy, dx = np.unravel_index(int(np.argmax(energy)), energy.shape)
    return corr[:, dy, dx]


@functools.lru_cache(maxsize=2)
def _patterns(c: Carrier = MAIN) -> np.ndarray:
    """(N_BITS + N_DECOYS, grid*grid) float32 unit-norm band-limited patterns of carrier `c`.

    Built from raw PCG64 output (a stream numpy keeps stable across versions) as +-1 noise,
    band-passed with an FFT mask.
    """
    k, g = N_BITS + N_DECOYS, c.grid
    raw = np.random.PCG64(c.seed).random_raw(k * g * g // 64)
    signs = np.unpackbits(raw.astype("<u8").view(np.uint8)).astype(np.float32) * 2 - 1
    f = np.fft.fftfreq(g) * g
    radius = np.hypot(f[:, None], f[None, : g // 2 + 1])
    mask = (radius >= c.band[0]) & (radius <= c.band[1])
    p = np.fft.irfft2(np.fft.rfft2(signs.reshape(k, g, g)) * mask, s=(g, g))
    p = p.reshape(k, -1)
    return (p / np.linalg.norm(p, axis=1, keepdims=True)).astype(np.float32)


@functools.lru_cache(maxsize=2)
def _gram_inverse(c: Carrier = MAIN) -> np.ndarray:
    """(N_BITS, N_BITS) inverse Gram matrix of the payload patterns (they are nearly orthogonal)."""
    p = _patterns(c)[:N_BITS].astype(np.float64)
    return np.linalg.inv(p @ p.T)


@functools.lru_cache(maxsize=1)
def _pattern_spectra() -> np.ndarray:
    """rfft2 of every pattern, (K, GRID, GRID//2 + 1) complex64, for the shift search."""
    return np.fft.rfft2(_patterns().reshape(-1, GRID, GRID)).astype(np.complex64)
