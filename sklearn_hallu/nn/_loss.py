"""The episode loss as a torch module, for skorch's ``criterion``."""

from __future__ import annotations

import torch

from ._prototypes import prototypical_loss

__all__ = ["PrototypicalLoss"]


class PrototypicalLoss(torch.nn.Module):
    """Episode loss for skorch: ``criterion_(embeddings, y)``.

    Batches come from :class:`~sklearn_hallu.sampling.EpisodeSampler`, ordered
    class by class, so the labels are not needed to find supports and queries.
    The accuracy of the last episode is kept in ``last_accuracy``.

    Parameters
    ----------
    n_way : int, default=5
        Classes per episode.
    k_shot : int, default=5
        Supports per class; the other clips of a class are its queries.
    per_view_weight : float, default=0.0
        Weight of the per-view losses (see :func:`prototypical_loss`); they need
        ``view_slices``, which the training engine sets from the encoder.
    temperature : float or None, default=None
        None: the paper's metric on raw embeddings; a number: a cosine metric with
        that temperature (see :func:`prototypical_loss`).
    """

    def __init__(self, n_way=5, k_shot=5, per_view_weight=0.0, temperature=None):
        super().__init__()
        self.n_way, self.k_shot, self.per_view_weight = n_way, k_shot, per_view_weight
        self.temperature = temperature
        self.view_slices = None
        self.last_accuracy = float("nan")

    def forward(self, emb, y=None):
        """Loss of one episode.

        Parameters
        ----------
        emb : Tensor of shape (n_way * (k_shot + n_query), dim)
            Embeddings of the episode's clips, class by class.
        y : Tensor or None, default=None
            Ignored (the order of the clips gives the classes).

        Returns
        -------
        loss : Tensor
            A scalar.
        """
        loss, acc = prototypical_loss(
            emb, self.n_way, self.k_shot, self.view_slices, self.per_view_weight,
            temperature=self.temperature)
        self.last_accuracy = acc.item()
        return loss
