"""Checkpoints: exact resume, pruning, corruption detection, and survival of `kill -9` mid-write."""

import contextlib
import json
import logging
import os
import random
import select
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

from latentkit.errors import LatentkitError
from latentkit.train.checkpoint import (
    apply_rng,
    capture_rng,
    checkpoint_name,
    checkpoint_step,
    list_checkpoints,
    load_checkpoint,
    load_latest_valid,
    restore,
    save_checkpoint,
)

REPO = Path(__file__).resolve().parents[1]


def _model() -> torch.nn.Module:
    # BatchNorm has buffers (incl. int64 num_batches_tracked); Dropout draws from the global torch RNG.
    return torch.nn.Sequential(
        torch.nn.Linear(4, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.ReLU(),
        torch.nn.Dropout(0.3),
        torch.nn.Linear(8, 1),
    )


def _train(model: torch.nn.Module, opt: torch.optim.Optimizer, steps: int, data_gen: torch.Generator) -> None:
    """`steps` Adam steps on batches drawn from `data_gen` (so the data order is part of the RNG state)."""
    model.train()
    for _ in range(steps):
        x = torch.randn(16, 4, generator=data_gen)
        loss = (model(x) - x.sum(1, keepdim=True)).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _checkpoint_at_step_3(folder: Path):
    """Train 3 steps from seed 0 and save; return (model, optimizer, data generator) to continue with."""
    torch.manual_seed(0)
    model, data_gen = _model(), torch.Generator().manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.99))
    _train(model, opt, 3, data_gen)
    save_checkpoint(folder, 3, {"model": model}, {"adam": opt}, capture_rng({"data": data_gen}))
    return model, opt, data_gen


def _fresh_restored(folder: Path):
    """A differently initialised model + optimizer + generator, restored from the newest checkpoint."""
    torch.manual_seed(123)
    model, data_gen = _model(), torch.Generator().manual_seed(999)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.5, 0.99))
    state = restore(load_latest_valid(folder), {"model": model}, {"adam": opt})
    apply_rng(state, {"data": data_gen})
    return model, opt, data_gen


def test_resumed_training_is_bit_identical_to_uninterrupted(tmp_path):
    model, opt, data_gen = _checkpoint_at_step_3(tmp_path)
    _train(model, opt, 3, data_gen)  # uninterrupted run; done first because both runs use the global RNG
    model2, opt2, data_gen2 = _fresh_restored(tmp_path)
    _train(model2, opt2, 3, data_gen2)
    _assert_same_state(model.state_dict(), model2.state_dict())
    assert model[1].num_batches_tracked.item() == 6


def test_restore_gives_back_identical_optimizer_state(tmp_path):
    _, opt, _ = _checkpoint_at_step_3(tmp_path)
    _, opt2, _ = _fresh_restored(tmp_path)
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd2["param_groups"] == sd["param_groups"]
    assert sd2["param_groups"][0]["betas"] == (0.5, 0.99)  # a tuple again, not a JSON list
    assert sd2["state"].keys() == sd["state"].keys()
    for idx in sd["state"]:
        _assert_same_state(sd["state"][idx], sd2["state"][idx])
    assert sd2["state"][0]["step"].item() == 3.0


def test_rng_states_and_user_state_round_trip_through_a_file(tmp_path):
    gen = torch.Generator().manual_seed(5)
    np_rngs = {"pcg": np.random.default_rng(6), "mt": np.random.Generator(np.random.MT19937(7))}
    state = capture_rng({"g": gen}, np_rngs)
    state["tensors"]["ema_decay"] = torch.tensor([0.5, 0.25])
    state.update(epoch=4, losses=[1.5, 0.1 + 0.2], best={"fid": 12.25})
    save_checkpoint(tmp_path, 1, {}, {}, state)

    def draws():
        return (
            torch.randn(3),
            torch.randn(3, generator=gen),
            np.random.rand(3),
            np_rngs["pcg"].random(3),
            np_rngs["mt"].normal(size=3),
            random.random(),
        )

    first = draws()
    back = restore(load_checkpoint(tmp_path / "step-00000001.safetensors"), {}, {})
    apply_rng(back, {"g": gen}, np_rngs)
    second = draws()
    for a, b in zip(first, second, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert back["epoch"] == 4 and back["losses"] == [1.5, 0.1 + 0.2] and back["best"] == {"fid": 12.25}
    assert torch.equal(back["tensors"]["ema_decay"], torch.tensor([0.5, 0.25]))


def test_non_tensor_optimizer_state_round_trips_through_json(tmp_path):
    layer = torch.nn.Linear(2, 2)
    opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    layer(torch.ones(1, 2)).sum().backward()
    opt.step()
    opt.state[layer.bias]["n_iter"] = 7  # some optimizers (LBFGS) keep plain ints next to tensors
    save_checkpoint(tmp_path, 1, {}, {"sgd": opt}, {})
    opt2 = torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.5, momentum=0.0)
    restore(load_checkpoint(tmp_path / "step-00000001.safetensors"), {}, {"sgd": opt2})
    sd2 = opt2.state_dict()
    assert sd2["param_groups"] == opt.state_dict()["param_groups"]
    assert sd2["state"][1]["n_iter"] == 7
    assert torch.equal(sd2["state"][1]["momentum_buffer"], opt.state[layer.bias]["momentum_buffer"])


def test_tied_weights_are_saved_despite_shared_storage(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(3, 3, bias=False), torch.nn.Linear(3, 3, bias=False))
    model[1].weight = model[0].weight  # safetensors refuses shared storage unless we copy
    save_checkpoint(tmp_path, 1, {"tied": model}, {}, {})
    fresh = torch.nn.Sequential(torch.nn.Linear(3, 3, bias=False), torch.nn.Linear(3, 3, bias=False))
    restore(load_checkpoint(tmp_path / "step-00000001.safetensors"), {"tied": fresh}, {})
    assert torch.equal(fresh[0].weight, model[0].weight) and torch.equal(fresh[1].weight, model[0].weight)


def test_a_view_of_a_larger_tensor_is_saved_as_its_own_values(tmp_path):
    base = torch.arange(12.0)
    save_checkpoint(tmp_path, 1, {}, {}, {"tensors": {"head": base[:4], "tail": base[8:]}})
    back = restore(load_checkpoint(tmp_path / "step-00000001.safetensors"), {}, {})
    assert torch.equal(back["tensors"]["head"], base[:4]) and torch.equal(back["tensors"]["tail"], base[8:])


def test_storable_shares_memory_with_plain_cpu_tensors_and_copies_the_rest():
    from latentkit.train.checkpoint import _storable

    plain, base = torch.randn(3, 4), torch.randn(8)
    out = _storable({"plain": plain, "again": plain, "view": base[2:5], "transposed": plain.t()})
    assert out["plain"].data_ptr() == plain.data_ptr()  # no second copy of the training state
    ptrs = [t.untyped_storage().data_ptr() for t in out.values()]
    assert len(set(ptrs)) == 4 and all(t.is_contiguous() for t in out.values())
    assert torch.equal(out["again"], plain) and torch.equal(out["view"], base[2:5])


def test_write_safetensors_returns_the_written_files_sha256(tmp_path):
    import hashlib

    import safetensors.torch

    from latentkit.io import write_safetensors

    tensors = {"a": torch.randn(5, 7), "b": torch.arange(3)}
    digest = write_safetensors(tmp_path / "t.safetensors", tensors, metadata={"k": "v"})
    assert digest == hashlib.sha256((tmp_path / "t.safetensors").read_bytes()).hexdigest()
    back = safetensors.torch.load_file(tmp_path / "t.safetensors")
    assert all(torch.equal(back[k], tensors[k]) for k in tensors)
    assert [p.name for p in tmp_path.iterdir()] == ["t.safetensors"]
    umask = os.umask(0)
    os.umask(umask)  # what a plain open() gives a new file (safetensors alone would leave 0600)
    assert (tmp_path / "t.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask


def test_restore_into_a_different_architecture_names_file_and_module(tmp_path):
    path = save_checkpoint(tmp_path, 1, {"G": torch.nn.Linear(2, 3)}, {}, {})
    with pytest.raises(LatentkitError, match=r"step-00000001\.safetensors: module 'G' does not match"):
        restore(load_checkpoint(path), {"G": torch.nn.Linear(2, 4)}, {})
    with pytest.raises(LatentkitError, match="no module 'D'"):
        restore(load_checkpoint(path), {"D": torch.nn.Linear(2, 3)}, {})


def test_checkpoint_name_is_what_checkpoint_step_reads_back(tmp_path):
    assert checkpoint_name(1234) == "step-00001234.safetensors"
    assert [checkpoint_step(checkpoint_name(n)) for n in (0, 1234, 123_456_789)] == [0, 1234, 123_456_789]
    assert save_checkpoint(tmp_path, 7, {}, {}, {}).name == checkpoint_name(7)


def test_keep_prunes_to_newest_files_listed_newest_first(tmp_path):
    layer = torch.nn.Linear(2, 2)
    for step in (1, 2, 3, 4, 5):
        save_checkpoint(tmp_path, step, {"m": layer}, {}, {}, keep=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == [
        "step-00000005.safetensors",
        "step-00000004.safetensors",
    ]
    # Resuming from an older step: the file just written is never pruned, even if it is not the newest.
    save_checkpoint(tmp_path, 3, {"m": layer}, {}, {}, keep=2)
    assert [p.name[5:13] for p in list_checkpoints(tmp_path)] == ["00000005", "00000004", "00000003"]
    assert list_checkpoints(tmp_path / "missing") == []


def test_steps_are_ordered_numerically_beyond_eight_digits(tmp_path):
    for step in (99_999_999, 100_000_000, 7):
        save_checkpoint(tmp_path, step, {}, {}, {}, keep=10)
    assert [load_checkpoint(p).step for p in list_checkpoints(tmp_path)] == [100_000_000, 99_999_999, 7]


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_data_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    (header_len,) = struct.unpack("<Q", data[:8])
    data[8 + header_len + 100] ^= 0x01  # one bit inside the tensor bytes; the header stays consistent
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_truncate, _flip_data_byte], ids=["truncated", "bit_flipped"])
def test_damaged_newest_checkpoint_is_reported_and_previous_is_used(tmp_path, damage):
    layer = torch.nn.Linear(16, 16)
    save_checkpoint(tmp_path, 1, {"m": layer}, {}, {"note": "good"})
    newest = save_checkpoint(tmp_path, 2, {"m": layer}, {}, {"note": "damaged"})
    damage(newest)
    with pytest.raises(LatentkitError, match=r"step-00000002\.safetensors"):
        load_checkpoint(newest)
    messages = []
    ckpt = load_latest_valid(tmp_path, log=messages.append)
    assert ckpt.step == 1 and ckpt.meta["state"] == {"note": "good"}
    assert len(messages) == 1 and "step-00000002.safetensors" in messages[0] and "\n" not in messages[0]


def test_bit_flip_message_says_checksum_and_logger_receives_warning(tmp_path, caplog):
    save_checkpoint(tmp_path, 1, {"m": torch.nn.Linear(16, 16)}, {}, {})
    _flip_data_byte(save_checkpoint(tmp_path, 2, {"m": torch.nn.Linear(16, 16)}, {}, {}))
    with caplog.at_level(logging.WARNING):
        assert load_latest_valid(tmp_path, log=logging.getLogger("latentkit.test")).step == 1
    assert "step-00000002.safetensors: checksum mismatch" in caplog.text


def test_edited_metadata_fails_the_checksum_like_edited_tensors(tmp_path):
    model = _model()
    opt = torch.optim.Adam(model.parameters(), lr=0.0002)
    path = save_checkpoint(tmp_path, 1, {"m": model}, {"m": opt}, {"elapsed": 1.0})
    data = path.read_bytes()
    assert data.count(b"0.0002") == 1
    path.write_bytes(data.replace(b"0.0002", b"0.0009"))  # same length: the header stays well-formed
    with pytest.raises(LatentkitError, match="checksum mismatch"):
        load_checkpoint(path)


def test_a_version_1_checkpoint_whose_digest_covers_tensors_only_still_loads(tmp_path):
    from latentkit.train import checkpoint as ck

    model = _model()
    path = save_checkpoint(tmp_path, 1, {"m": model}, {}, {})
    tensors = safetensors.torch.load(path.read_bytes())
    meta = load_checkpoint(path).meta
    old = {**meta, "version": 1, "sha256": ck._digest(tensors)}
    path.write_bytes(safetensors.torch.save(tensors, metadata={"latentkit": json.dumps(old)}))
    assert load_checkpoint(path).step == 1


def test_bundle_of_a_checkpoint_claiming_a_huge_model_is_refused_before_allocating(tmp_path, monkeypatch):
    from latentkit.models import DCGANConfig, build_generator
    from latentkit.train.snapshot import checkpoint_generator

    cfg = DCGANConfig(resolution=32, ngf=4, ndf=4, latent_dim=8)
    G = build_generator(cfg)
    state = {"model": {**cfg.to_dict(), "ngf": 8192}}
    ckpt = load_checkpoint(save_checkpoint(tmp_path, 1, {"G": G, "G_ema": G}, {}, state))
    real_init = torch.nn.ConvTranspose2d.__init__

    def no_real_allocation(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        assert self.weight.device.type == "meta", "a huge layer was allocated"

    monkeypatch.setattr(torch.nn.ConvTranspose2d, "__init__", no_real_allocation)
    with pytest.raises(LatentkitError, match="has shape"):
        checkpoint_generator(ckpt)


def test_load_latest_valid_is_none_without_checkpoints(tmp_path):
    assert load_latest_valid(tmp_path) is None
    assert load_latest_valid(tmp_path / "never-created") is None


def test_plain_safetensors_file_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "step-00000001.safetensors"
    safetensors.torch.save_file({"w": torch.zeros(2)}, path)
    with pytest.raises(LatentkitError, match="not a latentkit checkpoint"):
        load_checkpoint(path)


def test_file_is_safetensors_with_json_header_not_pickle(tmp_path):
    _, _, _ = _checkpoint_at_step_3(tmp_path)
    data = (tmp_path / "step-00000003.safetensors").read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])  # raises if the header is not JSON
    meta = json.loads(header.pop("__metadata__")["latentkit"])
    assert meta["format"] == "latentkit-checkpoint" and meta["version"] == 2 and meta["step"] == 3
    assert len(meta["sha256"]) == 64
    assert "module.model.1.running_mean" in header and "optim.adam.state.0.exp_avg" in header
    assert "state.rng.torch" in header and "state.rng.gen.data" in header
    assert all(set(entry) == {"dtype", "shape", "data_offsets"} for entry in header.values())
    assert max(e["data_offsets"][1] for e in header.values()) == len(data) - 8 - header_len


# The writer child imports torch once (seconds), then forks one writer per line on stdin, so five kills
# fit in a few seconds. Each writer saves a 3 MB model whose weights all equal the step, for steps
# newest+1, newest+2, ... until it is killed. A "crash" writer saves once, then SIGKILLs itself inside
# the fsync of its second save: the worst moment, the new bytes are on disk but not yet renamed.
_WRITER_SERVER = r"""
import os, signal, sys
import torch
from latentkit.train.checkpoint import list_checkpoints, save_checkpoint

torch.set_num_threads(1)
folder = sys.argv[1]
model = torch.nn.Linear(1024, 768)
for line in sys.stdin:
    newest = list_checkpoints(folder)
    first = int(newest[0].name.split("-")[1].split(".")[0]) + 1 if newest else 1
    crash = line.strip() == "crash"
    pid = os.fork()
    if pid == 0:
        try:
            for step in range(first, first + (2 if crash else 1000)):  # bounded if nobody kills us
                with torch.no_grad():
                    model.weight.fill_(step)
                    model.bias.fill_(step)
                save_checkpoint(folder, step, {"model": model}, {}, {"step": step}, keep=2)
                print(f"saved {step}", flush=True)
                if crash:
                    os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)
        finally:
            os._exit(0)
    print(f"writer {pid}", flush=True)
    _, status = os.waitpid(pid, 0)
    print(f"exited {os.waitstatus_to_exitcode(status)}", flush=True)
"""


class _Lines:
    """Lines read from a pipe with a timeout (a hung child fails the test instead of hanging it)."""

    def __init__(self, pipe):
        self.fd, self.buf, self.lines = pipe.fileno(), b"", []

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            for i, line in enumerate(self.lines):
                if line.startswith(prefix):
                    del self.lines[: i + 1]
                    return line
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"child printed no {prefix!r} line within {timeout} s"
            if select.select([self.fd], [], [], remaining)[0]:
                chunk = os.read(self.fd, 4096)
                assert chunk, f"child exited before printing {prefix!r}"
                self.buf += chunk
                *done, self.buf = self.buf.split(b"\n")
                self.lines += [d.decode() for d in done]


def _assert_every_checkpoint_is_whole(folder: Path, context: str) -> Path:
    """Every checkpoint file loads, verifies and holds its own step; load_latest_valid trusts the newest."""
    paths = list_checkpoints(folder)
    assert paths, f"no checkpoint survived ({context})"
    for path in paths:
        ckpt = load_checkpoint(path)
        assert torch.all(ckpt.tensors["module.model.weight"] == ckpt.step), (path, context)
    messages = []
    assert load_latest_valid(folder, log=messages.append).path == paths[0] and messages == [], context
    return paths[0]


def test_kill_9_during_writes_leaves_only_valid_checkpoints(tmp_path):
    folder = tmp_path / "ckpt"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    server = subprocess.Popen(
        [sys.executable, "-c", _WRITER_SERVER, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    lines, writer = _Lines(server.stdout), None

    def start_writer(command: bytes) -> int:
        server.stdin.write(command + b"\n")
        server.stdin.flush()
        return int(lines.wait_for("writer ").split()[1])

    try:
        writer = start_writer(b"crash")
        assert lines.wait_for("exited ") == "exited -9", "the writer was not killed inside fsync"
        assert _assert_every_checkpoint_is_whole(folder, "crash in fsync").name == "step-00000001.safetensors"
        assert len(list(folder.glob(".step-00000002.safetensors.*.tmp"))) == 1  # the stale temp file

        for round_ in range(5):
            writer = start_writer(b"go")
            delay = random.uniform(0.06 * round_, 0.06 * (round_ + 1))  # 0..0.3 s, spread over rounds
            time.sleep(delay)
            os.kill(writer, signal.SIGKILL)
            assert lines.wait_for("exited ") == "exited -9"
            newest = _assert_every_checkpoint_is_whole(folder, f"killed after {delay:.3f} s")
        server.stdin.close()
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        if writer is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(writer, signal.SIGKILL)

    latest = load_checkpoint(newest)
    fresh = torch.nn.Linear(1024, 768)
    assert restore(latest, {"model": fresh}, {}) == {"step": latest.step, "tensors": {}}
    assert torch.all(fresh.bias == latest.step)
    # Whatever temp files the kills left behind, the next save removes them.
    (folder / ".step-00000999.safetensors.x1y2z3.tmp").write_bytes(b"half a checkpoint")
    save_checkpoint(folder, latest.step + 1, {"model": fresh}, {}, {}, keep=2)
    assert list(folder.glob(".*.tmp")) == []
    assert [load_checkpoint(p).step for p in list_checkpoints(folder)] == [latest.step + 1, latest.step]
