"""Editor latency: server-side edit handling, client and browser round trips, 20 concurrent users.

    python benchmarks/editor_latency.py                   # a 64 px, 128-d DCGAN with 10 directions
    python benchmarks/editor_latency.py --model runs/faces64/bundle --no-browser

Measures, for one slider move (edit + render of one latent; every slider at a random position):
  server   the `/edit` handler itself (latent -> image), every attribute held as a session starts,
           and with gradio's PNG postprocess, p50/p95; beside it, alternated, with no hold box ticked
  client   gradio_client round trips, one user, sequential (includes the client's own overhead)
  browser  Playwright + Debian chromium: set the slider, wait until the new picture is in the page
  load     N users (threads in a separate client process, one gradio_client session each) x M
           edits at once: errors, p50/p95
The targets (issue 7): server <= 15 ms p95 at 64 px, browser <= 150 ms p95, 0 errors under load.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

from latentkit.app.browser import CHROMIUM, FLAGS


def pct(ms: list[float]) -> str:
    return f"p50 {np.percentile(ms, 50):6.1f} ms   p95 {np.percentile(ms, 95):6.1f} ms   (n={len(ms)})"


def summary(ms: list[float]) -> dict[str, float]:
    """p50/p95 in milliseconds and the count, for the --json file."""
    p50, p95 = (round(float(np.percentile(ms, q)), 2) for q in (50, 95))
    return {"p50_ms": p50, "p95_ms": p95, "n": len(ms)}


def peak_rss_mb() -> float:
    """Peak resident memory of this process (the editor server runs in it), in MiB."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def synthetic_bundle(folder: Path, resolution: int) -> Path:
    """A randomly initialised default DCGAN (ngf 64, 128-d z) with 3 attribute and 7 PCA directions."""
    import torch

    from latentkit.latent import Direction, save_directions
    from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle

    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=resolution)
    bundle = load_bundle(save_bundle(folder, build_generator(cfg), cfg, name=f"bench{resolution}"))
    rng = np.random.default_rng(0)
    names = ["smile", "age", "glasses"] + [f"pca{i}" for i in range(7)]
    dirs = {}
    for name in names:
        v = rng.standard_normal(cfg.latent_dim)
        kind = "pca" if name.startswith("pca") else "supervised"
        dirs[name] = Direction(name, v / np.linalg.norm(v), 0.0, {"kind": kind, "method": "svm"})
    save_directions(bundle, dirs)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def knob_values(named: list[bool], rng: np.random.Generator, holds: tuple[bool, ...] | None = None) -> list:
    """Random positions of the named sliders (step 0.1), free slots at 0, and the hold boxes (default
    none ticked): /edit's inputs."""
    values = [round(float(rng.uniform(-3, 3)), 1) if used else 0.0 for used in named]
    return values + list(holds or [False] * len(named))


def named_slots(app) -> list[bool]:
    return [slot.name is not None for slot in app.slots]


def server_side(demo, n: int) -> tuple[list[float], list[float], list[float]]:
    """ms per call of the /edit handler with the hold boxes as a session starts (every attribute held),
    of that + the image's gradio postprocess (PNG to cache), and of the handler with no box ticked,
    alternated call by call so both see the same machine."""
    app = demo.editor_app
    fn = next(f.fn for f in demo.fns.values() if f.api_name == "edit")
    image = next(b for b in demo.blocks.values() if getattr(b, "elem_id", None) == "face")
    session, rng = app.new_session(), np.random.default_rng(1)
    handler, full, free = [], [], []
    for i in range(n + 10):
        knobs = knob_values(named_slots(app), rng, app.default_holds)
        t0 = time.perf_counter()
        img = fn(session, *knobs)
        t1 = time.perf_counter()
        image.postprocess(img)
        t2 = time.perf_counter()
        fn(session, *knob_values(named_slots(app), rng))
        t3 = time.perf_counter()
        if i >= 10:  # warm-up
            handler.append((t1 - t0) * 1e3)
            full.append((t2 - t0) * 1e3)
            free.append((t3 - t2) * 1e3)
    return handler, full, free


def client_round_trips(url: str, app, n: int) -> list[float]:
    from gradio_client import Client

    client = Client(url, analytics_enabled=False, verbose=False, ssl_verify=False, download_files=False)
    rng, ms = np.random.default_rng(2), []
    for i in range(n + 3):
        t = time.perf_counter()
        client.predict(*knob_values(named_slots(app), rng), api_name="/edit")
        if i >= 3:
            ms.append((time.perf_counter() - t) * 1e3)
    return ms


def browser_round_trips(url: str, n: int) -> list[float]:
    """Set the first slider to a new value in the page; time until the picture's src changes."""
    from playwright.sync_api import sync_playwright

    script = """async (value) => {
        const img = () => document.querySelector('#face img');
        const old = img().src;
        const el = document.querySelector('.direction input[type=range]');  // the first direction
        const t0 = performance.now();
        el.value = value;
        el.dispatchEvent(new Event('input', {bubbles: true}));
        while (!img() || img().src === old) {
            if (performance.now() - t0 > 10000) throw new Error('no new picture after 10 s');
            await new Promise(r => requestAnimationFrame(r));
        }
        await img().decode();
        return performance.now() - t0;
    }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#face img")
        # alternating signs: every value differs from the one before, so every move is a change
        values = [f"{(-1) ** i * (0.5 + (i % 25) / 10):.1f}" for i in range(n + 3)]
        ms = [page.evaluate(script, v) for v in values]
        browser.close()
    return ms[3:]


def load_test(url: str, named: list[bool], users: int, edits: int) -> tuple[list[float], int, float]:
    """`users` threads, each its own session, `edits` sequential /edit calls each; (ms, errors, seconds).

    Run in its own process (see `main`), so the clients do not share the server's interpreter lock.
    """
    from gradio_client import Client

    ms: list[float] = []
    errors = [0]
    lock = threading.Lock()
    clients = [
        Client(url, analytics_enabled=False, verbose=False, ssl_verify=False, download_files=False)
        for _ in range(users)
    ]
    barrier = threading.Barrier(users)

    def user(k: int) -> None:
        rng = np.random.default_rng(100 + k)
        barrier.wait()
        for _ in range(edits):
            t = time.perf_counter()
            try:
                clients[k].predict(*knob_values(named, rng), api_name="/edit")
                with lock:
                    ms.append((time.perf_counter() - t) * 1e3)
            except Exception as e:  # counted, not raised: the benchmark reports them
                with lock:
                    errors[0] += 1
                print(f"  user {k}: {type(e).__name__}: {e}", file=sys.stderr)

    threads = [threading.Thread(target=user, args=(k,)) for k in range(users)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ms, errors[0], time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", help="bundle folder (default: a synthetic 64 px DCGAN)")
    p.add_argument("--resolution", type=int, default=64, help="resolution of the synthetic model")
    p.add_argument("--n", type=int, default=200, help="edits measured server-side")
    p.add_argument("--round-trips", type=int, default=40, help="client and browser round trips")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--edits", type=int, default=20, help="edits per user in the load test")
    p.add_argument("--no-browser", action="store_true")
    p.add_argument("--json", help="also write every figure to this JSON file")
    p.add_argument("--load-client", metavar="URL", help=argparse.SUPPRESS)  # the load test's client process
    p.add_argument("--named", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.load_client:
        ms, errors, seconds = load_test(
            args.load_client, [c == "1" for c in args.named], args.users, args.edits
        )
        print(json.dumps({"ms": ms, "errors": errors, "seconds": seconds}))
        return 0

    from latentkit.app import launch

    tmp = Path(tempfile.mkdtemp(prefix="editor-bench-"))
    os.environ.setdefault("LATENTKIT_HOME", str(tmp / "home"))  # a throwaway signing identity
    model = args.model or synthetic_bundle(tmp / "model", args.resolution)
    demo = launch(model, port=free_port(), prevent_thread_lock=True, quiet=True)
    app, errors = demo.editor_app, -1
    results: dict = {"model": app.bundle.name, "resolution": app.res, "load_average": os.getloadavg()[0]}
    print(
        f"model {app.bundle.name}: {app.res} px, {app.dim}-d z, {sum(s.name is not None for s in app.slots)} "
        f"sliders; torch threads 1; {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}"
    )
    try:
        handler, full, free = server_side(demo, args.n)
        print(f"server  /edit handler (edit + render)      {pct(handler)}")
        print(f"server  + gradio PNG postprocess           {pct(full)}")
        print(f"server  handler, no hold box ticked        {pct(free)}")
        results["server_no_holds"] = summary(free)
        client = client_round_trips(demo.local_url, app, args.round_trips)
        print(f"client  gradio_client round trip           {pct(client)}")
        results.update(server=summary(handler), server_png=summary(full), client=summary(client))
        if args.no_browser or not Path(CHROMIUM).exists():
            print("browser skipped" + ("" if args.no_browser else f" ({CHROMIUM} missing: make browser)"))
        else:
            browser = browser_round_trips(demo.local_url, args.round_trips)
            print(f"browser slider -> new picture on screen    {pct(browser)}")
            results["browser"] = summary(browser)
        named = "".join("1" if used else "0" for used in named_slots(app))
        cmd = [sys.executable, __file__, "--load-client", demo.local_url, "--named", named,
               "--users", str(args.users), "--edits", str(args.edits)]  # fmt: skip
        result = json.loads(subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True).stdout)
        ms, errors, seconds = result["ms"], result["errors"], result["seconds"]
        total = args.users * args.edits
        print(
            f"load    {args.users} users x {args.edits} edits: {errors} error(s), "
            f"{total / seconds:.0f} edits/s, {pct(ms) if ms else 'no successful edits'}"
        )
        load = {"users": args.users, "edits": args.edits, "errors": errors, "edits_per_s": total / seconds}
        results["load"] = {**load, **(summary(ms) if ms else {})}
        results["peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(f"memory  peak RSS of the editor process     {results['peak_rss_mb']:.0f} MiB")
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    finally:
        demo.close()
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
