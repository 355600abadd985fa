"""Where the API documentation lives (the estimators' HTML repr links to it).

The docs are built from ``docs/`` (``sphinx-build docs <out>``); ``docs/api.rst``
lists every public object with autosummary, which writes one page per object,
``gen_modules/<qualified name>.html``, e.g. ``gen_modules/sklearn_hallu.LogMelTransformer.html``.
"""

from __future__ import annotations

__all__ = ["DOCS_URL", "doc_url"]

#: Base URL of the built HTML docs (the folder holding ``index.html``), ending in "/".
#: The project has no published docs site yet: this is where Read the Docs would serve
#: them; change this one constant when they are published elsewhere.
DOCS_URL = "https://sklearn-hallu.readthedocs.io/en/latest/"


def doc_url(qualname):
    """URL of the API page of a public object.

    Parameters
    ----------
    qualname : str
        The name under which ``docs/api.rst`` documents it, e.g.
        ``"sklearn_hallu.LogMelTransformer"``.

    Returns
    -------
    str
        ``DOCS_URL + "gen_modules/" + qualname + ".html"``.
    """
    return f"{DOCS_URL}gen_modules/{qualname}.html"
