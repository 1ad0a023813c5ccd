"""The Edit tab's "upload a face": an uploaded image is projected, loaded into the sliders, and its
exports record the projection. Through the HTTP API (gradio_client) on a launched tiny model.
"""

import hashlib
import io
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image
from test_app_api import fields, free_port, knobs, tiny_bundle

from latentkit.pixels import to_pixels
from latentkit.provenance import init_keys, verify_image

pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting':Warning"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated:Warning"),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from latentkit.app import launch

    home = tmp_path_factory.mktemp("home")
    init_keys(home / "keys")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LATENTKIT_HOME", str(home))
        bundle = tiny_bundle(tmp_path_factory.mktemp("model") / "tiny")
        demo = launch(bundle, port=free_port(), prevent_thread_lock=True, quiet=True)
        try:
            yield demo
        finally:
            demo.close()


@pytest.fixture
def client(served, tmp_path):
    return Client(served.local_url, analytics_enabled=False, verbose=False, download_files=tmp_path)


def test_an_uploaded_face_is_projected_edited_and_exported_with_its_record(served, client, tmp_path):
    app = served.editor_app
    z = torch.randn(1, app.dim, generator=torch.Generator().manual_seed(42))
    with torch.no_grad():
        target = to_pixels(app.bundle.generator(z))[0]
    photo = tmp_path / "me.png"
    Image.fromarray(target).resize((64, 64), Image.NEAREST).save(photo)

    f = fields(app, client.predict(handle_file(str(photo)), api_name="/project_face"))
    assert f.seed is None and all(v == 0 for v in f.values)
    assert "latentkit project me.png" in f.command and "--latent me.npy" in f.command
    shown = np.asarray(Image.open(f.image).convert("RGB"))
    assert np.mean(np.abs(shown.astype(int) - target.astype(int))) < 12  # the projection resembles it

    client.predict(*knobs(app, smile=1.0), api_name="/edit")
    path, _ = client.predict(256, api_name="/export")
    report = verify_image(path)
    assert report.verified, report.problems
    m = report.manifest
    assert m["projection"]["source_sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    assert m["edits"][0]["direction"] == "smile"


def test_a_non_image_or_tiny_upload_is_a_message(client, tmp_path):
    (tmp_path / "fake.png").write_bytes(b"not a picture")
    with pytest.raises(AppError, match=r"fake\.png: not an image"):
        client.predict(handle_file(str(tmp_path / "fake.png")), api_name="/project_face")
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    (tmp_path / "small.png").write_bytes(buf.getvalue())
    with pytest.raises(AppError, match="8x8 pixels is too small"):
        client.predict(handle_file(str(tmp_path / "small.png")), api_name="/project_face")


def test_a_style_model_projects_the_upload_into_the_editors_w_and_the_recipe_says_so(tmp_path):
    from latentkit.app.state import cli_command, snapshot
    from latentkit.app.upload_face import project_upload
    from latentkit.latent import Editor
    from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle
    from latentkit.models.latents import synthesize

    torch.manual_seed(0)
    cfg = DCGANConfig(resolution=32, ngf=8, ndf=8, latent_dim=16, g_norm="none", mapping_layers=2)
    bundle = load_bundle(save_bundle(tmp_path / "style", build_generator(cfg).eval(), cfg, name="style"))
    app = SimpleNamespace(bundle=bundle, editor=lambda: Editor(bundle))
    G = bundle.generator
    with torch.no_grad():
        target = to_pixels(synthesize(G, G.mapping(torch.randn(1, 16)), "w"))[0]
    Image.fromarray(target).save(tmp_path / "me.png")

    w, record, _ = project_upload(app, str(tmp_path / "me.png"))
    assert app.editor().space == "w" and w.shape == (16,)  # the sliders' space, not the CLI's w+
    assert json.loads(record)["space"] == "w"
    snap = snapshot(w, 0, None, 1.0, "me.png").replace(projection=record)
    command = cli_command("models/style", snap, {}, [])
    assert "latentkit project me.png --model models/style --space w --out me.json" in command
    assert "--latent me.json" in command
