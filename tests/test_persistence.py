"""Safe persistence: skops files of fitted pipelines, trusted types, GPU -> CPU loading."""

import json
import os
import pickle
import pickletools
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pytest
import skops.io
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer
from skorch.exceptions import DeviceWarning

from sklearn_hallu import FrequencyMaskTransformer, LogMelTransformer
from sklearn_hallu.datasets import make_sounds
from sklearn_hallu.exceptions import PickleNotAllowedError, UntrustedTypesError
from sklearn_hallu.persistence import dump, load, trusted_types, untrusted_types

from .conftest import SMALL_LOGMEL, SMALL_MASK, tiny_clf

OURS = [
    "sklearn_hallu.classifier._estimator.HalluAudioClassifier",
    "sklearn_hallu.preprocessing._transformers.FrequencyMaskTransformer",
    "sklearn_hallu.preprocessing._transformers.LogMelTransformer",
]


@pytest.fixture(scope="module")
def fitted():
    """A fitted 3-view Pipeline (whole, low, high band), 1 epoch, channels (4, 4, 4)."""
    X, y = make_sounds(n_classes=4, n_per_class=6, sr=8000, duration=0.5, random_state=0)
    pipe = Pipeline([
        ("logmel", LogMelTransformer(**SMALL_LOGMEL)),
        ("masks", FrequencyMaskTransformer(1000.0, **SMALL_MASK)),
        ("clf", tiny_clf(n_way=3, max_epochs=1, channels=(4, 4, 4))),
    ]).fit(X, y)
    assert pipe[-1].n_views_ == 3
    return pipe, X, y


def test_trusted_types_are_ours_alone():
    assert trusted_types() == OURS


def test_skops_round_trip_in_a_fresh_process(fitted, tmp_path):
    pipe, X, _ = fitted
    path = tmp_path / "model.skops"
    dump(pipe, path)
    # the file needs no torch, skorch or other foreign type: only ours
    assert sorted(skops.io.get_untrusted_types(file=path)) == OURS
    np.save(tmp_path / "X.npy", X)
    code = textwrap.dedent(f"""
        import numpy as np, torch
        torch.set_num_threads(1)
        from sklearn_hallu.persistence import load
        pipe = load({str(path)!r})
        X = np.load({str(tmp_path / 'X.npy')!r})
        np.save({str(tmp_path / 'p.npy')!r}, pipe.predict_proba(X))
    """)
    subprocess.run([sys.executable, "-c", code], check=True)
    np.testing.assert_array_equal(np.load(tmp_path / "p.npy"), pipe.predict_proba(X))


def test_loaded_model_keeps_history_and_takes_new_supports(fitted, tmp_path):
    pipe, X, y = fitted
    dump(pipe, tmp_path / "m.skops")
    loaded = load(tmp_path / "m.skops")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    assert loaded[-1].history_[:, "train_loss"] == pipe[-1].history_[:, "train_loss"]
    keep = np.isin(y, np.unique(y)[:2])
    loaded.set_params(clf__train_backbone=False).fit(X[keep], y[keep])
    assert loaded.predict_proba(X).shape == (len(X), 2)


class _Foreign(TransformerMixin, BaseEstimator):
    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return X


def _foreign_function(X):
    return X


@pytest.mark.parametrize("step, name", [
    (_Foreign(), f"{__name__}._Foreign"),
    (FunctionTransformer(_foreign_function), f"{__name__}._foreign_function"),
])
def test_foreign_type_is_refused(fitted, tmp_path, step, name):
    pipe, X, _ = fitted
    path = tmp_path / "foreign.skops"
    dump(Pipeline([("foreign", step)] + pipe.steps), path)
    assert untrusted_types(path) == [name]
    with pytest.raises(UntrustedTypesError, match=rf"does not trust: {name}\..*trusted=") as e:
        load(path)
    assert e.value.untrusted == [name]
    # trusting it explicitly is the way out
    loaded = load(path, trusted=[name])
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_pickle_is_not_a_skops_file(fitted, tmp_path):
    joblib.dump(fitted[0], tmp_path / "m.joblib")
    with pytest.raises(ValueError, match="not a skops file.*allow_pickle=True.*runs code"):
        untrusted_types(tmp_path / "m.joblib")
    (tmp_path / "junk.skops").write_bytes(b"neither skops nor pickle")
    with pytest.raises(ValueError, match="junk.skops' is not a skops file"):
        load(tmp_path / "junk.skops")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load(tmp_path / "nothing.skops")


def test_joblib_round_trip_holds_no_torch_object(fitted, tmp_path):
    pipe, X, _ = fitted
    joblib.dump(pipe, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    globals_ = {arg for op, arg, _ in pickletools.genops(pickle.dumps(pipe))
                if op.name in ("GLOBAL", "STACK_GLOBAL", "SHORT_BINUNICODE", "BINUNICODE")
                and isinstance(arg, str) and arg.split(".")[0] in ("torch", "skorch")}
    assert not globals_


def test_history_with_values_json_cannot_write(fitted):
    clf = pickle.loads(pickle.dumps(fitted[0][-1]))
    clf.net_.history.record("custom", np.float32(0.5))
    clf.net_.history.record("tensor", torch.tensor([1.0, 2.0]))
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.history_[-1, "custom"] == 0.5 and loaded.history_[-1, "tensor"] == [1.0, 2.0]
    json.dumps(list(loaded.history_))


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_gpu_saved_model_loads_and_refits_on_cpu(fitted, tmp_path, monkeypatch, fmt):
    """Pretend the model was on CUDA when saved; on a CPU-only machine it predicts and refits."""
    pipe, X, y = fitted
    gpu = pickle.loads(pickle.dumps(pipe))
    gpu[-1].net_.device = "cuda"  # what a GPU-trained net records
    gpu.set_params(clf__device="cuda")
    path = tmp_path / f"gpu.{fmt}"
    dump(gpu, path) if fmt == "skops" else joblib.dump(gpu, path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="CUDA is not available"):
        loaded = load(path) if fmt == "skops" else joblib.load(path)
    clf = loaded[-1]
    assert clf.device == "cpu" and str(clf.net_.device) == "cpu"
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    loaded.fit(X, y)  # refit without hand edits
    assert loaded.predict_proba(X).shape == (len(X), 4)


class _RunsCode:
    """A pickle that writes a file when unpickled: what a malicious model can do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("name", ["m.joblib", "m.pkl", "m.pickle", "pickle.skops"])
def test_pickle_loads_only_with_allow_pickle(fitted, tmp_path, name):
    pipe, X, _ = fitted
    path, marker = tmp_path / name, tmp_path / "code-ran"
    joblib.dump([pipe, _RunsCode(marker)], path)
    with pytest.raises(PickleNotAllowedError, match=r"is a pickle: loading it runs code") as e:
        load(path)
    assert not marker.exists()  # refused before anything ran
    msg = str(e.value)
    assert repr(str(path)) in msg and "--allow-pickle" in msg
    assert "persistence.load(" in msg and "allow_pickle=True)" in msg
    assert isinstance(e.value, UntrustedTypesError)  # caught where untrusted files are
    loaded, handle = load(path, allow_pickle=True)
    handle.close()
    assert marker.exists()  # consent given: the pickle's code ran
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))


def test_the_refusal_shows_a_conversion_that_works(fitted, tmp_path, monkeypatch):
    pipe, X, _ = fitted
    joblib.dump(pipe, tmp_path / "m.joblib")
    with pytest.raises(PickleNotAllowedError) as e:
        load(tmp_path / "m.joblib")
    snippet = "\n".join(line[4:] for line in str(e.value).splitlines()
                        if line.startswith("    "))
    assert "persistence.dump(model, " in snippet
    monkeypatch.chdir(tmp_path)
    exec(snippet, {})  # the snippet, as printed
    converted = load(tmp_path / "m.skops")
    np.testing.assert_array_equal(converted.predict_proba(X), pipe.predict_proba(X))


def test_skops_file_named_like_a_pickle_loads_as_skops(fitted, tmp_path):
    pipe, X, _ = fitted
    dump(pipe, tmp_path / "m.joblib")
    with pytest.warns(UserWarning, match=r"m.joblib' is a skops file.*Rename it to 'm.skops'"):
        loaded = load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    # and its types are checked as any skops file's
    dump(Pipeline([("foreign", _Foreign())] + pipe.steps), tmp_path / "f.pkl")
    with pytest.warns(UserWarning, match="is a skops file"), \
            pytest.raises(UntrustedTypesError, match="_Foreign"):
        load(tmp_path / "f.pkl", allow_pickle=True)


def test_the_checked_bytes_are_the_loaded_bytes(fitted, tmp_path, monkeypatch):
    """The file is replaced by one holding an untrusted type between the type check
    and the load: what is loaded is still what was checked."""
    pipe, X, _ = fitted
    path, evil = tmp_path / "m.skops", tmp_path / "evil.skops"
    dump(pipe, path)
    dump(Pipeline([("foreign", _Foreign())] + pipe.steps), evil)
    real = skops.io.get_untrusted_types

    def check_then_swap(**kwargs):
        found = real(**kwargs)
        if evil.exists():
            os.replace(evil, path)  # an attacker wins the race
        return found

    monkeypatch.setattr(skops.io, "get_untrusted_types", check_then_swap)
    loaded = load(path)
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    np.testing.assert_array_equal(loaded.predict_proba(X), pipe.predict_proba(X))
    with pytest.raises(UntrustedTypesError, match="_Foreign"):  # the file did change
        load(path)
