"""HalluAudioClassifier: a scikit-learn classifier whose training engine is skorch."""

from __future__ import annotations

import contextlib
import math
import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping, LRScheduler, ProgressBar
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.utils.data import DataLoader

from ._compat import Interval, StrOptions
from .nn._backbone import MultiViewEncoder
from .nn._prototypes import prototype_logits, prototypical_loss
from .preprocessing._audio import reject_sparse
from .sampling import EpisodeSampler, check_episode_feasible, episodic_accuracy

__all__ = ["HalluAudioClassifier"]


class PrototypicalLoss(torch.nn.Module):
    """Episode loss for skorch: ``criterion_(embeddings, y)``.

    Batches come from :class:`~sklearn_hallu.sampling.EpisodeSampler`, ordered
    class by class, so the labels are not needed to find supports and queries.
    The accuracy of the last episode is kept in ``last_accuracy``.
    """

    def __init__(self, n_way=5, k_shot=5, per_view_weight=0.0):
        super().__init__()
        self.n_way, self.k_shot, self.per_view_weight = n_way, k_shot, per_view_weight
        self.view_slices = None
        self.last_accuracy = float("nan")

    def forward(self, emb, y=None):
        loss, acc = prototypical_loss(
            emb, self.n_way, self.k_shot, self.view_slices, self.per_view_weight
        )
        self.last_accuracy = acc.item()
        return loss


class _EpisodicNet(NeuralNet):
    """skorch net whose training batches are episodes (prediction is plain batching).

    ``episodes_`` holds the sampler settings, set by HalluAudioClassifier.
    """

    def initialize_criterion(self, *args, **kwargs):
        super().initialize_criterion(*args, **kwargs)
        if getattr(self, "module_", None) is not None:
            self.criterion_.view_slices = self.module_.view_slices
        return self

    def initialize_module(self, *args, **kwargs):
        super().initialize_module(*args, **kwargs)
        self.module_.set_input_shape(*self.episodes_["input_hw"])
        if self.module_.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        if getattr(self, "criterion_", None) is not None:
            self.criterion_.view_slices = self.module_.view_slices
        return self

    def get_iterator(self, dataset, training=False):
        if not training:
            return super().get_iterator(dataset, training=False)
        cfg = self.episodes_
        sampler = EpisodeSampler(
            dataset.y, cfg["n_way"], cfg["k_shot"], cfg["n_query"], cfg["n_episodes"],
            random_state=cfg["rng"],
        )
        if isinstance(dataset.X, np.ndarray) and isinstance(dataset.y, np.ndarray):
            return _ArrayEpisodes(dataset.X, dataset.y, sampler)
        return DataLoader(dataset, batch_sampler=sampler)

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        Xi = to_tensor(Xi, device=self.device)
        shift = self.episodes_["time_shift"]
        if shift is not None:
            Xi = _random_time_shift(Xi, shift, self.episodes_["time_shift_per"],
                                    self.episodes_["rng"])
        emb = self.infer(Xi, **fit_params)
        loss = self.get_loss(emb, yi, X=Xi, training=True)
        loss.backward()
        self.history.record_batch("train_acc", self.criterion_.last_accuracy)
        return {"loss": loss, "y_pred": emb}


def _random_time_shift(X, shift, per, rng):
    """Roll ``X`` (..., n_frames) circularly along time by random frame counts.

    ``per="clip"`` draws one shift in ``[low, high]`` for every clip (all views of a
    clip move together) and applies them with one gather; ``per="episode"`` rolls
    the whole batch by a single draw.
    """
    lo, hi = shift
    if per == "episode":
        return torch.roll(X, int(rng.randint(lo, hi + 1)), dims=-1)
    n, w = X.shape[0], X.shape[-1]
    s = torch.from_numpy(rng.randint(lo, hi + 1, size=n)).to(X.device)
    idx = (torch.arange(w, device=X.device)[None, :] - s[:, None]) % w  # out[j] = x[j - s]
    idx = idx.reshape((n,) + (1,) * (X.ndim - 2) + (w,)).expand_as(X)
    return torch.gather(X, -1, idx)


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


class _EpochSummary(Callback):
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
    """

    def __init__(self, X, y, n_way, k_shot, n_query=5, n_episodes=200, random_state=0):
        self.X, self.y = X, y
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query
        self.n_episodes, self.random_state = n_episodes, random_state

    def on_epoch_end(self, net, **kwargs):
        emb = net.forward(self.X)
        res = episodic_accuracy(
            emb, self.y, n_way=self.n_way, k_shot=self.k_shot, n_query=self.n_query,
            n_episodes=self.n_episodes, random_state=self.random_state,
        )
        net.history.record("valid_acc", res.accuracy)

    def on_train_end(self, net, **kwargs):
        self.X = self.y = None


def _default_episodes(n_samples, n_way, k_shot, n_query):
    return max(1, math.ceil(n_samples / (n_way * (k_shot + n_query))))


@contextlib.contextmanager
def _torch_threads(n):
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _crop_windows(X):
    """Per view, the window (rows, frames) where it equals view 0 on all of X."""
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


class HalluAudioClassifier(ClassifierMixin, BaseEstimator):
    """Multi-view prototypical network trained with episodes (HalluAudio).

    One convolutional backbone per view of the input; a clip's embedding is the
    concatenation of its view embeddings, so the logit of class ``c``,
    ``-||e - p_c||^2``, is minus the sum over views of the squared distance to
    that view's prototype. With one view (3-D input) this is the plain
    prototypical network, the paper's baseline.

    ``fit`` meta-trains the backbones on episodes drawn from ``y`` (unless
    ``train_backbone=False``), then stores one prototype per class of ``y``, so
    that ``predict`` answers among those classes. To classify classes never
    seen in training, give a labelled support set to :meth:`fit_support`, or,
    at the end of a Pipeline, ``pipe.set_params(<step>__train_backbone=False)
    .fit(X_support, y_support)``: the backbones are kept, only the prototypes
    (and ``classes_``) change.

    Parameters
    ----------
    n_way, k_shot, n_query : int, default=5, 5, 5
        Training episodes: classes, supports per class, queries per class.
    max_epochs : int, default=60
        Epochs of training (the paper's recipe).
    n_episodes : int or None, default=None
        Episodes per epoch; ``None`` draws as many as make one pass over the
        training clips (``ceil(n_samples / (n_way * (k_shot + n_query)))``).
    lr, momentum, weight_decay : float, default=0.01, 0.9, 1e-4
        SGD settings (paper).
    lr_step, lr_gamma : int, float, default=20, 0.1
        The learning rate is multiplied by ``lr_gamma`` every ``lr_step`` epochs.
    channels : tuple of int, default=(64, 64, 64)
        Widths of the three conv blocks. 64 channels train a 3-view model on a
        2-core CPU at about 40 clips/s (``benchmarks/bench_train.py``); Chou et
        al.'s widths are ``(128, 256, 384)``.
    pooling : {"time_mean", "flatten"}, default="time_mean"
        How each backbone's last feature map becomes a vector: averaged over
        time (the embedding ignores when the sound happens; Chou et al. pool
        over time too), or flattened.
    time_shift : (int, int) or None, default=None
        Roll training clips circularly along time by a random number of frames
        in ``[low, high]`` (Chou et al. use (20, 139) for 160 frames).
    time_shift_per : {"clip", "episode"}, default="clip"
        Draw one shift for every clip, or one for the whole episode. Per clip
        was better on the validation classes (``benchmarks/ablation.py``).
    per_view_weight : float, default=0.0
        Weight of an extra loss that makes each view's branch classify alone.
    crop_views : bool, default=False
        Feed each band view only the window (mel rows, or frames) where it is
        unmasked, found on the training data. A variant of the model: faster,
        and a different function from the paper's full-size masked views.
    standardize : bool, default=True
        Subtract the mean and divide by the standard deviation of the training
        spectrograms (view 0), learned in ``fit``.
    validation_classes : int, list of labels or None, default=None
        Hold these classes (or this many, drawn with ``random_state``) out of
        training, score them with episodes after every epoch (``valid_acc`` in
        the history) and keep the weights of the best epoch.
    val_n_way, val_k_shot : int or None, default=None
        Validation episodes (default: ``min(n_way, n_classes)`` and ``k_shot``).
    val_n_episodes : int, default=200
    patience : int or None, default=None
        Stop after this many epochs without a better ``valid_acc``; ``None``
        trains all ``max_epochs`` and keeps the best.
    train_backbone : bool, default=True
        ``False``: ``fit`` keeps the current backbones (untrained ones, seeded
        by ``random_state``, if there are none) and only computes prototypes.
    batch_size : int, default=64
        Clips per forward pass when embedding for prediction.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"``. A model trained on a GPU unpickles on a
        CPU-only machine (with a skorch ``DeviceWarning``).
    channels_last : bool, default=True
        Channels-last memory format, faster convolutions on CPU.
    fuse_views : bool, default=False
        Compute the views' backbones as one network of grouped convolutions
        (``groups=n_views``): the same function as separate backbones. On the
        2-core CPU it was slower (38 vs 43 clips/s, ``benchmarks/bench_train.py``),
        so it is off by default. Not used with ``crop_views``.
    n_threads : int or None, default=None
        Torch threads during fit and predict (``None``: leave as is). A seeded
        fit repeats exactly only with the same thread count.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks for the underlying skorch net.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, episodes, time shifts and the validation classes.
    verbose : int, default=0
        0 silent, 1 one line per epoch, 2 also a progress bar per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels ``predict`` answers among.
    prototypes_ : ndarray of shape (n_classes, embedding_dim)
    n_views_ : int
    view_shape_ : tuple (n_views, n_mels, n_frames)
    view_slices_ : list of slice
        Where each view's embedding lies.
    net_ : skorch.NeuralNet
        The training engine; ``history_`` is its history.
    train_classes_ : ndarray
        Classes the backbones were trained on.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_hallu import HalluAudioClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(24, 3, 16, 16)).astype("float32")
    >>> y = np.repeat(["a", "b", "c"], 8)
    >>> clf = HalluAudioClassifier(n_way=3, k_shot=2, n_query=2, max_epochs=1,
    ...                            channels=(4, 4, 4), random_state=0).fit(X, y)
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {
        "n_way": [Interval(Integral, 2, None, closed="left")],
        "k_shot": [Interval(Integral, 1, None, closed="left")],
        "n_query": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 0, None, closed="left")],
        "n_episodes": [Interval(Integral, 1, None, closed="left"), None],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "momentum": [Interval(Real, 0, 1, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_step": [Interval(Integral, 1, None, closed="left")],
        "lr_gamma": [Interval(Real, 0, 1, closed="right")],
        "channels": [tuple, list],
        "pooling": [StrOptions({"time_mean", "flatten"})],
        "time_shift": [tuple, list, None],
        "time_shift_per": [StrOptions({"clip", "episode"})],
        "per_view_weight": [Interval(Real, 0, None, closed="left")],
        "crop_views": ["boolean"],
        "standardize": ["boolean"],
        "validation_classes": [Interval(Integral, 1, None, closed="left"), list, tuple,
                               np.ndarray, None],
        "val_n_way": [Interval(Integral, 2, None, closed="left"), None],
        "val_k_shot": [Interval(Integral, 1, None, closed="left"), None],
        "val_n_episodes": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "train_backbone": ["boolean"],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str, torch.device],
        "channels_last": ["boolean"],
        "fuse_views": ["boolean"],
        "n_threads": [Interval(Integral, 1, None, closed="left"), None],
        "callbacks": [list, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_way=5,
        k_shot=5,
        n_query=5,
        *,
        max_epochs=60,
        n_episodes=None,
        lr=0.01,
        momentum=0.9,
        weight_decay=1e-4,
        lr_step=20,
        lr_gamma=0.1,
        channels=(64, 64, 64),
        pooling="time_mean",
        time_shift=None,
        time_shift_per="clip",
        per_view_weight=0.0,
        crop_views=False,
        standardize=True,
        validation_classes=None,
        val_n_way=None,
        val_k_shot=None,
        val_n_episodes=200,
        patience=None,
        train_backbone=True,
        batch_size=64,
        device="cpu",
        channels_last=True,
        fuse_views=False,
        n_threads=None,
        callbacks=None,
        random_state=None,
        verbose=0,
    ):
        self.n_way = n_way
        self.k_shot = k_shot
        self.n_query = n_query
        self.max_epochs = max_epochs
        self.n_episodes = n_episodes
        self.lr = lr
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.lr_step = lr_step
        self.lr_gamma = lr_gamma
        self.channels = channels
        self.pooling = pooling
        self.time_shift = time_shift
        self.time_shift_per = time_shift_per
        self.per_view_weight = per_view_weight
        self.crop_views = crop_views
        self.standardize = standardize
        self.validation_classes = validation_classes
        self.val_n_way = val_n_way
        self.val_k_shot = val_k_shot
        self.val_n_episodes = val_n_episodes
        self.patience = patience
        self.train_backbone = train_backbone
        self.batch_size = batch_size
        self.device = device
        self.channels_last = channels_last
        self.fuse_views = fuse_views
        self.n_threads = n_threads
        self.callbacks = callbacks
        self.random_state = random_state
        self.verbose = verbose

    # ------------------------------------------------------------------ input
    def _check_X(self, X, *, fitting):
        if not fitting:
            check_is_fitted(self, "prototypes_")
        reject_sparse(X)
        if not hasattr(X, "shape") or not hasattr(X, "dtype"):
            X = np.asarray(X)
        if X.ndim <= 2:  # scikit-learn's own messages for 1-D, empty, complex, object
            X = check_array(X, dtype=np.float32, ensure_all_finite=False)
        if X.dtype.kind not in "biuf":
            raise TypeError(
                f"X must be a numeric array of spectrogram views, got dtype {X.dtype}. "
                "Put LogMelTransformer (and FrequencyMaskTransformer) before the classifier."
            )
        if X.ndim == 2:  # tabular input: one view, one row
            X = X[:, None, None, :]
        elif X.ndim == 3:  # one view: the plain prototypical network
            X = X[:, None]
        elif X.ndim != 4:
            raise ValueError(
                f"X must be 3-D (n_clips, n_mels, n_frames) or 4-D (n_clips, n_views, "
                f"n_mels, n_frames), got shape {X.shape}."
            )
        if X.shape[0] == 0:
            raise ValueError(f"X holds no clips (shape {X.shape}).")
        X = np.asarray(X, dtype=np.float32)
        # NaN is allowed only in band views (view >= 1): masked cells read as the
        # training mean (FrequencyMaskTransformer(fill="nan")).
        if np.isinf(X).any() or np.isnan(X[:, 0]).any():
            bad_cells = np.isinf(X).reshape(len(X), -1).any(axis=1)
            bad = np.flatnonzero(bad_cells | np.isnan(X[:, 0]).reshape(len(X), -1).any(axis=1))
            raise ValueError(
                f"X contains NaN or infinity in {bad.size} clip(s), first at index {bad[0]}. "
                "Check the audio (LogMelTransformer refuses such waveforms) or drop them."
            )
        if not fitting:
            if X.shape[1:] != self.view_shape_:
                raise ValueError(
                    f"X has {int(np.prod(X.shape[1:]))} features, but "
                    f"{type(self).__name__} is expecting {self.n_features_in_} features as "
                    f"input: views of shape {X.shape[1:]} (n_views, n_mels, n_frames) instead "
                    f"of {self.view_shape_}. Use the same transformers (and clip duration) "
                    "as in fit."
                )
        return X

    def _check_y(self, y, n):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None. "
                "Pass one label per clip."
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            import warnings

            from sklearn.exceptions import DataConversionWarning

            warnings.warn(
                "A column-vector y was passed when a 1d array was expected; it is raveled.",
                DataConversionWarning,
                stacklevel=3,
            )
            y = y.ravel()
        if y.dtype.kind == "f" and not np.all(np.mod(y, 1) == 0):
            raise ValueError(
                "Unknown label type: y holds continuous values; a classifier needs class "
                "labels (integers or strings)."
            )
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(
                f"y must be 1-D with one label per clip ({n}), got shape {y.shape}."
            )
        return y

    # -------------------------------------------------------------- training
    def _resolve_device(self):
        dev = str(self.device)
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} but CUDA is not available on this machine. "
                "Use device='cpu'."
            )
        return dev

    def _split_validation(self, y, rng):
        vc = self.validation_classes
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

    def _build_net(self, X, seeds, n_train):
        n_views, h, w = X.shape[1:]
        crops = _crop_windows(X) if self.crop_views and n_views > 1 else None
        if self.standardize:
            mean = float(X[:, 0].mean())
            std = float(X[:, 0].std()) or 1.0
        else:
            mean, std = 0.0, 1.0
        self.input_mean_, self.input_std_ = mean, std
        callbacks = [("epoch_summary", _EpochSummary())]
        callbacks.append(
            ("lr_scheduler", LRScheduler(policy="StepLR", step_size=self.lr_step,
                                         gamma=self.lr_gamma))
        )
        if self.verbose >= 2:
            callbacks.append(("progress", ProgressBar()))
        callbacks.extend(self.callbacks or [])
        net = _EpisodicNet(
            module=_StandardizedEncoder,
            module__n_views=n_views,
            module__channels=tuple(self.channels),
            module__crops=crops,
            module__channels_last=self.channels_last,
            module__pooling=self.pooling,
            module__fuse_views=self.fuse_views,
            module__mean=mean,
            module__std=std,
            criterion=PrototypicalLoss,
            criterion__n_way=self.n_way,
            criterion__k_shot=self.k_shot,
            criterion__per_view_weight=self.per_view_weight,
            optimizer=torch.optim.SGD,
            optimizer__momentum=self.momentum,
            optimizer__weight_decay=self.weight_decay,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            train_split=None,
            callbacks=callbacks,
            device=self._resolve_device(),
            verbose=self.verbose,
        )
        net.episodes_ = {
            "n_way": self.n_way,
            "k_shot": self.k_shot,
            "n_query": self.n_query,
            "n_episodes": self.n_episodes
            or _default_episodes(n_train, self.n_way, self.k_shot, self.n_query),
            "time_shift": None if self.time_shift is None else tuple(self.time_shift),
            "time_shift_per": self.time_shift_per,
            "rng": np.random.RandomState(seeds[1]),
            "input_hw": (h, w),
        }
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds[0])
            net.initialize()
        return net

    def fit(self, X, y):
        """Meta-train the backbones on episodes from ``(X, y)``, then store prototypes.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames) or (n_clips, n_mels, n_frames)
        y : array-like of shape (n_clips,)
            Any label type (strings work).

        Returns
        -------
        self : HalluAudioClassifier
        """
        self._validate_params()
        X = self._check_X(X, fitting=True)
        y = self._check_y(y, len(X))
        if len(np.unique(y)) < 2:
            only = np.unique(y)[0]
            raise ValueError(
                f"y has a single class ({only.item() if hasattr(only, 'item') else only!r}): "
                "the classifier can't train when only one class is present. Give clips of "
                "at least 2 classes."
            )
        if self.time_shift is not None and (
            len(self.time_shift) != 2 or not 0 <= self.time_shift[0] <= self.time_shift[1]
        ):
            raise ValueError(
                f"time_shift must be None or (low, high) with 0 <= low <= high, got "
                f"{self.time_shift!r}."
            )
        keep_backbone = not self.train_backbone and hasattr(self, "net_")
        if keep_backbone and X.shape[1:] != self.view_shape_:
            raise ValueError(
                f"X has views of shape {X.shape[1:]} but the backbones were trained on "
                f"{self.view_shape_}. Use the same transformers as for training."
            )
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=3)
        with _torch_threads(self.n_threads):
            if not keep_backbone:
                self._train(X, y, seeds, np.random.RandomState(seeds[2]))
            self._set_prototypes(X, y)
        return self

    def _train(self, X, y, seeds, split_rng):
        train_mask = self._split_validation(y, split_rng)
        Xt, yt = X[train_mask], y[train_mask]
        self.view_shape_ = X.shape[1:]
        self.n_views_ = X.shape[1]
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        if self.train_backbone and self.max_epochs > 0:
            check_episode_feasible(yt, self.n_way, self.k_shot, self.n_query,
                                   what="the training classes of y")
        net = self._build_net(Xt, seeds, len(yt))
        train_classes, yt_idx = np.unique(yt, return_inverse=True)
        if self.validation_classes is not None and self.train_backbone:
            Xv, yv = X[~train_mask], y[~train_mask]
            n_val_cls = len(np.unique(yv))
            vway = self.val_n_way or min(self.n_way, n_val_cls)
            vshot = self.val_k_shot or self.k_shot
            check_episode_feasible(yv, vway, vshot, 1, what="the validation classes")
            nq = max(1, min(5, min(np.unique(yv, return_counts=True)[1]) - vshot))
            net.callbacks_.insert(
                1,
                ("episodic_validation",
                 EpisodicValidation(Xv, yv, vway, vshot, nq, self.val_n_episodes, seeds[2])),
            )
            net.callbacks_.insert(
                2,
                ("best_epoch",
                 EarlyStopping(monitor="valid_acc", lower_is_better=False, threshold=0.0,
                               patience=self.patience or self.max_epochs + 1,
                               load_best=True, sink=print)),
            )
            self.validation_classes_ = np.unique(yv)
        if self.train_backbone and self.max_epochs > 0:
            start = time.perf_counter()
            net.partial_fit(Xt, yt_idx.astype(np.int64))
            self.fit_time_ = time.perf_counter() - start
        self.train_classes_ = train_classes
        self.view_slices_ = list(net.module_.view_slices)
        self.net_ = net

    def _set_prototypes(self, X, y):
        emb = self._embed_checked(X)
        classes, y_idx = np.unique(y, return_inverse=True)
        protos = np.stack([emb[y_idx == c].mean(axis=0) for c in range(len(classes))])
        self.classes_ = classes
        self.prototypes_ = protos.astype(np.float32)

    def fit_support(self, X, y):
        """Use a labelled support set as the classes to predict, backbones unchanged.

        This is how to classify classes never seen in training: ``classes_`` and
        ``prototypes_`` are replaced by those of ``(X, y)``. In a fitted
        Pipeline, use ``pipe.set_params(<step>__train_backbone=False).fit(X, y)``
        (the transformers are stateless), or :func:`sklearn_hallu.fit_support`.

        Parameters
        ----------
        X : ndarray of views, shaped as in ``fit``
        y : array-like of shape (n_clips,), at least 2 classes

        Returns
        -------
        self : HalluAudioClassifier
        """
        check_is_fitted(self, "net_")
        X = self._check_X(X, fitting=False)
        y = self._check_y(y, len(X))
        if len(np.unique(y)) < 2:
            raise ValueError(
                f"The support set has a single class ({np.unique(y)[0]!r}); give "
                "labelled clips of at least 2 classes."
            )
        with _torch_threads(self.n_threads):
            self._set_prototypes(X, y)
        return self

    # ------------------------------------------------------------- inference
    def _embed_checked(self, X):
        emb = self.net_.forward(X)
        return emb.detach().cpu().numpy()

    def embed(self, X):
        """Embeddings ``(n_clips, embedding_dim)``: the views' embeddings concatenated.

        ``view_slices_[v]`` selects view ``v``'s part.
        """
        X = self._check_X(X, fitting=False)
        with _torch_threads(self.n_threads):
            return self._embed_checked(X)

    def decision_function(self, X):
        """Logits ``-squared distance`` to each class prototype, ``(n_clips, n_classes)``."""
        emb = torch.from_numpy(self.embed(X))
        return prototype_logits(emb, torch.from_numpy(self.prototypes_)).numpy()

    def predict_proba(self, X):
        """Softmax of the logits over ``classes_``, ``(n_clips, n_classes)``."""
        logits = torch.from_numpy(self.decision_function(X))
        return torch.softmax(logits.double(), dim=1).numpy()

    def predict(self, X):
        """Label of the nearest prototype (in ``classes_``) for each clip."""
        scores = self.decision_function(X)
        return self.classes_[np.argmax(scores, axis=1)]

    @property
    def history_(self):
        """skorch history of the last training (per-epoch losses, accuracies, time)."""
        check_is_fitted(self, "net_")
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        tags.classifier_tags.poor_score = True
        return tags


class _StandardizedEncoder(MultiViewEncoder):
    """MultiViewEncoder with the input standardisation learned in ``fit`` as buffers."""

    def __init__(self, n_views=1, channels=(64, 64, 64), crops=None, channels_last=True,
                 pooling="time_mean", fuse_views=False, mean=0.0, std=1.0):
        super().__init__(n_views, channels, crops, channels_last, pooling, fuse_views)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def forward(self, X):
        # masked (NaN) cells of band views read as the training mean: 0 here
        return super().forward(torch.nan_to_num((X - self.mean) / self.std, nan=0.0))
