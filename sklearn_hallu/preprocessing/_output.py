"""``set_output`` for transformers whose output is 3-D or 4-D: NumPy only, said clearly."""

from __future__ import annotations

__all__ = ["ArrayOutputMixin"]

_CONTAINERS = ("default", "pandas", "polars")


class ArrayOutputMixin:
    """Accept ``set_output(transform="default")``; refuse DataFrame output with a reason.

    A DataFrame holds a 2-D table, and our transformers output 3-D or 4-D
    arrays, so they opt out of scikit-learn's output wrapping
    (``auto_wrap_output_keys=None``). scikit-learn then gives them no
    ``set_output`` at all, and ``Pipeline.set_output(transform="default")``
    fails. This mixin (put it before ``TransformerMixin`` in the bases) gives
    them one: ``"default"`` and ``None`` keep the NumPy output (a no-op);
    ``"pandas"`` and ``"polars"`` raise a ``ValueError`` that names the
    transformer and says why. The global ``sklearn.set_config(transform_output=...)``
    does not apply to these transformers: their output stays NumPy.
    ``_output_shape`` names the output's shape in the message.
    """

    _output_shape = "(n_clips, ...)"

    def set_output(self, *, transform=None):
        """Set the output container: only NumPy, ``"default"``, is possible.

        Parameters
        ----------
        transform : {"default", "pandas", "polars"} or None, default=None
            ``"default"`` or ``None``: NumPy output, as always (nothing changes).
            ``"pandas"`` and ``"polars"`` raise: a DataFrame cannot hold the
            3-D or 4-D output.

        Returns
        -------
        self : estimator instance
            The transformer, unchanged.
        """
        if transform is None or transform == "default":
            return self
        name = type(self).__name__
        if transform not in _CONTAINERS:
            raise ValueError(
                f"{name}.set_output got transform={transform!r}; it must be one of "
                f"{_CONTAINERS} or None."
            )
        raise ValueError(
            f"{name} cannot output a {transform} DataFrame (got set_output(transform="
            f"{transform!r})): its output is an array of shape {self._output_shape}, and a "
            "DataFrame holds only 2-D tables. Use set_output(transform='default') (NumPy) for "
            f"this step; in a Pipeline, call set_output on the steps after {name} that "
            "output tables, not on the whole Pipeline."
        )
