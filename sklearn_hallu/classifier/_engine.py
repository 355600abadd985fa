"""The skorch training engine of HalluAudioClassifier: episodic net, batches, callbacks.

The estimator (``_estimator.py``) validates input and keeps the fitted state;
everything here runs the training: the net whose training batches are
episodes, the in-memory episode iterator, the per-epoch callbacks, and the
function that assembles them from the estimator's parameters.
"""

from __future__ import annotations

import contextlib
import math
from numbers import Integral

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, LRScheduler
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.utils.data import DataLoader

from ..nn import (
    PrototypicalLoss,
    StandardizedEncoder,
    block_pools,
    random_time_shift,
    spec_augment,
)
from ..sampling import EpisodeSampler, check_episode_feasible
from ._callbacks import (
    BestEpochAfter,
    EpisodeProgressBar,
    EpisodicValidation,
    EpochSummary,
    progress_bar,
)

__all__ = [
    "EpisodicValidation",
    "make_net",
    "validation_callbacks",
    "split_validation",
    "resolve_crops",
    "resolve_device",
    "crop_windows",
    "torch_threads",
]


class _EpisodicNet(NeuralNet):
    """skorch net whose training batches are episodes (prediction is plain batching).

    Parameters
    ----------
    *args, **kwargs
        Those of :class:`skorch.NeuralNet`.
    spec : dict
        The plain values the net is built from (:func:`make_net`): the episode
        settings (``n_way``, ``k_shot``, ``n_query``, ``n_episodes``,
        ``time_shift``, ``time_shift_per``), the input's ``input_hw`` and the
        learning-rate schedule (``lr_step``, ``lr_gamma``).
    episode_rng : numpy.random.RandomState
        Draws the episodes and the time shifts.
    valid_callbacks : list of (str, Callback) or None, default=None
        Validation callbacks (scoring, then keeping the best epoch), run before
        skorch's loss scoring and log in every epoch.
    """

    def __init__(self, *args, spec, episode_rng, valid_callbacks=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.spec = spec
        self.episode_rng = episode_rng
        self.valid_callbacks = valid_callbacks

    def get_default_callbacks(self):
        """skorch's defaults with the validation after the epoch timer, then the
        epoch summary, the learning-rate steps and (``verbose >= 2``) a bar of episodes."""
        callbacks = list(super().get_default_callbacks())
        callbacks[1:1] = list(self.valid_callbacks or [])
        callbacks += [
            ("epoch_summary", EpochSummary()),
            ("lr_scheduler", LRScheduler(policy="StepLR", step_size=self.spec["lr_step"],
                                         gamma=self.spec["lr_gamma"])),
        ]
        if self.spec["verbose"] >= 2:
            callbacks.append(("progress", EpisodeProgressBar()))
        return callbacks

    def initialize_criterion(self, *args, **kwargs):
        super().initialize_criterion(*args, **kwargs)
        if getattr(self, "module_", None) is not None:
            self.criterion_.view_slices = self.module_.view_slices
        return self

    def initialize_module(self, *args, **kwargs):
        super().initialize_module(*args, **kwargs)
        self.module_.set_input_shape(*self.spec["input_hw"])
        if self.module_.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        if getattr(self, "criterion_", None) is not None:
            self.criterion_.view_slices = self.module_.view_slices
        return self

    def forward_clips(self, X, progress=False, desc="prototypes"):
        """``forward(X)``, with a bar counting the clips when ``progress`` (``verbose=2``).

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Checked views.
        progress : bool, default=False
            Show a bar whose total is ``n_clips``.
        desc : str, default="prototypes"
            The bar's label.

        Returns
        -------
        emb : torch.Tensor of shape (n_clips, embedding_dim)
            On the CPU, as ``forward(X)`` returns them.
        """
        if not progress:
            return self.forward(X)
        out = []
        with progress_bar(total=len(X), unit="clip", desc=desc) as bar:
            for emb in self.forward_iter(X, training=False, device="cpu"):
                out.append(emb)
                bar.update(len(emb))
        return torch.cat(out)

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        cfg = self.spec
        sampler = EpisodeSampler(
            dataset.y, cfg["n_way"], cfg["k_shot"], cfg["n_query"], cfg["n_episodes"],
            random_state=self.episode_rng,
        )
        if isinstance(dataset.X, np.ndarray) and isinstance(dataset.y, np.ndarray):
            return _ArrayEpisodes(dataset.X, dataset.y, sampler)
        return DataLoader(dataset, batch_sampler=sampler)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        shift = self.spec["time_shift"]
        if shift is not None:
            Xi = random_time_shift(Xi, tuple(shift), self.spec["time_shift_per"],
                                  self.episode_rng)
        masks = self.spec.get("spec_augment")  # absent in models saved before 0.2.0
        if masks:
            Xi = spec_augment(Xi, masks, self.episode_rng)
        emb = self.infer(Xi, **fit_params)
        loss = self.get_loss(emb, yi, X=Xi, training=True)
        loss.backward()
        self.history.record_batch("train_acc", self.criterion_.last_accuracy)
        return {"loss": loss, "y_pred": emb}


class _ArrayEpisodes:
    """Episodes gathered from in-memory arrays with one fancy index per batch.

    Equivalent to ``DataLoader(dataset, batch_sampler=sampler)`` on numpy
    arrays, without the per-clip ``__getitem__`` and collate overhead.
    """

    def __init__(self, X, y, sampler):
        self.X, self.y, self.sampler = X, y, sampler

    def __len__(self):
        return len(self.sampler)

    def __iter__(self):
        for idx in self.sampler:
            yield torch.from_numpy(self.X[idx]), torch.from_numpy(self.y[idx])


@contextlib.contextmanager
def torch_threads(n):
    """Run the block with ``n`` torch threads (``None``: leave the setting as is)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def crop_windows(X):
    """Per view, the window (rows, frames) where it equals view 0 on all of X.

    The fallback of ``crop_views=True`` when no band metadata is given: the
    windows are found by comparing each view with the whole spectrogram.
    """
    n, v, h, w = X.shape
    crops = [(0, h, 0, w)]
    for k in range(1, v):
        eq = (X[:, k] == X[:, 0]).all(axis=0)
        rows, cols = np.flatnonzero(eq.all(axis=1)), np.flatnonzero(eq.all(axis=0))
        if 0 < len(rows) < h:
            crops.append((int(rows[0]), int(rows[-1]) + 1, 0, w))
        elif 0 < len(cols) < w:
            crops.append((0, h, int(cols[0]), int(cols[-1]) + 1))
        else:
            crops.append((0, h, 0, w))
    return crops


def resolve_crops(crop_views, X):
    """The window of each view fed to its backbone, or None (``crop_views``).

    Parameters
    ----------
    crop_views : bool or list of (int, int, int, int)
        The estimator's parameter: explicit windows (e.g. the transformer's
        ``view_windows_``), or ``True`` to find them on ``X`` (:func:`crop_windows`).
    X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
        Training views.

    Returns
    -------
    crops : list of (int, int, int, int) or None
        One window per view; None when nothing is cropped.
    """
    n_views = X.shape[1]
    explicit = isinstance(crop_views, (list, tuple))
    if n_views == 1 or not (len(crop_views) if explicit else crop_views):
        return None
    if not explicit:  # True: no band metadata, compare the views on the data
        return crop_windows(X)
    crops = [tuple(int(v) for v in w) for w in crop_views]
    if len(crops) != n_views or any(len(w) != 4 for w in crops):
        raise ValueError(
            f"crop_views gives {len(crops)} windows for {n_views} views; give one "
            "(row_start, row_stop, frame_start, frame_stop) per view, e.g. the "
            "view_windows_ of the fitted FrequencyMaskTransformer."
        )
    return crops


def resolve_device(device):
    """``str(device)``, or a clear ValueError when CUDA is asked for but absent."""
    dev = str(device)
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} but CUDA is not available on this machine. Use device='cpu'."
        )
    return dev


def split_validation(y, validation_classes, rng):
    """Mask of the training clips: those not in the held-out validation classes.

    Parameters
    ----------
    y : ndarray of shape (n_clips,)
        Labels.
    validation_classes : int, list of labels or None
        The estimator's parameter: a number of classes drawn with ``rng``, the
        classes themselves, or None (no validation).
    rng : numpy.random.RandomState
        Draws the classes when ``validation_classes`` is a number.

    Returns
    -------
    train_mask : ndarray of shape (n_clips,), bool
        True for the clips to train on.
    """
    vc = validation_classes
    if vc is None:
        return np.ones(len(y), dtype=bool)
    classes = np.unique(y)
    if isinstance(vc, Integral):
        if vc >= len(classes):
            raise ValueError(
                f"validation_classes={vc} leaves no class to train on (y has "
                f"{len(classes)} classes). Hold out fewer classes."
            )
        held = rng.choice(classes, vc, replace=False)
    else:
        held = np.asarray(vc)
        missing = np.setdiff1d(held, classes)
        if missing.size:
            raise ValueError(
                f"validation_classes {missing.tolist()!r} are not labels of y. "
                f"Choose among {classes.tolist()[:10]!r}..."
            )
    return ~np.isin(y, held)


#: Estimator parameters the net is built from (kept, as plain values, in ``net.spec``).
_NET_PARAMS = (
    "n_way", "k_shot", "n_query", "channels", "pooling", "channels_last", "fuse_views",
    "per_view_weight", "lr", "momentum", "weight_decay", "lr_step", "lr_gamma", "max_epochs",
    "batch_size", "time_shift", "time_shift_per", "spec_augment", "verbose", "time_pool",
    "freq_pool",
)


def check_pools(channels, time_pool, freq_pool):
    """Raise a ValueError naming ``time_pool`` or ``freq_pool`` unless each gives one
    size per conv block."""
    block_pools(len(channels), time_pool, freq_pool)


def make_net(p, X, *, crops, seeds, n_train, device, valid_callbacks=None):
    """The initialised skorch net for the estimator parameters ``p`` and training views ``X``.

    Parameters
    ----------
    p : dict
        The estimator's ``get_params()``.
    X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
        Training views (their shape and, with ``standardize``, their view-0 statistics).
    crops : list of (int, int, int, int) or None
        Window of each view (``crop_views``).
    seeds : sequence of int
        Seeds of the weights (``seeds[0]``) and of the episodes and time shifts (``seeds[1]``).
    n_train : int
        Training clips (for the default number of episodes).
    device : str
        Torch device.
    valid_callbacks : list of (str, Callback) or None, default=None
        From :func:`validation_callbacks`.

    Returns
    -------
    net : skorch.NeuralNet
        Initialised, not trained. ``net.spec`` holds, as plain Python values,
        everything needed to build it again (``_persist.net_to_state``).
    """
    n_views, h, w = X.shape[1:]
    mean, std = 0.0, 1.0
    if p["standardize"]:
        mean, std = float(X[:, 0].mean()), float(X[:, 0].std()) or 1.0
    per_episode = p["n_way"] * (p["k_shot"] + p["n_query"])
    spec = {k: p[k] for k in _NET_PARAMS}
    spec.update(
        channels=tuple(int(c) for c in p["channels"]),
        time_pool=None if p["time_pool"] is None else tuple(int(t) for t in p["time_pool"]),
        freq_pool=None if p["freq_pool"] is None else tuple(int(f) for f in p["freq_pool"]),
        time_shift=None if p["time_shift"] is None else tuple(p["time_shift"]),
        spec_augment=None if not p["spec_augment"] else
        {k: tuple(int(v) for v in p["spec_augment"][k]) for k in sorted(p["spec_augment"])},
        n_episodes=p["n_episodes"] or max(1, math.ceil(n_train / per_episode)),
        n_views=int(n_views), input_hw=(int(h), int(w)), mean=mean, std=std, crops=crops,
    )
    net = _build_net(spec, rng=np.random.RandomState(seeds[1]), device=device,
                     extra_callbacks=p["callbacks"], valid_callbacks=valid_callbacks)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seeds[0])
        net.initialize()
    return net


def _build_net(spec, *, rng, device, extra_callbacks=None, valid_callbacks=None):
    """The (uninitialised) episodic net described by ``spec``."""
    net = _EpisodicNet(
        module=StandardizedEncoder, module__n_views=spec["n_views"],
        module__channels=tuple(spec["channels"]), module__crops=spec["crops"],
        module__channels_last=spec["channels_last"], module__pooling=spec["pooling"],
        module__fuse_views=spec["fuse_views"], module__mean=spec["mean"],
        module__std=spec["std"],
        # models saved before time_pool / freq_pool existed pooled 4 in every block
        module__time_pool=spec.get("time_pool"), module__freq_pool=spec.get("freq_pool"),
        criterion=PrototypicalLoss, criterion__n_way=spec["n_way"],
        criterion__k_shot=spec["k_shot"], criterion__per_view_weight=spec["per_view_weight"],
        optimizer=torch.optim.SGD, optimizer__momentum=spec["momentum"],
        optimizer__weight_decay=spec["weight_decay"], lr=spec["lr"],
        max_epochs=spec["max_epochs"], batch_size=spec["batch_size"], train_split=None,
        callbacks=list(extra_callbacks or []), device=device, verbose=spec["verbose"],
        spec=spec, episode_rng=rng, valid_callbacks=valid_callbacks,
    )
    return net


def validation_callbacks(Xv, yv, p, seed):
    """Callbacks that score held-out classes after every epoch and keep the best epoch.

    Parameters
    ----------
    Xv : ndarray of shape (n_clips, n_views, n_mels, n_frames)
        Clips of the validation classes.
    yv : ndarray of shape (n_clips,)
        Their labels.
    p : dict
        The estimator's ``get_params()``.
    seed : int
        Seeds the validation episodes.

    Returns
    -------
    list of (str, Callback)
        The scoring callback, then the one that keeps the best epoch's weights.
    """
    vway = p["val_n_way"] or min(p["n_way"], len(np.unique(yv)))
    vshot = p["val_k_shot"] or p["k_shot"]
    check_episode_feasible(yv, vway, vshot, 1, what="the validation classes")
    nq = max(1, min(5, min(np.unique(yv, return_counts=True)[1]) - vshot))
    validation = EpisodicValidation(Xv, yv, vway, vshot, nq, p["val_n_episodes"], seed)
    if p.get("checkpoint", "best") == "best_after_last_drop":
        last_drop = p["lr_step"] * ((p["max_epochs"] - 1) // p["lr_step"])
        best = BestEpochAfter(first_epoch=last_drop + 1)
    else:
        best = EarlyStopping(monitor="valid_acc", lower_is_better=False, threshold=0.0,
                             patience=p["patience"] or p["max_epochs"] + 1, load_best=True,
                             sink=print)
    return [("episodic_validation", validation), ("best_epoch", best)]
