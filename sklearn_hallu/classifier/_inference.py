"""Prediction of HalluAudioClassifier: embeddings, their normalisation, logits, labels."""

from __future__ import annotations

import torch
from sklearn.utils.validation import check_is_fitted

from ..nn import centered_l2, embedding_stats, prototype_logits
from ._engine import torch_threads

__all__ = ["PrototypeInferenceMixin"]


class PrototypeInferenceMixin:
    """Everything ``HalluAudioClassifier`` does once its backbones are trained.

    Relies on the estimator's ``net_``, ``prototypes_``, ``classes_``,
    ``view_slices_``, ``embedding_norm``, ``n_threads`` and ``_check_X``.
    """

    # ----------------------------------------------------- embedding statistics
    def _set_embedding_stats(self, emb):
        mean, scale = embedding_stats(emb, self.view_slices_)
        self.embedding_mean_, self.embedding_scale_ = mean.numpy(), scale

    def fit_embedding_stats(self, X):
        """Compute the centring of ``embedding_norm="centered_l2"`` from base clips.

        ``fit`` does this itself on the clips the backbones were trained on. Use it
        on a model saved before it existed (sklearn-hallu 0.1.0), or to centre on
        other base data; then give the support set again (:meth:`fit_support`), as
        prototypes made with the old statistics are refused.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Base clips, shaped as in ``fit`` (normally the training clips).

        Returns
        -------
        self : HalluAudioClassifier
            The classifier, with ``embedding_mean_`` and ``embedding_scale_``.
        """
        X = self._check_X(X)
        with torch_threads(self.n_threads):
            self._set_embedding_stats(self.net_.forward_clips(X))
        if getattr(self, "prototypes_norm_", None) == "centered_l2":
            self.prototypes_norm_ = "stale"
        return self

    def _normalize(self, emb):
        """Apply ``embedding_norm`` to raw embeddings (a CPU tensor)."""
        if self.embedding_norm is None:
            return emb
        if self.embedding_norm != "centered_l2":  # set_params does not validate
            raise ValueError(f"embedding_norm must be 'centered_l2' or None, got "
                             f"{self.embedding_norm!r}.")
        if not hasattr(self, "embedding_mean_"):
            raise ValueError(
                f"embedding_norm={self.embedding_norm!r} needs the mean embedding of the "
                f"training clips, which this {type(self).__name__} lacks (it was saved by "
                "sklearn-hallu 0.1.0, before the option existed). Call "
                "fit_embedding_stats(X_train) with the clips it was trained on, or set "
                "embedding_norm=None, the metric it was made with.")
        return centered_l2(emb, torch.from_numpy(self.embedding_mean_), self.view_slices_,
                           self.embedding_scale_)

    # ------------------------------------------------------------- inference
    def _embed(self, X):
        """Embeddings of checked input, normalised as ``embedding_norm`` says, a CPU tensor."""
        X = self._check_X(X)
        with torch_threads(self.n_threads):
            return self._normalize(self.net_.forward(X))

    def _logits(self, X):  # the one numpy -> torch -> numpy trip of prediction
        check_is_fitted(self, "prototypes_")
        made_with = getattr(self, "prototypes_norm_", None)
        if made_with != self.embedding_norm:
            raise ValueError(
                f"The prototypes of this {type(self).__name__} were made with "
                f"embedding_norm={made_with!r}, not the current {self.embedding_norm!r} "
                "('stale': before fit_embedding_stats). Give the support set again: "
                "fit_support(X_support, y_support), or refit.")
        return prototype_logits(self._embed(X), torch.from_numpy(self.prototypes_))

    def embed(self, X):
        """Compute the clips' embeddings: the views' embeddings concatenated.

        With ``embedding_norm="centered_l2"``, each view's part is centred on the
        training clips' mean and rescaled to a common norm, as prediction uses it.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Views shaped as in ``fit``.

        Returns
        -------
        emb : ndarray of shape (n_clips, embedding_dim)
            ``emb[:, view_slices_[v]]`` is view ``v``'s part.
        """
        return self._embed(X).numpy()

    def decision_function(self, X):
        """Compute the logits: minus the squared distance to each class prototype.

        Distances between embeddings as :meth:`embed` gives them (normalised as
        ``embedding_norm`` says).

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Views shaped as in ``fit``.

        Returns
        -------
        scores : ndarray of shape (n_clips, n_classes), or (n_clips,) for two classes
            Columns in order of ``classes_``; two classes: the score of ``classes_[1]``.
        """
        logits = self._logits(X).double()  # two classes: the log-odds, as scikit-learn wants
        return (logits[:, 1] - logits[:, 0]).numpy() if logits.shape[1] == 2 else logits.numpy()

    def predict_proba(self, X):
        """Softmax of the logits over ``classes_``.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Views shaped as in ``fit``.

        Returns
        -------
        proba : ndarray of shape (n_clips, n_classes)
            Probabilities (float64), columns in the order of ``classes_``.
        """
        return torch.softmax(self._logits(X).double(), dim=1).numpy()

    def predict(self, X):
        """Label of the nearest prototype (in ``classes_``) for each clip.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Views shaped as in ``fit``.

        Returns
        -------
        labels : ndarray of shape (n_clips,)
            Labels from ``classes_``.
        """
        nearest = self._logits(X).argmax(dim=1).numpy()  # checks first that self is fitted
        return self.classes_[nearest]
