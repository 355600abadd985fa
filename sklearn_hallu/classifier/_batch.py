"""The transductive values of ``embedding_norm``: statistics of the clips classified together."""

from __future__ import annotations

import torch

from ..nn import centered_l2, class_prototypes, prototype_logits, whitened_l2

__all__ = ["BATCH_NORMS", "batch_normalize", "batch_logits"]

#: ``embedding_norm`` values whose statistics come from each call's clips, and what each
#: does with them (named in errors); every one starts with ``batch_`` (``check_inductive``)
BATCH_NORMS = ("batch_centered_l2", "batch_whitened_l2")
_WHAT = {"batch_centered_l2": "centres the clips of an embed call on their own mean",
         "batch_whitened_l2": "whitens the clips of an embed call by their own mean and "
                              "covariance"}


def batch_normalize(clf, emb, batch):
    """``clf.embedding_norm`` of raw embeddings ``emb`` with the statistics of the raw
    embeddings ``batch``: their mean (``batch_centered_l2``), or their mean and covariance
    (``batch_whitened_l2``)."""
    if len(batch) < 2:
        raise ValueError(
            f"embedding_norm={clf.embedding_norm!r} {_WHAT[clf.embedding_norm]}, so the "
            "call needs at least 2 "
            f"clips, got {len(batch)}. Embed the clips together in one call, or use "
            "embedding_norm='centered_l2'.")
    if clf.embedding_norm == "batch_whitened_l2":
        return whitened_l2(emb, batch, clf.view_slices_, clf.embedding_scale_)
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
    both = torch.cat([sup, raw])  # the statistics: the supports and this call's clips
    protos = class_prototypes(batch_normalize(clf, sup, both),
                              torch.from_numpy(clf.support_labels_), len(clf.classes_))
    return prototype_logits(batch_normalize(clf, raw, both), protos)
