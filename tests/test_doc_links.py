"""The docs say what the code has: estimator links, the API page, the user guide."""

import re
from pathlib import Path

import pytest
from sklearn.pipeline import Pipeline
from sklearn.utils import estimator_html_repr

from sklearn_hallu import FrequencyMaskTransformer, HalluAudioClassifier, LogMelTransformer
from sklearn_hallu._docs import DOCS_URL

DOCS = Path(__file__).resolve().parent.parent / "docs"
API_RST = DOCS / "api.rst"
ESTIMATORS = [LogMelTransformer, FrequencyMaskTransformer, HalluAudioClassifier]


def documented_names():
    """Qualified names of the objects docs/api.rst gives a page (autosummary entries)."""
    names, module = set(), None
    for line in API_RST.read_text().splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line):
            module = m.group(1)
        elif m := re.match(r"   ([A-Za-z_]\w*)$", line):
            names.add(f"{module}.{m.group(1)}")
    return names


@pytest.mark.parametrize("Est", ESTIMATORS)
def test_html_repr_links_to_the_api_page(Est):
    qualname = f"sklearn_hallu.{Est.__name__}"
    assert qualname in documented_names()  # the page the docs build writes
    url = f"{DOCS_URL}gen_modules/{qualname}.html"
    assert Est()._get_doc_link() == url
    assert f'href="{url}"' in Est()._repr_html_()


def test_pipeline_html_repr_links_every_step():
    pipe = Pipeline([(E.__name__, E()) for E in ESTIMATORS])
    links = set(re.findall(r'href="([^"#]+)"', estimator_html_repr(pipe)))
    assert {f"{DOCS_URL}gen_modules/sklearn_hallu.{E.__name__}.html" for E in ESTIMATORS} <= links


def test_subclass_outside_the_package_gets_no_link():
    class MyTransformer(LogMelTransformer):
        pass

    assert MyTransformer()._get_doc_link() == ""  # scikit-learn's rule for other packages


def test_api_page_lists_every_exception_and_warning():
    from sklearn_hallu import exceptions

    ours = {f"sklearn_hallu.exceptions.{n}" for n in exceptions.__all__ if n != "NotFittedError"}
    assert {"sklearn_hallu.exceptions.SilentClipWarning",
            "sklearn_hallu.exceptions.AudioCroppedWarning"} <= ours
    assert ours <= documented_names()


def test_user_guide_gives_every_crop_option_and_the_default():
    from sklearn_hallu.preprocessing._audio import CROP_MODES

    guide = " ".join((DOCS / "user_guide.rst").read_text().split())
    assert all(f'"{mode}"' in guide for mode in CROP_MODES)
    assert 'LogMelTransformer(crop="start") (the default' in guide.replace("``", "")
    assert "(the beginning is kept)" not in guide
