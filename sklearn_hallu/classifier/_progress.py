"""Progress bars (``verbose=2``): training episodes per epoch, clips of the prototype pass.

skorch's own ``ProgressBar`` counts batches of ``batch_size`` clips, which are
not what an episodic epoch is made of (it showed "6/6", then "10it"); these
bars count what the estimator does: episodes, then clips.
"""

from __future__ import annotations

import sys

import torch
from skorch.callbacks import Callback

__all__ = ["EpisodeProgressBar", "embed_clips"]


def _tqdm(**kwargs):
    from tqdm.auto import tqdm

    return tqdm(leave=False, file=sys.stderr, dynamic_ncols=True, **kwargs)


class EpisodeProgressBar(Callback):
    """A bar per epoch counting its training episodes, with the last loss and accuracy.

    The total is the net's episodes per epoch (``n_episodes``, or the number that
    makes one pass over the training clips), known before the first episode.
    """

    def on_epoch_begin(self, net, **kwargs):
        """Open the epoch's bar."""
        self.pbar_ = _tqdm(total=int(net.episodes_["n_episodes"]), unit="episode",
                           desc=f"epoch {len(net.history)}")

    def on_batch_end(self, net, training=False, **kwargs):
        """Count one training episode."""
        if not training or getattr(self, "pbar_", None) is None:
            return
        last = net.history[-1, "batches", -1]
        self.pbar_.set_postfix({k: f"{last[k]:.3f}" for k in ("train_loss", "train_acc")
                                if k in last}, refresh=False)
        self.pbar_.update()

    def on_epoch_end(self, net, **kwargs):
        """Close the epoch's bar."""
        if getattr(self, "pbar_", None) is not None:
            self.pbar_.close()
            self.pbar_ = None

    def __getstate__(self):
        """State without the open bar (tqdm objects do not pickle).

        Returns
        -------
        state : dict
            The callback's ``__dict__`` less ``pbar_``.
        """
        state = self.__dict__.copy()
        state.pop("pbar_", None)
        return state


def embed_clips(net, X, *, progress=False, desc="prototypes"):
    """Compute the embeddings of ``X`` with a bar counting clips when ``progress``.

    Parameters
    ----------
    net : skorch.NeuralNet
        The initialised net.
    X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
        Checked views.
    progress : bool, default=False
        Show a bar whose total is ``n_clips``.
    desc : str, default="prototypes"
        The bar's label.

    Returns
    -------
    emb : torch.Tensor of shape (n_clips, embedding_dim)
        On the CPU, as ``net.forward(X)`` returns them.
    """
    if not progress:
        return net.forward(X)
    out = []
    with _tqdm(total=len(X), unit="clip", desc=desc) as bar:
        for emb in net.forward_iter(X, training=False, device="cpu"):
            out.append(emb)
            bar.update(len(emb))
    return torch.cat(out)
