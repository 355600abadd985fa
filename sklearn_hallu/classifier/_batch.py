"""The whitening and the transductive values of ``embedding_norm`` (statistics of the clips
classified together)."""

from __future__ import annotations

import warnings

import numpy as np
import torch

from ..nn import (
    centered_l2,
    class_prototypes,
    label_propagation,
    propagated_l2,
    prototype_logits,
    whitened_l2,
    whitening_stats,
)

__all__ = ["BATCH_NORMS", "batch_normalize", "batch_logits", "whitening_matrix",
           "stored_whitened"]

#: ``embedding_norm`` values whose statistics come from each call's clips, and what each
#: does with them (named in errors); every one starts with ``batch_`` (``check_inductive``)
BATCH_NORMS = ("batch_centered_l2", "batch_whitened_l2", "batch_propagated_l2",
               "batch_label_propagated_l2")
#: the norms whose clips are propagated along their own graph (``emb`` must be ``batch``)
PROPAGATED = ("batch_propagated_l2", "batch_label_propagated_l2")
_WHAT = {"batch_centered_l2": "centres the clips of an embed call on their own mean",
         "batch_whitened_l2": "whitens the clips of an embed call by their own mean and "
                              "covariance",
         "batch_propagated_l2": "smooths the clips of an embed call along their own "
                                "nearest-neighbour graph",
         "batch_label_propagated_l2": "smooths the clips of a call along their own "
                                      "nearest-neighbour graph and spreads the supports' "
                                      "labels along it"}


def batch_normalize(clf, emb, batch):
    """``clf.embedding_norm`` of raw embeddings ``emb`` with the statistics of the raw
    embeddings ``batch``: their mean (``batch_centered_l2``), or their mean and covariance
    (``batch_whitened_l2``); or, with ``batch_propagated_l2``, ``emb`` (which must be ``batch``)
    centred-L2 on the training clips' mean, then propagated among its own clips."""
    if len(batch) < 2:
        raise ValueError(
            f"embedding_norm={clf.embedding_norm!r} {_WHAT[clf.embedding_norm]}, so the "
            "call needs at least 2 "
            f"clips, got {len(batch)}. Embed the clips together in one call, or use "
            "embedding_norm='centered_l2'.")
    if clf.embedding_norm == "batch_whitened_l2":
        mean, whitening = whitening_stats(batch, clf.view_slices_)
        return whitened_l2(emb, mean, whitening, clf.view_slices_, clf.embedding_scale_)
    if clf.embedding_norm in PROPAGATED:  # the clips smoothed among themselves
        if emb is not batch:  # an internal contract: no user call gets here
            raise RuntimeError(f"batch_normalize: {clf.embedding_norm} needs emb is batch")
        return propagated_l2(
            centered_l2(emb, torch.from_numpy(clf.embedding_mean_), clf.view_slices_,
                        clf.embedding_scale_), clf.view_slices_, clf.embedding_scale_)
    centre = batch.double().mean(dim=0).to(batch.dtype)  # the same in any clip order
    return centered_l2(emb, centre, clf.view_slices_, clf.embedding_scale_)


def batch_logits(clf, X):
    """Logits under a batch norm: supports and queries normalised with the statistics of
    both (as when a whole split, supports included, is embedded in one call)."""
    if not hasattr(clf, "support_embeddings_"):
        raise ValueError(
            f"This {type(clf).__name__} kept no raw support embeddings, which "
            f"embedding_norm={clf.embedding_norm!r} needs. Give the support set again: "
            "fit_support(X_support, y_support), or refit.")
    raw = clf._raw_embed(X)
    sup = torch.from_numpy(clf.support_embeddings_)
    both = torch.cat([sup, raw])  # the statistics (or graph): supports and this call's clips
    out = batch_normalize(clf, both, both)  # one pass: every batch norm sees them together
    labels = torch.from_numpy(clf.support_labels_)
    logits = prototype_logits(out[len(sup):], class_prototypes(out[:len(sup)], labels,
                                                               len(clf.classes_)))
    if clf.embedding_norm != "batch_label_propagated_l2":
        return logits
    # the supports' labels spread along the graph of supports and queries; a query that no
    # support reaches keeps its prototype logits
    unknown = torch.full((len(raw),), -1, dtype=labels.dtype)
    score = label_propagation(out, torch.cat([labels, unknown]), len(clf.classes_))
    score = score[len(sup):]
    reached = score.max(dim=1).values > 0  # the log of a class no support reaches: -690
    return torch.where(reached[:, None], score.clamp_min(1e-300).log().to(logits.dtype),
                       logits)


#: the smallest pool measured for ``embedding_norm="whitened_l2"`` (:ref:`whitening`)
MIN_WHITENING_CLIPS = 10


def whitening_matrix(emb, view_slices, clf=None):
    """The whitening of ``embedding_norm="whitened_l2"`` from raw embeddings (float32).
    Warns when ``clf`` uses that norm and ``emb`` holds fewer clips than any measured pool."""
    if clf is not None and clf.embedding_norm == "whitened_l2" and len(emb) < MIN_WHITENING_CLIPS:
        warnings.warn(
            f"embedding_norm='whitened_l2': the whitening comes from {len(emb)} clips, fewer "
            f"than the {MIN_WHITENING_CLIPS} of the smallest pool measured (from 10 clips of "
            "other sounds of a new domain it beat centred-L2; the trained network needed "
            "about 100 to beat the same network untrained). Give fit_embedding_stats more "
            "unlabelled clips of the domain to classify.", UserWarning, stacklevel=4)
    return whitening_stats(emb, view_slices)[1].numpy().astype(np.float32)


def stored_whitened(clf, emb):
    """``"whitened_l2"``: ``emb`` centred and whitened by the statistics stored by ``fit``
    or :meth:`fit_embedding_stats` (inductive: no other clip of the call enters)."""
    if not hasattr(clf, "embedding_whitening_"):
        raise ValueError(
            f"embedding_norm='whitened_l2' needs a whitening, which this "
            f"{type(clf).__name__} lacks (saved before the option existed). Call "
            "fit_embedding_stats(X) with clips of the domain to classify, then "
            "fit_support(X_support, y_support).")
    return whitened_l2(emb, torch.from_numpy(clf.embedding_mean_),
                       torch.from_numpy(clf.embedding_whitening_), clf.view_slices_,
                       clf.embedding_scale_)
