"""The one module that imports scikit-learn's private or version-dependent API."""

from sklearn.utils._param_validation import Interval, StrOptions

from ._docs import doc_url

__all__ = ["Interval", "StrOptions", "DocLinkMixin"]


class DocLinkMixin:
    """Point the "?" link of the estimator's HTML repr at our API page.

    scikit-learn's HTML repr (``_repr_html_``, shown in notebooks) links each
    estimator to its documentation through the private hooks
    ``_doc_link_module``, ``_doc_link_template`` and
    ``_doc_link_url_param_generator`` (scikit-learn >= 1.3); by default they
    build scikit-learn URLs, and give other packages no link at all. Put this
    mixin before ``BaseEstimator`` in the bases; ``_doc_link_public_module`` is
    the module ``docs/api.rst`` documents the class under, and the URL is
    :func:`sklearn_hallu._docs.doc_url`'s. Subclasses defined outside
    sklearn-hallu get no link (scikit-learn's rule).
    """

    _doc_link_module = "sklearn_hallu"
    _doc_link_public_module = "sklearn_hallu"
    _doc_link_template = doc_url("{qualname}")

    def _doc_link_url_param_generator(self):
        return {"qualname": f"{self._doc_link_public_module}.{type(self).__name__}"}
