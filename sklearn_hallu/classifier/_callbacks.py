"""The callbacks of the episodic net: epoch summary, validation episodes, progress bars.

skorch's own ``ProgressBar`` counts batches of ``batch_size`` clips, which are
not what an episodic epoch is made of (it showed "6/6", then "10it"); the bars
here count what the estimator does: episodes, then clips.
"""

from __future__ import annotations

import copy
import sys
import time

import numpy as np
from skorch.callbacks import Callback

from ..sampling import episodic_accuracy

__all__ = ["EpochSummary", "EpisodicValidation", "EpisodeProgressBar", "BestEpochAfter"]


def progress_bar(**kwargs):
    from tqdm.auto import tqdm

    return tqdm(leave=False, file=sys.stderr, dynamic_ncols=True, **kwargs)


class EpisodeProgressBar(Callback):
    """A bar per epoch counting its training episodes, with the last loss and accuracy.

    The total is the net's episodes per epoch (``n_episodes``, or the number that
    makes one pass over the training clips), known before the first episode.
    """

    def on_epoch_begin(self, net, **kwargs):
        """Open the epoch's bar."""
        self.pbar_ = progress_bar(total=int(net.spec["n_episodes"]), unit="episode",
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


class EpochSummary(Callback):
    """Mean training accuracy of the epoch, and the time left (seconds)."""

    def on_epoch_end(self, net, **kwargs):
        accs = net.history[-1, "batches", :, "train_acc"]
        net.history.record("train_acc", float(np.mean(accs)))
        durs = net.history[:, "dur"]
        net.history.record(
            "time_left", float(np.mean(durs) * (net.max_epochs - len(net.history)))
        )


class EpisodicValidation(Callback):
    """Episodic accuracy on held-out classes after every epoch (``valid_acc``).

    The same episodes (fixed seed) are scored each epoch, so epochs compare on
    equal terms. The data is dropped when training ends.

    Parameters
    ----------
    X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
        Clips of the held-out classes.
    y : ndarray of shape (n_clips,)
        Their labels.
    n_way : int
        Classes per validation episode.
    k_shot : int
        Supports per class.
    n_query : int, default=5
        Queries per class.
    n_episodes : int, default=200
        Episodes scored after every epoch.
    random_state : int, default=0
        Seeds the episodes (the same every epoch).
    """

    def __init__(self, X, y, n_way, k_shot, n_query=5, n_episodes=200, random_state=0):
        self.X, self.y = X, y
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.n_episodes, self.random_state = n_episodes, random_state

    def on_epoch_end(self, net, **kwargs):
        """Record ``valid_acc`` and the seconds it took (``valid_s``) in the history."""
        t0 = time.perf_counter()
        emb = net.forward(self.X)
        res = episodic_accuracy(
            emb, self.y, n_way=self.n_way, k_shot=self.k_shot, n_query=self.n_query,
            n_episodes=self.n_episodes, random_state=self.random_state,
        )
        net.history.record("valid_acc", res.accuracy)
        net.history.record("valid_s", time.perf_counter() - t0)

    def on_train_end(self, net, **kwargs):
        """Drop the validation data."""
        self.X = self.y = None


class BestEpochAfter(Callback):
    """Keep the weights of the best ``valid_acc`` among epochs ``>= first_epoch``.

    ``checkpoint="best_after_last_drop"``: ``first_epoch`` is the first epoch after
    the last learning-rate drop, so an early maximum of a noisy validation score
    cannot be kept. Records ``valid_acc_best`` (True at the kept epoch so far).
    """

    def __init__(self, first_epoch=1):
        self.first_epoch = first_epoch

    def on_train_begin(self, net, **kwargs):
        self.best_score_, self.best_epoch_, self.best_state_ = None, None, None

    def on_epoch_end(self, net, **kwargs):
        epoch, score = len(net.history), net.history[-1, "valid_acc"]
        better = (epoch >= self.first_epoch
                  and (self.best_score_ is None or score > self.best_score_))
        net.history.record("valid_acc_best", bool(better))
        if better:
            self.best_score_, self.best_epoch_ = score, epoch
            self.best_state_ = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        if self.best_state_ is not None:
            net.module_.load_state_dict(self.best_state_)
            print(f"Restoring best model from epoch {self.best_epoch_} (the best after "
                  f"epoch {self.first_epoch - 1}).")
        self.best_state_ = None  # not saved with the model
