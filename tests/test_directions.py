"""Directions: estimators recover planted attributes and work with scikit-learn, holding directions
fixed, SeFa/GANSpace, directions.json."""

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import Pipeline

from latentkit.errors import LatentkitError
from latentkit.latent.directions import (
    Direction,
    fit_directions,
    get_direction,
    load_directions,
    save_directions,
)
from latentkit.latent.finders import (
    GANSpacePCA,
    GradientDirection,
    LogisticDirection,
    RidgeDirection,
    SeFa,
    SVMDirection,
    condition,
    hold_fixed,
    make_finder,
)
from latentkit.models import DCGANConfig, build_generator, load_bundle, save_bundle


def planted(n=20_000, d=16, noise=0.1, offset=0.0, seed=0):
    """z ~ N(0, I) (n, d), a unit direction w, and scores z @ w + offset + noise."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    w /= np.linalg.norm(w)
    return z, w, z @ w + offset + noise * rng.standard_normal(n)


def cosine(a, b):
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


@pytest.mark.parametrize("method", ["svm", "svc", "logistic", "ridge"])
def test_each_method_recovers_a_planted_linear_attribute(method):
    z, w, scores = planted()
    finder = make_finder(method).fit(z, scores)
    assert cosine(finder.direction_, w) > 0.99
    assert np.linalg.norm(finder.direction_) == pytest.approx(1.0, abs=1e-12)
    assert finder.validation_ > (0.95 if method in ("svm", "svc") else 0.9)
    assert finder.n_samples_ == 20_000


def test_gradient_direction_is_the_mean_unit_gradient_with_its_coherence():
    z, w, scores = planted()
    rng = np.random.default_rng(1)
    # Per-sample gradients of different lengths around w: the mean of their unit vectors is w.
    grads = (w + 0.5 * rng.standard_normal((4000, 16))) * rng.uniform(0.1, 10, (4000, 1))
    finder = GradientDirection().fit(z, scores, gradients=grads)
    unit = grads / np.linalg.norm(grads, axis=1, keepdims=True)
    assert np.allclose(finder.direction_, unit.mean(0) / np.linalg.norm(unit.mean(0)))
    assert cosine(finder.direction_, w) > 0.99
    assert finder.coherence_ == pytest.approx(np.linalg.norm(unit.mean(0)))
    assert 0.35 < finder.coherence_ < 0.55  # noise of norm ~2 against a unit signal: ~1/sqrt(5)
    # The boundary is InterFaceGAN's tails split halfway: the planted scores' median is 0.
    assert finder.validation_ == 1.0 and abs(finder.intercept_) < 0.05
    assert finder.info()["n_gradients"] == 4000 and finder.info()["method"] == "gradient"
    same = GradientDirection().fit(z, scores, gradients=np.tile(w, (10, 1)))
    assert same.coherence_ == pytest.approx(1.0) and np.allclose(same.direction_, w)


def test_gradient_direction_keeps_the_measured_accuracy_when_it_disagrees_with_the_scores():
    # The direction that raises the score need not separate the samples that score high: here the
    # gradients point against the planted direction, and the held-out accuracy says so.
    z, w, scores = planted()
    finder = GradientDirection().fit(z, scores, gradients=-np.tile(w, (10, 1)))
    assert np.allclose(finder.direction_, -w) and finder.validation_ == 0.0


def test_gradient_direction_needs_finite_nonzero_gradients_of_the_latent_size():
    z, _, scores = planted(n=1000)
    with pytest.raises(LatentkitError, match="needs the score gradients"):
        GradientDirection().fit(z, scores)
    with pytest.raises(LatentkitError, match="gradients must be finite"):
        GradientDirection().fit(z, scores, gradients=np.ones((5, 3)))
    with pytest.raises(LatentkitError, match="gradients must be finite"):
        GradientDirection().fit(z, scores, gradients=np.full((5, 16), np.nan))
    with pytest.raises(LatentkitError, match="every gradient is zero"):
        GradientDirection().fit(z, scores, gradients=np.zeros((5, 16)))


def test_score_gradients_match_finite_differences_through_a_real_generator_and_predictor(bundle):
    from latentkit.latent.directions import score_gradients
    from latentkit.predictor import AttributeSpec, FeatureNet

    torch.manual_seed(0)
    specs = [AttributeSpec("smile", "continuous", mean=0.1, std=0.5), AttributeSpec("glasses", "binary")]
    pred = FeatureNet(3, 32, specs, width=8, feature_dim=16).eval().double()
    bundle.generator.double()  # float64, so central differences are exact enough to compare
    z = np.random.default_rng(0).standard_normal((3, 16))
    grads = score_gradients(bundle, pred, z, ["smile", "glasses"], batch=2)
    assert set(grads) == {"smile", "glasses"} and grads["smile"].shape == (3, 16)
    assert not bundle.generator.training and all(p.requires_grad for p in pred.parameters())
    u = _unit(5)

    def score(x, name):
        with torch.no_grad():
            return pred.scores(bundle.generator(torch.from_numpy(x)))[name].numpy()

    eps = 1e-5  # small: the generator's ReLUs make the score piecewise linear
    for name in ("smile", "glasses"):
        numeric = (score(z + eps * u, name) - score(z - eps * u, name)) / (2 * eps)
        assert grads[name] @ u == pytest.approx(numeric, rel=1e-4, abs=1e-9)


def test_svm_follows_interfacegan_protocol_top_and_bottom_two_percent_70_30():
    z, _, scores = planted()
    finder = SVMDirection().fit(z, scores)
    # 2% of 20,000 from each end = 800 samples; 70% of them train the SVM
    assert finder.n_fit_ == 560
    info = finder.info()
    assert info["method"] == "svm" and info["ratio"] == 0.02 and info["metric"] == "accuracy"
    assert info["validation"] == pytest.approx(finder.validation_, abs=1e-6)
    assert finder.score(z, scores) == 1.0


def test_intercept_puts_the_boundary_at_the_median_score_not_the_origin():
    # scores are shifted so the median sits at z @ w = -1.0: the boundary must move with it
    z, w, scores = planted(noise=0.05)
    shifted = scores - np.median(scores)
    z_moved = z + 1.0 * w  # every latent 1 unit further along w than its score says
    for finder in (LogisticDirection(), RidgeDirection()):
        finder.fit(z_moved, shifted)
        assert finder.intercept_ == pytest.approx(-1.0, abs=0.05)
        assert np.median(finder.distance(z_moved)) == pytest.approx(0.0, abs=0.05)


def test_ridge_slope_is_score_per_unit_of_z_and_predict_matches():
    z, _, scores = planted(noise=0.01)
    ridge = RidgeDirection().fit(z, 3.0 * scores + 2.0)
    assert ridge.slope_ == pytest.approx(3.0, rel=0.01)
    assert ridge.center_ == pytest.approx(2.0, abs=0.1)
    assert ridge.validation_ > 0.999
    np.testing.assert_allclose(ridge.predict(z[:5]), 3.0 * scores[:5] + 2.0, atol=0.1)


def test_logistic_on_binary_labels_with_threshold_half():
    z, w, scores = planted(n=5000)
    labels = (scores > 0).astype(float)
    finder = LogisticDirection(threshold=0.5).fit(z, labels)
    assert cosine(finder.direction_, w) > 0.99
    assert finder.threshold_ == 0.5


def test_svm_refuses_too_few_samples_per_side_and_nan_scores():
    z, _, scores = planted(n=100)
    with pytest.raises(LatentkitError, match="per side"):
        SVMDirection(ratio=0.02).fit(z, scores)
    scores[3] = np.nan
    with pytest.raises(LatentkitError, match="NaN"):
        RidgeDirection().fit(z, scores)
    with pytest.raises(LatentkitError, match="svm, svc, logistic, ridge"):
        make_finder("pca")


# --- scikit-learn estimators ----------------------------------------------------------------------

FINDERS = [
    SVMDirection(ratio=0.05, C=0.5, solver="svc", seed=3),
    LogisticDirection(threshold=0.5, val_fraction=0.2, C=2.0, seed=1),
    RidgeDirection(alpha=0.1, val_fraction=0.25, seed=2),
    GANSpacePCA(n_components=4, seed=5),
    SeFa(n_components=3),
]


@pytest.mark.parametrize("finder", FINDERS, ids=lambda f: type(f).__name__)
def test_every_finder_is_a_sklearn_estimator_that_clones_with_equal_params(finder):
    copy = clone(finder)
    assert type(copy) is type(finder) and copy is not finder
    assert copy.get_params(deep=True) == finder.get_params(deep=True) == finder.get_params()
    name = next(iter(finder.get_params()))
    assert clone(finder).set_params(**{name: finder.get_params()[name]}).get_params() == finder.get_params()
    assert not [k for k in vars(copy) if k.endswith("_")]  # unfitted: no learned state yet


def test_set_params_changes_a_hyper_parameter_and_the_fit_uses_it():
    z, _, scores = planted(n=5000)
    finder = SVMDirection().set_params(ratio=0.1)
    assert finder.ratio == 0.1 and finder.fit(z, scores).n_fit_ == 700  # 2 x 500 chosen, 70% train
    with pytest.raises(ValueError, match="Invalid parameter"):
        SVMDirection().set_params(gamma=1.0)


def test_grid_search_over_svm_c_scores_held_out_folds_and_recovers_the_direction():
    z, w, scores = planted(n=4000, d=8, noise=0.3, seed=7)
    search = GridSearchCV(SVMDirection(ratio=0.1), {"C": [0.001, 0.1, 10.0]}, cv=3).fit(z, scores)
    folds = search.cv_results_["mean_test_score"]
    assert np.isfinite(folds).all() and ((folds >= 0) & (folds <= 1)).all()
    assert folds.max() > 0.9  # accuracy on each held-out third's own top and bottom 10%
    assert search.best_params_["C"] in (0.001, 0.1, 10.0)
    assert cosine(search.best_estimator_.direction_, w) > 0.9


def test_a_finder_works_inside_a_pipeline():
    z, w, scores = planted(n=2000, d=8)
    pipe = Pipeline([("svm", SVMDirection(ratio=0.1))]).fit(z, scores)
    assert cosine(pipe[-1].direction_, w) > 0.99 and pipe.score(z, scores) > 0.95


def test_ridge_scores_held_out_folds_as_r2():
    z, _, scores = planted(n=3000, d=8)
    r2 = cross_val_score(RidgeDirection(), z, scores, cv=3)
    assert r2.shape == (3,) and (r2 > 0.98).all()


# --- holding directions fixed ----------------------------------------------------------------------


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_held_direction_is_unit_and_orthogonal_to_every_held_one(k):
    rng = np.random.default_rng(k)
    d = rng.standard_normal(32)
    others = rng.standard_normal((k, 32))
    c = hold_fixed(d, others)
    assert np.linalg.norm(c) == pytest.approx(1.0, abs=1e-12)
    for o in others:
        assert abs(c @ o) < 1e-10
    assert c @ d > 0  # still points the same way


def test_interfacegan_closed_form_for_two_held_directions_equals_least_squares():
    rng = np.random.default_rng(0)
    d, c1, c2 = rng.standard_normal((3, 16))
    closed = hold_fixed(d, [c1, c2])
    basis = np.stack([c1, c2]).T
    coef, *_ = np.linalg.lstsq(basis, d, rcond=None)
    lstsq = d - basis @ coef
    np.testing.assert_allclose(closed, lstsq / np.linalg.norm(lstsq), atol=1e-12)


def test_holding_an_orthogonal_direction_changes_nothing():
    d = np.array([1.0, 0, 0, 0])
    np.testing.assert_allclose(hold_fixed(d, [np.array([0, 1.0, 0, 0])]), d)


def test_holding_its_own_span_is_an_error():
    d = np.array([1.0, 1.0, 0.0])
    with pytest.raises(LatentkitError, match="span"):
        hold_fixed(d, [[1.0, 0, 0], [0, 1.0, 0]])


def test_the_old_name_condition_still_works_but_warns():
    d, c = np.array([1.0, 1.0, 0.0]), np.array([1.0, 0, 0])
    with pytest.warns(DeprecationWarning, match="hold_fixed"):
        np.testing.assert_array_equal(condition(d, [c]), hold_fixed(d, [c]))


# --- unsupervised ----------------------------------------------------------------------------------


def test_sefa_components_are_eigenvectors_of_ata_largest_first():
    torch.manual_seed(0)
    g = build_generator(DCGANConfig(resolution=32, ngf=8, latent_dim=16)).eval()
    w = g.first_layer_weight()
    assert tuple(w.shape) == (16, 32, 4, 4)
    sefa = SeFa(n_components=4).fit(w)
    a = w.double().flatten(1).T.numpy()  # (512, 16)
    for v, lam in zip(sefa.components_, sefa.eigenvalues_, strict=True):
        np.testing.assert_allclose(a.T @ a @ v, lam * v, atol=1e-9)
    assert list(sefa.eigenvalues_) == sorted(sefa.eigenvalues_, reverse=True)
    # the first direction moves the first layer's output the most of any unit vector
    *_, vt = np.linalg.svd(a, full_matrices=False)
    assert abs(sefa.components_[0] @ vt[0]) == pytest.approx(1.0, abs=1e-9)


def test_ganspace_pca_finds_the_latent_direction_of_largest_activation_variance():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((3000, 8))
    # activations = M z with singular values 5, 3, 1, ... along known right singular vectors
    u, _ = np.linalg.qr(rng.standard_normal((40, 8)))
    v, _ = np.linalg.qr(rng.standard_normal((8, 8)))
    m = u @ np.diag([5.0, 3.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1]) @ v.T
    pca = GANSpacePCA(n_components=3).fit(z, z @ m.T)
    for i in range(3):
        assert abs(cosine(pca.components_[i], v[:, i])) > 0.99
    assert pca.explained_variance_ratio_[0] > pca.explained_variance_ratio_[1]


# --- directions.json -------------------------------------------------------------------------------


def _tiny(path, seed):
    torch.manual_seed(seed)
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    return load_bundle(save_bundle(path, build_generator(cfg), cfg, name=f"tiny{seed}"))


@pytest.fixture
def bundle(tmp_path):
    return _tiny(tmp_path / "tiny", seed=0)


def _unit(seed, d=16):
    v = np.random.default_rng(seed).standard_normal(d)
    return v / np.linalg.norm(v)


def test_directions_file_round_trips_vectors_intercepts_and_metadata(bundle):
    dirs = {"smile": Direction("smile", _unit(1), 0.25, {"kind": "supervised", "validation": 0.97})}
    path = save_directions(bundle, dirs)
    assert path == bundle.path / "directions.json"
    doc = json.loads(path.read_text())
    assert doc["model"]["weights_sha256"] == bundle.weights_sha256
    loaded = load_directions(bundle)
    np.testing.assert_array_equal(loaded["smile"].vector, dirs["smile"].vector)
    assert loaded["smile"].intercept == 0.25 and loaded["smile"].meta["validation"] == 0.97


def test_saving_merges_by_name_with_the_existing_file(bundle):
    save_directions(bundle, {"smile": Direction("smile", _unit(1)), "age": Direction("age", _unit(2))})
    save_directions(bundle, {"smile": Direction("smile", _unit(3))})
    loaded = load_directions(bundle)
    assert set(loaded) == {"smile", "age"}
    np.testing.assert_allclose(loaded["smile"].vector, _unit(3))


def test_directions_file_of_another_model_is_rejected(bundle, tmp_path):
    other = _tiny(tmp_path / "other", seed=1)
    save_directions(other, {"smile": Direction("smile", _unit(1))}, path=bundle.path / "directions.json")
    with pytest.raises(LatentkitError, match="another model"):
        load_directions(bundle)


@pytest.mark.parametrize(
    ("vector", "message"),
    [([0.5] * 4, "has 4 values, the model's z has 16"), ([float("nan")] * 16, "NaN"), ([1.0] * 16, "norm 4")],
)
def test_bad_vectors_in_the_directions_file_name_the_direction(bundle, vector, message):
    save_directions(bundle, {"smile": Direction("smile", _unit(1))})
    path = bundle.path / "directions.json"
    doc = json.loads(path.read_text())
    doc["directions"]["smile"]["vector"] = vector
    path.write_text(json.dumps(doc))
    with pytest.raises(LatentkitError, match=f"direction 'smile'.*{message}"):
        load_directions(bundle)


def test_missing_directions_file_says_how_to_make_one(bundle):
    with pytest.raises(LatentkitError, match="directions fit"):
        load_directions(bundle)


def test_unknown_direction_name_lists_the_known_ones():
    dirs = {"smile": Direction("smile", _unit(1)), "age": Direction("age", _unit(2))}
    with pytest.raises(LatentkitError, match="unknown direction 'smiel'; known directions: smile, age"):
        get_direction(dirs, "smiel")


# --- the fitting pipeline --------------------------------------------------------------------------


class PlantedPredictor(torch.nn.Module):
    """A stand-in attribute predictor: 'bright' = mean pixel (continuous), 'red' = red > green (binary)."""

    channels = 3

    def __init__(self):
        super().__init__()
        from latentkit.predictor import AttributeSpec

        self.attributes = [AttributeSpec("bright", "continuous"), AttributeSpec("red", "binary")]
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def predict(self, x):
        red = x[:, 0].mean(dim=(1, 2)) - x[:, 1].mean(dim=(1, 2))
        return {"bright": x.mean(dim=(1, 2, 3)), "red": torch.sigmoid(50 * red)}

    def scores(self, x):
        red = x[:, 0].mean(dim=(1, 2)) - x[:, 1].mean(dim=(1, 2))
        return {"bright": x.mean(dim=(1, 2, 3)), "red": 50 * red}  # the logit of predict's "red"

    def features(self, x):
        return x.mean(dim=(2, 3))


class LinearGenerator(torch.nn.Module):
    """A planted generator: images = 0.1 * z @ A; 'bright' (mean pixel) is linear in z along A's row means."""

    def __init__(self, dim=16, seed=0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.a = torch.nn.Parameter(torch.randn(dim, 3 * 32 * 32, generator=g), requires_grad=False)
        self.latent_dim = dim

    def forward(self, z):
        return 0.1 * (z @ self.a).reshape(-1, 3, 32, 32)

    def planted(self):
        w = self.a.mean(dim=1).double().numpy()
        return w / np.linalg.norm(w)


@pytest.fixture
def planted_bundle(tmp_path):
    from latentkit.models import Bundle

    cfg = DCGANConfig(resolution=32, latent_dim=16)
    return Bundle(tmp_path, cfg, LinearGenerator().eval(), "planted", weights_sha256="0" * 64)


@pytest.mark.parametrize("method", ["svm", "logistic", "ridge", "gradient"])
def test_fit_directions_recovers_the_attribute_planted_in_a_generator(planted_bundle, method):
    found = fit_directions(planted_bundle, PlantedPredictor(), ["bright"], method=method, progress=False)
    d = found["bright"]
    assert cosine(d.vector, planted_bundle.generator.planted()) > 0.99
    m = d.meta
    assert m["kind"] == "supervised" and m["method"] == method and m["n_samples"] == 20_000
    assert m["samples_seed"] == 0 and m["validation"] > 0.95


def test_fit_directions_is_seeded_and_adds_pca_and_sefa_for_a_dcgan(bundle):
    found = fit_directions(
        bundle, PlantedPredictor(), ["bright", "red"], samples=500, pca=2, sefa=2, progress=False
    )
    assert list(found) == ["bright", "red", "pca0", "pca1", "sefa0", "sefa1"]
    assert found["pca0"].meta["kind"] == "pca" and found["sefa1"].meta["kind"] == "sefa"
    again = fit_directions(bundle, PlantedPredictor(), ["bright"], samples=500, progress=False)
    np.testing.assert_array_equal(again["bright"].vector, found["bright"].vector)


def test_fit_directions_rejects_unknown_and_categorical_attributes(bundle):
    with pytest.raises(LatentkitError, match="no attribute 'smile' \\(it predicts bright, red\\)"):
        fit_directions(bundle, PlantedPredictor(), ["smile"], samples=100, progress=False)
    pred = PlantedPredictor()
    pred.attributes[1].kind = "categorical"
    with pytest.raises(LatentkitError, match="categorical"):
        fit_directions(bundle, pred, ["red"], samples=100, progress=False)


# --- report numbers --------------------------------------------------------------------------------


def test_summarise_measures_slope_monotonicity_drift_and_per_sample_side_effects():
    from latentkit.latent.report import summarise

    strengths = np.linspace(-2, 2, 5)
    n = 4
    base = {"target": np.zeros(n), "hue": np.array([1.0, -1.0, 1.0, -1.0])}  # hue std 1
    # target rises 0.5 per unit for every sample except the last, which dips once;
    # hue moves +1 per unit for half the samples and -1 for the other half: mean slope 0
    target = 0.5 * strengths[:, None] * np.ones((1, n))
    target[3, 3] = target[1, 3]
    hue = base["hue"][None] + strengths[:, None] * np.array([1.0, 1.0, -1.0, -1.0])[None]
    feats = np.repeat(strengths[:, None, None], n, axis=1) * np.ones((1, 1, 3))
    r = summarise({"target": target, "hue": hue}, feats, strengths, base, np.zeros((n, 3)), 2.0, "target")
    assert r["slope"]["hue"] == pytest.approx(0.0, abs=1e-12)
    assert r["mean_abs_change"]["hue"] == pytest.approx(2.0)  # |+-2| at both ends, in stds
    assert r["monotonicity"] == 0.75
    # features move |s| * sqrt(3) from the unedited ones; drift is that over the spread of 2.0
    np.testing.assert_allclose(r["identity_drift"], np.abs(strengths) * np.sqrt(3) / 2.0)


def test_edit_effect_on_the_planted_direction_raises_its_attribute_for_every_sample(planted_bundle):
    from latentkit.latent import Direction
    from latentkit.latent.editor import Editor
    from latentkit.latent.report import edit_effect

    w = planted_bundle.generator.planted()
    other = _unit(3)
    other = other - (other @ w) * w
    dirs = {"bright": Direction("bright", w, 0.0), "other": Direction("other", other / np.linalg.norm(other))}
    effect = edit_effect(
        Editor(planted_bundle, dirs), PlantedPredictor(), "bright", 2.0, ["other"], samples=50
    )
    assert effect["raised_fraction"] == 1.0 and effect["samples"] == 50
    # images = 0.1 z A, so mean pixel moves by 0.1 * 2 * (w . row means of A) for every sample
    expected = 0.2 * float(np.linalg.norm(planted_bundle.generator.a.mean(dim=1).double().numpy()))
    assert effect["mean_change"] == pytest.approx(expected, rel=1e-3)
    assert effect["mean_abs_change"]["bright"] == pytest.approx(expected, rel=1e-3)
    down = edit_effect(Editor(planted_bundle, dirs), PlantedPredictor(), "bright", -2.0, samples=50)
    assert down["raised_fraction"] == 1.0 and down["mean_change"] < 0


def test_a_stored_held_variant_is_the_held_vector_named_after_its_parts():
    from latentkit.latent import Direction
    from latentkit.latent.directions import held_variant, parse_held_variant

    dirs = {
        n: Direction(n, _unit(i), 0.5, {"kind": "supervised", "validation": 0.9}) for i, n in enumerate("abc")
    }
    d = held_variant(dirs, *parse_held_variant("a:b,c"))
    assert d.name == "a_hold_b_c"
    assert d.meta == {"kind": "held", "base": "a", "hold": ["b", "c"], "validation": 0.9}
    assert np.allclose(d.vector, hold_fixed(dirs["a"].vector, [dirs["b"].vector, dirs["c"].vector]))
    assert abs(d.vector @ dirs["b"].vector) < 1e-9 and d.intercept == 0.0
    with pytest.raises(LatentkitError, match="expected BASE:HOLD"):
        parse_held_variant("a")
    with pytest.raises(LatentkitError, match="unknown direction 'z'"):
        held_variant(dirs, "a", ["z"])
    with pytest.raises(LatentkitError, match="at least one"):
        held_variant(dirs, "a", [])
    every = held_variant({**dirs, "pca0": Direction("pca0", _unit(7), 0.0, {"kind": "pca"})}, "a", ["all"])
    assert every.name == "a_hold_all" and every.meta["hold"] == ["b", "c"]  # attributes only, not pca0
    assert np.allclose(every.vector, d.vector)
    with pytest.raises(LatentkitError, match="at least one other"):
        held_variant({"a": dirs["a"]}, "a", ["all"])


def test_the_old_conditional_variant_warns_and_is_stored_with_the_new_keys(bundle):
    from latentkit.latent.directions import conditional_variant

    dirs = {n: Direction(n, _unit(i), 0.5, {"kind": "supervised"}) for i, n in enumerate(["a", "b"])}
    with pytest.warns(DeprecationWarning, match="held_variant"):
        old = conditional_variant(dirs, "a:b")
    assert old.name == "a_given_b" and old.meta["kind"] == "conditional"  # unchanged for old callers
    with pytest.warns(DeprecationWarning), pytest.raises(LatentkitError, match="expected BASE:COND"):
        conditional_variant(dirs, "a")
    path = save_directions(bundle, {**dirs, old.name: old}, merge=False)
    stored = json.loads(path.read_text())["directions"]["a_given_b"]
    assert stored["kind"] == "held" and stored["hold"] == ["b"] and "conditioned_on" not in stored


def test_a_directions_file_from_before_hold_is_read_with_the_new_keys(bundle):
    v = hold_fixed(_unit(1), [_unit(2)])
    path = save_directions(bundle, {"a": Direction("a", _unit(1)), "b": Direction("b", _unit(2))})
    doc = json.loads(path.read_text())
    old = {"kind": "conditional", "base": "a", "conditioned_on": ["b"], "validation": 0.9}
    doc["directions"]["a_given_b"] = {"vector": v.tolist(), "intercept": 0.0, **old}
    path.write_text(json.dumps(doc))
    d = load_directions(bundle)["a_given_b"]  # the stored name is the user's: kept
    assert d.meta == {"kind": "held", "base": "a", "hold": ["b"], "validation": 0.9}
    np.testing.assert_array_equal(d.vector, v)


# --- saving never costs what it cannot read ------------------------------------------------------


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: text.rstrip().rstrip("}").rstrip().rstrip("}") + "},}}",  # a trailing comma
        lambda text: text.replace('"vector": [', '"vector": ["x", ', 1),  # one bad entry
        lambda text: '{"format": "latentkit-bundle", "version": 2}',  # another kind of file
    ],
    ids=["trailing-comma", "bad-entry", "not-a-directions-file"],
)
def test_saving_refuses_to_replace_a_directions_file_it_cannot_read(tmp_path, damage):
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    bundle = load_bundle(save_bundle(tmp_path / "b", build_generator(cfg), cfg))
    keep = {n: Direction(n, np.eye(16)[i], 0.0, {}) for i, n in enumerate(("smile", "age", "glasses"))}
    path = save_directions(bundle, keep)
    broken = damage(path.read_text())
    path.write_text(broken)
    with pytest.raises(LatentkitError, match="left as it is and nothing was written"):
        save_directions(bundle, {"pca0": Direction("pca0", np.eye(16)[5], 0.0, {})})
    assert path.read_text() == broken


def test_saving_over_another_models_directions_replaces_them(tmp_path):
    cfg = DCGANConfig(resolution=32, ngf=8, latent_dim=16)
    a = load_bundle(save_bundle(tmp_path / "a", build_generator(cfg), cfg))
    torch.manual_seed(1)
    b = load_bundle(save_bundle(tmp_path / "b", build_generator(cfg), cfg))
    path = save_directions(a, {"smile": Direction("smile", np.eye(16)[0], 0.0, {})}, tmp_path / "d.json")
    save_directions(b, {"age": Direction("age", np.eye(16)[1], 0.0, {})}, path)
    assert list(load_directions(b, path)) == ["age"]


def test_report_has_cosines_of_the_fitted_directions_and_their_attribute_dependency(planted_bundle, tmp_path):
    from latentkit.latent.editor import Editor
    from latentkit.latent.report import direction_report

    w = planted_bundle.generator.planted()
    red = _unit(3) - (_unit(3) @ w) * w
    supervised = {"kind": "supervised", "method": "svm"}
    dirs = {
        "bright": Direction("bright", w, 0.0, dict(supervised)),
        "red": Direction("red", red / np.linalg.norm(red), 0.0, dict(supervised)),
    }
    report = direction_report(
        Editor(planted_bundle, dirs), PlantedPredictor(), tmp_path, samples=8, grid_rows=1, progress=False
    )
    assert report["cosines"] == {"bright": {"bright": 1.0, "red": 0.0}, "red": {"bright": 0.0, "red": 1.0}}
    assert set(report["dependency"]) == {"bright", "bright_hold_red", "red", "red_hold_bright"}
    dep = report["dependency"]["bright"]
    assert dep["target"] == "bright" and dep["strengths"] == [1.0, 2.0, 3.0]
    # bright is linear in z along w: it moves by strength * slope, in stds of the unedited samples
    r = report["directions"]["bright"]
    moved = np.array([1.0, 2.0, 3.0]) * r["slope"]["bright"] / r["base_std"]["bright"]
    np.testing.assert_allclose(dep["target_change"], moved, rtol=1e-4)
    np.testing.assert_allclose(
        dep["per_target_std"]["red"], np.array(dep["ad"]["red"]) / np.abs(moved), rtol=1e-4
    )
    md = (tmp_path / "report.md").read_text()
    assert "Cosines between the fitted attribute directions" in md
    assert "Attribute dependency (Wu et al. 2021) at strengths +1 / +2 / +3" in md
