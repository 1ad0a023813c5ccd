"""BCH(127, 64) error-correcting code: 64 data bits in 127, any 10 bit errors corrected.

A binary primitive narrow-sense BCH code (Bose, Ray-Chaudhuri, Hocquenghem 1960) over GF(2^7) with
primitive polynomial x^7 + x^3 + 1; its generator is the product of the minimal polynomials of
alpha^1 .. alpha^20 (degree 63), so the designed distance is 21. Encoding is systematic (the data are
the top 64 coefficients); decoding is syndromes -> Berlekamp-Massey -> Chien search (Lin & Costello,
"Error Control Coding", ch. 6). Bit i of a codeword is the coefficient of x^i.

`decode` may be told to correct fewer errors than the code can (`max_errors`): a random 127-bit word
then decodes with probability 2^64 * V(127, max_errors) / 2^127 (V: Hamming-ball volume), which is
how the watermark's false-positive rate is set (`random_word_decodes`).
"""

from __future__ import annotations

import functools
from math import comb

import numpy as np

N, K, T = 127, 64, 10
_M, _PRIM = 7, 0b1000_1001  # GF(2^7), x^7 + x^3 + 1


@functools.lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """(exp (2N,), log (N+1,)) int64 tables of GF(2^7): exp[i] = alpha^i, log[alpha^i] = i."""
    exp = np.zeros(2 * N, np.int64)
    log = np.zeros(N + 1, np.int64)
    x = 1
    for i in range(N):
        exp[i], log[x] = x, i
        x <<= 1
        if x & (1 << _M):
            x ^= _PRIM
    exp[N:] = exp[:N]
    return exp, log


def _gf_mul(a: int, b: int) -> int:
    if a == 0 or b == 0:
        return 0
    exp, log = _tables()
    return int(exp[log[a] + log[b]])


def _gf_inv(a: int) -> int:
    exp, log = _tables()
    return int(exp[(N - log[a]) % N])


def _clmul(a: int, b: int) -> int:
    """Product of two GF(2) polynomials held as ints (bit i = coefficient of x^i)."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        a, b = a << 1, b >> 1
    return out


def _clmod(a: int, m: int) -> int:
    """Remainder of GF(2) polynomial a modulo m."""
    dm = m.bit_length()
    while a.bit_length() >= dm:
        a ^= m << (a.bit_length() - dm)
    return a


@functools.lru_cache(maxsize=1)
def generator() -> int:
    """The generator polynomial g(x) (degree N - K = 63) as an int."""
    g, done = 1, set()
    for i in range(1, 2 * T + 1):
        coset = {(i * 2**j) % N for j in range(_M)}
        if min(coset) in done:
            continue
        done.add(min(coset))
        poly = [1]  # minimal polynomial of alpha^i over GF(2^7), lowest coefficient first
        exp, _ = _tables()
        for j in coset:
            root = int(exp[j])
            poly = [
                (_gf_mul(c, root) if k < len(poly) else 0) ^ (poly[k - 1] if k else 0)
                for k, c in enumerate([*poly, 0])
            ]
        g = _clmul(g, sum(int(c) << k for k, c in enumerate(poly)))  # coefficients are 0 or 1
    assert g.bit_length() - 1 == N - K
    return g


def encode(data: np.ndarray) -> np.ndarray:
    """(64,) bits {0,1} -> (127,) uint8 codeword; data[i] is the coefficient of x^(63 + i)."""
    data = np.asarray(data, np.uint8)
    if data.shape != (K,):
        raise ValueError(f"BCH(127, 64) encodes 64 bits, got shape {data.shape}")
    shifted = int.from_bytes(np.packbits(data, bitorder="little").tobytes(), "little") << (N - K)
    word = shifted | _clmod(shifted, generator())
    return _bits(word)


def decode(word: np.ndarray, max_errors: int = T) -> tuple[np.ndarray, int] | None:
    """(127,) received bits -> (the 64 data bits, bit errors corrected), or None.

    None when more than `max_errors` (<= 10) bits would have to change: the word is then not within
    that distance of any codeword (or the errors exceed what the code can correct).
    """
    word = np.asarray(word, np.uint8)
    exp, log = _tables()
    positions = np.flatnonzero(word)
    syndromes = [
        int(np.bitwise_xor.reduce(exp[(positions * j) % N])) if len(positions) else 0
        for j in range(1, 2 * T + 1)
    ]
    if not any(syndromes):
        return word[N - K :].copy(), 0
    locator = _berlekamp_massey(syndromes)
    errors = len(locator) - 1
    if errors > min(max_errors, T):
        return None
    # Chien search: position i is in error when locator(alpha^-i) == 0.
    i = np.arange(N)
    value = np.zeros(N, np.int64)
    for j, c in enumerate(locator):
        if c:
            value ^= exp[(log[c] - i * j) % N]
    where = np.flatnonzero(value == 0)
    if len(where) != errors:
        return None
    fixed = word.copy()
    fixed[where] ^= 1
    return fixed[N - K :], errors


def _berlekamp_massey(s: list[int]) -> list[int]:
    """Error-locator polynomial (lowest coefficient first, trailing zeros stripped) of syndromes s."""
    c, b = [1], [1]
    length, shift, last = 0, 1, 1
    for n, sn in enumerate(s):
        d = sn
        for i in range(1, length + 1):
            if i < len(c):
                d ^= _gf_mul(c[i], s[n - i])
        if d == 0:
            shift += 1
            continue
        coef = _gf_mul(d, _gf_inv(last))
        new = c + [0] * max(0, len(b) + shift - len(c))
        for i, bi in enumerate(b):
            new[i + shift] ^= _gf_mul(coef, bi)
        if 2 * length <= n:
            b, c, length, last, shift = c, new, n + 1 - length, d, 1
        else:
            c, shift = new, shift + 1
    while len(c) > 1 and c[-1] == 0:
        c.pop()
    return c


def random_word_decodes(max_errors: int) -> float:
    """Probability that a uniformly random 127-bit word decodes with at most `max_errors` corrections.

    = 2^K * sum_{i <= max_errors} C(N, i) / 2^N: the Hamming balls around the 2^64 codewords are
    disjoint for max_errors <= 10, so this is exact.
    """
    return 2.0**K * sum(comb(N, i) for i in range(max_errors + 1)) / 2.0**N


def _bits(word: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(word.to_bytes(16, "little"), np.uint8), bitorder="little")[:N]
