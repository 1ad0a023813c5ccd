"""The layering, as a test: every import in latentkit/ and apps/ (inside functions too) goes downwards.

Layers, low to high; a module may import its own layer and lower ones, never a higher one:

    0  errors, io, pixels, images, text, data, models  files, pixels, text, datasets, networks
    1  metrics, predictor, theory, viz              measure and draw what layer 0 makes
    2  train, provenance                            (siblings: neither imports the other)
    3  latent                                       directions, editing, inversion, over all of it
    4  cli, app, __main__                           command line and Gradio app: nothing imports them

Checked against the code rather than assumed: viz imports only io, theory only numpy and metrics
only layer 0 (data, io, pixels), so all three could sit in layer 0, but they are consumers of
models and data, so layer 1 keeps the table honest for whatever they grow; train uses metrics and viz
for its evaluation and figures; latent uses metrics (feature nets for projection) and provenance
(export). The `predictor` package (attribute nets, scored images) sits beside metrics.
apps/ may use latentkit's public modules only: no name or module starting with "_".
"""

import ast
from pathlib import Path

import latentkit

ROOT = Path(latentkit.__file__).resolve().parent
APPS = ROOT.parent / "apps"
LAYERS = {
    **dict.fromkeys(["", "errors", "io", "pixels", "images", "text", "data", "models"], 0),
    **dict.fromkeys(["metrics", "predictor", "theory", "viz"], 1),
    **dict.fromkeys(["train", "provenance"], 2),
    "latent": 3,
    **dict.fromkeys(["cli", "app", "__main__"], 4),
}
SIBLINGS = {("provenance", "train"), ("train", "provenance")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, text: str | None = None) -> list[tuple[int, str, list[str]]]:
    """(line, absolute module, imported names) of every import statement in the file (or in `text`
    as if it were that file), at any depth: inside functions and classes too."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text() if text is None else text, str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from ..y import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append((node.lineno, base, [alias.name for alias in node.names]))
    return found


def _part(module: str) -> str | None:
    """The layer key of a latentkit module ("latentkit.latent.editor" -> "latent"), None if foreign."""
    if module != "latentkit" and not module.startswith("latentkit."):
        return None
    return module.split(".")[1] if "." in module else ""


def _targets(module: str, names: list[str]) -> list[str]:
    """`from latentkit import models` imports latentkit.models: count the submodule, not the root."""
    if module == "latentkit" and names:
        return [
            f"latentkit.{n}" if (ROOT / n).exists() or (ROOT / f"{n}.py").exists() else module for n in names
        ]
    return [module]


def layer_violations() -> list[str]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT.parent).as_posix()
        here = _part(_module_name(path))
        if here not in LAYERS:
            out.append(f"{rel}: package {here!r} has no layer in tests/test_architecture.py")
            continue
        for line, module, names in _imports(path):
            for target in _targets(module, names):
                there = _part(target)
                if there is None or there == here:
                    continue
                if there not in LAYERS:
                    out.append(f"{rel}:{line}: imports {target}, which has no layer")
                elif LAYERS[there] > LAYERS[here] or (here, there) in SIBLINGS:
                    out.append(f"{rel}:{line}: {here or 'latentkit'} (layer {LAYERS[here]}) imports {target} "
                               f"(layer {LAYERS[there]})")  # fmt: skip
    return out


def test_no_module_imports_a_higher_layer():
    violations = layer_violations()
    assert violations == [], "imports against the layering:\n" + "\n".join(violations)


def test_provenance_knows_nothing_of_latent_app_cli_or_train():
    bad = [
        f"{path.relative_to(ROOT.parent)}:{line}: {module}"
        for path in sorted((ROOT / "provenance").rglob("*.py"))
        for line, module, names in _imports(path)
        for target in _targets(module, names)
        if _part(target) in ("latent", "app", "cli", "train")
    ]
    assert bad == []


def test_apps_use_only_public_latentkit_modules():
    bad = [
        f"{path.relative_to(ROOT.parent)}:{line}: {module} {names}"
        for path in sorted(APPS.rglob("*.py"))
        for line, module, names in _imports(path)
        if _part(module) is not None
        and any(p.startswith("_") for p in [*module.split("."), *names] if p != "__future__")
    ]
    assert bad == []


def test_the_checker_sees_imports_inside_functions_and_relative_ones():
    source = (
        "import numpy\n"
        "def f():\n"
        "    from latentkit.latent.editor import Editor\n"
        "    from ..app import core\n"
        "    from latentkit import models, errors\n"
    )
    found = _imports(ROOT / "provenance" / "probe.py", source)  # never written: parsed from `source`
    assert [(line, module) for line, module, _ in found] == [
        (1, "numpy"),
        (3, "latentkit.latent.editor"),
        (4, "latentkit.app"),
        (5, "latentkit"),
    ]
    assert _targets("latentkit", ["models", "errors", "__version__"]) == [
        "latentkit.models",
        "latentkit.errors",
        "latentkit",
    ]
    assert [_part(m) for m in ("numpy", "latentkit", "latentkit.latent.editor")] == [None, "", "latent"]


def test_starting_the_cli_or_an_edit_imports_neither_scikit_learn_nor_torchvision():
    """Each costs seconds to import; they load only in the commands that use them (fits, figures)."""
    import subprocess
    import sys

    code = (
        "import sys, latentkit.cli, latentkit.latent.editor, latentkit.latent.recipe, latentkit.viz; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'sklearn', 'torchvision', 'gradio'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
