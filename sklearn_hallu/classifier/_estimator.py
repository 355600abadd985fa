"""HalluAudioClassifier: the scikit-learn estimator (its skorch engine is ``_engine.py``)."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._compat import DocLinkMixin, Interval, StrOptions
from ..nn import POOLINGS, centered_l2, class_prototypes, embedding_stats, prototype_logits
from ..sampling import check_episode_feasible
from ..utils.validation import (
    check_labels,
    check_spec_augment,
    check_time_shift,
    check_two_classes,
    check_views,
)
from ._batch import BATCH_NORMS, batch_logits, batch_normalize, stored_whitened, whitening_matrix
from ._engine import (
    check_pools,
    make_net,
    resolve_crops,
    resolve_device,
    split_validation,
    torch_threads,
    validation_callbacks,
)
from ._persist import net_from_state, net_to_state
from ._pretrain import supervised_pretrain

__all__ = ["HalluAudioClassifier", "EMBEDDING_NORMS"]

#: the values of ``embedding_norm`` besides None; the ``batch_`` ones are transductive
EMBEDDING_NORMS = ("centered_l2", "whitened_l2", *BATCH_NORMS)


class HalluAudioClassifier(DocLinkMixin, ClassifierMixin, BaseEstimator):
    """Multi-view prototypical network trained with episodes (HalluAudio).

    One convolutional backbone per view of the input; a clip's embedding is the concatenation
    of its view embeddings, so the logit of class ``c``, ``-||e - p_c||^2``, is minus the sum
    over views of the squared distance to that view's prototype. With one view (3-D input)
    this is the plain prototypical network, the paper's baseline. By default
    (``embedding_norm="centered_l2"``) ``e`` and ``p_c`` are taken from embeddings centred
    on the training clips' mean, each view's part rescaled to one common norm; with
    ``embedding_norm=None`` they are the raw embeddings, the paper's metric; with
    ``embedding_norm="batch_centered_l2"`` the centre is the mean of the clips classified
    together in one call, ``"batch_whitened_l2"`` also whitens by their covariance,
    ``"batch_propagated_l2"`` smooths them along their neighbour graph, and
    ``"batch_label_propagated_l2"`` also classifies by label propagation (transductive).

    ``fit`` meta-trains the backbones on episodes drawn from ``y`` (unless
    ``train_backbone=False``), then stores one prototype per class of ``y``, so that
    ``predict`` answers among those classes. To classify classes never seen in training,
    give a labelled support set to :meth:`fit_support`, or, at the end of a Pipeline,
    ``pipe.set_params(<step>__train_backbone=False).fit(X_support, y_support)``: the
    backbones are kept, only the prototypes (and ``classes_``) change.

    Read more in the :doc:`User Guide </user_guide>`.

    Parameters
    ----------
    n_way : int, default=5
        Classes per training episode.
    k_shot : int, default=5
        Supports per class in a training episode.
    n_query : int, default=5
        Queries per class in a training episode.
    max_epochs : int, default=60
        Epochs of training (the paper's recipe).
    n_episodes : int or None, default=None
        Episodes per epoch; ``None`` draws as many as make one pass over the
        training clips (``ceil(n_samples / (n_way * (k_shot + n_query)))``).
    lr : float, default=0.01
        SGD learning rate (paper).
    momentum : float, default=0.9
        SGD momentum (paper).
    weight_decay : float, default=1e-4
        SGD weight decay (paper).
    lr_step : int, default=20
        The learning rate is multiplied by ``lr_gamma`` every ``lr_step`` epochs.
    lr_gamma : float, default=0.1
        Factor of each learning-rate step.
    channels : tuple of int, default=(64, 64, 64)
        Widths of the conv blocks, one each (the paper has three; Chou et al.'s are
        ``(128, 256, 384)``; ``benchmarks/bench_train.py`` measures the speed of each).
    pooling : {"time_mean", "time_mean_max", "time_mean_std", "flatten"}, \
            default="time_mean"
        How each backbone's last feature map becomes a vector: averaged over time (the
        embedding ignores when the sound happens; Chou et al. pool over time too), the
        mean plus the maximum over time (PANNs' pooling), the mean and the standard
        deviation over time side by side (twice the size), or flattened
        (:func:`sklearn_hallu.nn.pool_feature_map`).
    time_pool, freq_pool : tuple of int or None, default=None
        Max pooling along time / frequency of each conv block
        (:func:`sklearn_hallu.nn.block_pools`); ``None``: 4 in each (160 frames -> 3
        cells, 128 mel rows -> 2). ``time_pool=(4, 4, 1)``: ``pooling`` averages 10
        cells; ``freq_pool=(4, 4, 2)``: 4 mel cells, twice the embedding. New in 0.2.0.
    time_shift : (int, int) or None, default=None
        Roll training clips circularly along time by a random number of frames
        in ``[low, high]`` (Chou et al. use (20, 139) for 160 frames).
    time_shift_per : {"clip", "episode"}, default="clip"
        Draw one shift for every clip, or one for the whole episode. Per clip
        was better on the validation classes (:doc:`/results`).
    spec_augment : dict or None, default=None
        SpecAugment during training (Park et al. 2019): ``{"freq": (n_masks,
        max_width), "time": (n_masks, max_width)}`` blanks, in every training clip,
        ``n_masks`` bands of up to ``max_width`` mel rows (``"freq"``) or frames
        (``"time"``); blanked cells read as the training mean. Prediction is
        never augmented.

        .. versionadded:: 0.2.0
    pretrain_epochs : int, default=0
        Before episodic training, train the backbones with a linear head and
        cross-entropy over the training classes for this many passes over the
        training clips (batches of ``batch_size``, the same augmentations, the
        learning rate from ``lr`` to 0 on a cosine); the head is then dropped.
        0: episodic training only (the paper). ``pretrain_history_`` records it.

        .. versionadded:: 0.2.0
    per_view_weight : float, default=1.0
        Weight of an extra loss that makes each view's branch classify alone (the paper
        has none, 0.0; 1.0 was better on the validation classes: :doc:`/results`).
    embedding_norm : {"centered_l2", "whitened_l2", "batch_centered_l2", \
            "batch_whitened_l2", "batch_propagated_l2", "batch_label_propagated_l2"} \
            or None, default="centered_l2"
        How prediction compares embeddings. ``"centered_l2"``: subtract the training
        clips' mean embedding, then give each view's part the same norm (SimpleShot's
        centring and L2 normalisation; better on both validation splits,
        :doc:`/results`). ``"batch_centered_l2"``: the same, but at each
        ``predict``/``predict_proba``/``decision_function`` call the centre is the mean
        raw embedding of the support clips (kept from ``fit`` or :meth:`fit_support`)
        and the call's clips together, and the prototypes are made again with it; at
        an ``embed`` call it is the mean of the call's clips (at least 2). Transductive:
        a clip's answer depends on the other clips of the call, so classify a folder of
        new recordings in one call. No gain on ESC-50's own classes; about +1.8
        points on sounds unlike them (spoken words, :ref:`batch-centre`).
        ``"batch_whitened_l2"``: as ``"batch_centered_l2"``, and the same clips' covariance
        whitens each view (:func:`~sklearn_hallu.nn.whitened_l2`): on spoken words, 450
        clips (30 classes) a call, +16 / +22 points (5-way 1- / 5-shot, 8 shifts) over
        ``"centered_l2"``; 5-10 classes a call: -3 to -10 in 1-shot; in-domain: -12 to -27.
        ``"whitened_l2"``: inductive, the mean and covariance stored by ``fit`` or
        :meth:`fit_embedding_stats` (for a new domain, an unlabelled pool of its clips:
        5-class calls gained +16.9 / +20.0 on spoken words, :ref:`whitening`).
        ``"batch_propagated_l2"``: ``"centered_l2"``, then the same clips smoothed along
        their neighbour graph (:func:`~sklearn_hallu.nn.propagated_l2`): +3.4 points in
        5-way 1-shot on ESC-50's test classes, costs 1-5 off-domain (:ref:`propagation`).
        ``"batch_label_propagated_l2"``: those clips, each classified by label propagation
        from the supports along their graph (:func:`~sklearn_hallu.nn.label_propagation`;
        logits: the log of its scores), not by prototypes (:ref:`label-propagation`).
        The tools that embed in pieces (:func:`~sklearn_hallu.detection.detect_events`,
        :func:`~sklearn_hallu.predict_files`, :class:`~sklearn_hallu.open_set.OpenSetClassifier`)
        refuse the batch norms. ``None``: raw embeddings, the paper's metric (training
        always uses raw embeddings).

        .. versionadded:: 0.2.0
    test_time_shifts : int, default=1
        Test-time augmentation: a clip's embedding (for prototypes, predictions and
        the centring of ``embedding_norm``) is the mean of the embeddings of this many
        circular shifts of the clip along time, evenly spaced (8: 0, 20, ..., 140
        frames of 160). Costs that many forward passes per clip; 1 embeds the clip
        as it is. Training is not changed. With 8, validation accuracy rose 3-4
        points on ESC-50's validation classes and 0.4-1.5 on a second held-out split
        (``research/results/levers/tta.md``). Changed after ``fit``, it needs
        :meth:`fit_embedding_stats` and :meth:`fit_support` again (an error says so).

        .. versionadded:: 0.2.0
    crop_views : bool or list of (int, int, int, int), default=False
        Feed each view only the window ``(row_start, row_stop, frame_start,
        frame_stop)`` where it is unmasked. A list gives the windows, e.g. the
        fitted FrequencyMaskTransformer's ``view_windows_``; ``True`` finds them
        on the training data (where each view equals view 0). A variant of the
        model: faster, and a different function from the paper's masked views.
    standardize : bool, default=True
        Subtract the mean and divide by the standard deviation of the training
        spectrograms (view 0), learned in ``fit``.
    validation_classes : int, list of labels or None, default=None
        Hold these classes (or this many, drawn with ``random_state``) out of
        training, score them with episodes after every epoch (``valid_acc`` in
        the history) and keep the weights of the best epoch.
    val_n_way : int or None, default=None
        Classes per validation episode (default: ``min(n_way, n_classes)``).
    val_k_shot : int or None, default=None
        Supports per class in a validation episode (default: ``k_shot``).
    val_n_episodes : int, default=200
        Validation episodes scored after every epoch.
    patience : int or None, default=None
        Stop after this many epochs without a better ``valid_acc``; ``None``
        trains all ``max_epochs`` (which epoch is kept: ``checkpoint``).
    checkpoint : {"auto", "best", "best_after_last_drop"}, default="auto"
        Which epoch's weights ``fit`` keeps with ``validation_classes``: the best
        ``valid_acc`` of all epochs (``"best"``), or of the epochs after the last
        learning-rate drop (``lr_step``, ``"best_after_last_drop"``), which no early,
        noisy maximum can win. ``"auto"``: ``"best_after_last_drop"``, or ``"best"``
        when ``patience`` stops training early. On held-out probe classes (24 lever runs)
        the late rule was ahead of ``"best"`` by 0.4-0.8 points in 5-way 1-shot and
        1.2-2.5 in 5-shot, behind by 0.2-0.6 on the validation classes that ``"best"``
        maximises; read once on ESC-50's test classes by a rule fixed before the run:
        +0.56 baseline, +1.20 HalluAudio, 5 seeds; two other splits (:doc:`/beyond`).
        ``"best_after_last_drop"`` trains every epoch (``patience`` must be None).

        .. versionadded:: 0.2.0
           With ``"auto"`` as the default: a fit with ``validation_classes`` and no
           ``patience`` keeps a late epoch, where 0.1.0 kept the best of all epochs
           (``checkpoint="best"``).
    train_backbone : bool, default=True
        ``False``: ``fit`` keeps the current backbones (untrained ones, seeded
        by ``random_state``, if there are none) and only computes prototypes.
    batch_size : int, default=64
        Clips per forward pass when embedding for prediction.
    device : str, default="cpu"
        Torch device, e.g. ``"cuda"`` (a GPU-saved model loads on CPU as ``"cpu"``).
    channels_last : bool, default=True
        Channels-last memory format, faster convolutions on CPU.
    fuse_views : bool, default=False
        Compute the views' backbones as one network of grouped convolutions
        (``groups=n_views``): the same function as separate backbones. Off by
        default: it was not faster on CPU (the repository's
        ``benchmarks/bench_train.py`` compares both). Not used with ``crop_views``.
    n_threads : int or None, default=None
        Torch threads during fit and predict. ``None`` leaves torch's own: all cores, or
        ``cpu_count() // n_jobs`` in joblib's workers (``GridSearchCV(n_jobs=...)``; set it
        on Dask workers). A seeded fit repeats exactly only with the same thread count.
    callbacks : list of skorch callbacks or None, default=None
        Extra callbacks for the underlying skorch net.
    random_state : int, RandomState instance or None, default=None
        Seeds weights, episodes, time shifts and the validation classes.
    verbose : int, default=0
        0 silent, 1 one line per epoch, 2 also progress bars (episodes, then clips).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Labels ``predict`` answers among.
    prototypes_ : ndarray of shape (n_classes, embedding_dim)
        The prototype (mean embedding) of each class.
    n_views_ : int
        Views of the input (1 for 3-D input).
    n_features_in_ : int
        ``n_views * n_mels * n_frames`` of the training input.
    view_shape_ : tuple of int
        ``(n_views, n_mels, n_frames)`` of the training input.
    view_slices_ : list of slice
        Where each view's embedding lies.
    embedding_mean_ : ndarray of shape (embedding_dim,)
        Mean raw embedding of the clips of the last ``fit`` that built or trained the
        backbones (the held-out ``validation_classes`` left out); ``embedding_norm``
        centres on it. Support sets (``fit_support``, ``train_backbone=False``) keep it.
    embedding_scale_ : float
        Mean norm of those clips' centred view embeddings: each view's norm after
        ``"centered_l2"``.
    embedding_whitening_ : ndarray of shape (embedding_dim, embedding_dim)
        The whitening of ``"whitened_l2"`` from the same clips (block diagonal).
    prototypes_norm_ : str or None
        The ``embedding_norm`` the prototypes were made with (``"stale"``: before a
        :meth:`fit_embedding_stats` that changed the statistics).
    support_embeddings_ : ndarray of shape (n_support, embedding_dim)
        Only with a batch norm: the raw embeddings of the clips the
        prototypes come from (the last ``fit`` or :meth:`fit_support`); each prediction
        normalises them anew. ``prototypes_`` is then their prototypes normalised by
        their own statistics, for reading only: prediction does not use it.
    support_labels_ : ndarray of shape (n_support,)
        Only with a batch norm: each support clip's index in ``classes_``.
    prototypes_shifts_ : int
        The ``test_time_shifts`` the prototypes were made with.
    embedding_stats_shifts_ : int
        The ``test_time_shifts`` the centring (``embedding_mean_``) was computed with.
    net_ : skorch.NeuralNet
        The training engine; ``history_`` is its history.
    train_classes_ : ndarray
        Classes the backbones were trained on.
    validation_classes_ : ndarray
        Classes held out for validation (only with ``validation_classes``).
    pretrain_history_ : list of dict
        Per pre-training epoch: ``epoch``, ``loss``, ``acc`` (only with
        ``pretrain_epochs``).

    See Also
    --------
    fit_support : New classes at the end of a Pipeline, without retraining.
    sklearn_hallu.model_selection.FewShotScorer : Episodic scoring for
        ``cross_val_score`` and ``GridSearchCV``.
    sklearn_hallu.model_selection.few_shot_report : The paper's test protocol.

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
        "pooling": [StrOptions(set(POOLINGS))],
        "time_pool": [tuple, list, None],
        "freq_pool": [tuple, list, None],
        "time_shift": [tuple, list, None],
        "time_shift_per": [StrOptions({"clip", "episode"})],
        "spec_augment": [dict, None],
        "pretrain_epochs": [Interval(Integral, 0, None, closed="left")],
        "per_view_weight": [Interval(Real, 0, None, closed="left")],
        "embedding_norm": [StrOptions(set(EMBEDDING_NORMS)), None],
        "test_time_shifts": [Interval(Integral, 1, None, closed="left")],
        "crop_views": ["boolean", list, tuple],
        "standardize": ["boolean"],
        "validation_classes": [Interval(Integral, 1, None, closed="left"), list, tuple,
                               np.ndarray, None],
        "val_n_way": [Interval(Integral, 2, None, closed="left"), None],
        "val_k_shot": [Interval(Integral, 1, None, closed="left"), None],
        "val_n_episodes": [Interval(Integral, 1, None, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left"), None],
        "checkpoint": [StrOptions({"auto", "best", "best_after_last_drop"})],
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
        time_pool=None,
        freq_pool=None,
        time_shift=None,
        time_shift_per="clip",
        spec_augment=None,
        pretrain_epochs=0,
        per_view_weight=1.0,
        embedding_norm="centered_l2",
        test_time_shifts=1,
        crop_views=False,
        standardize=True,
        validation_classes=None,
        val_n_way=None,
        val_k_shot=None,
        val_n_episodes=200,
        patience=None,
        checkpoint="auto",
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
        self.time_pool = time_pool
        self.freq_pool = freq_pool
        self.time_shift = time_shift
        self.time_shift_per = time_shift_per
        self.spec_augment = spec_augment
        self.pretrain_epochs = pretrain_epochs
        self.per_view_weight = per_view_weight
        self.embedding_norm = embedding_norm
        self.test_time_shifts = test_time_shifts
        self.crop_views = crop_views
        self.standardize = standardize
        self.validation_classes = validation_classes
        self.val_n_way = val_n_way
        self.val_k_shot = val_k_shot
        self.val_n_episodes = val_n_episodes
        self.patience = patience
        self.checkpoint = checkpoint
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
    def _check_X(self, X, *, fitted=True):
        """Views; when ``fitted``, shaped as those the backbones were trained on."""
        if fitted:
            check_is_fitted(self, "prototypes_")
        shape = self.view_shape_ if fitted else None
        return check_views(X, view_shape=shape, estimator_name=type(self).__name__)

    def _check_y(self, y, n, *, support=False):
        y = check_labels(y, n, estimator_name=type(self).__name__)
        check_two_classes(y, support=support)
        return y

    # -------------------------------------------------------------- training
    def fit(self, X, y):
        """Meta-train the backbones on episodes from ``(X, y)``, then store prototypes.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Views from :class:`~sklearn_hallu.preprocessing.FrequencyMaskTransformer`,
            or spectrograms ``(n_clips, n_mels, n_frames)`` (one view).
        y : array-like of shape (n_clips,)
            Labels of any type (strings work).

        Returns
        -------
        self : HalluAudioClassifier
            The fitted classifier.
        """
        self._validate_params()
        keep_backbone = not self.train_backbone and hasattr(self, "net_")
        X = self._check_X(X, fitted=keep_backbone)
        y = self._check_y(y, len(X))
        check_time_shift(self.time_shift)
        check_pools(self.channels, self.time_pool, self.freq_pool)
        check_spec_augment(self.spec_augment)
        if self.checkpoint == "best_after_last_drop" and self.patience is not None:
            raise ValueError(
                f"checkpoint={self.checkpoint!r} keeps the best epoch after the last "
                f"learning-rate drop, so training cannot stop early: patience="
                f"{self.patience!r} must be None (or use checkpoint='best').")
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=3)
        with torch_threads(self.n_threads):
            trained_on = None
            if not keep_backbone:
                trained_on = self._train(X, y, seeds, np.random.RandomState(seeds[2]))
            self._set_prototypes(X, y, stats_from=trained_on)
        return self

    def _checkpoint_rule(self):
        """``checkpoint`` with ``"auto"`` resolved."""
        if self.checkpoint == "auto":
            return "best" if self.patience is not None else "best_after_last_drop"
        return self.checkpoint

    def _train(self, X, y, seeds, split_rng):
        train_mask = split_validation(y, self.validation_classes, split_rng)
        Xt, yt = X[train_mask], y[train_mask]
        self.view_shape_ = X.shape[1:]
        self.n_views_ = X.shape[1]
        self.n_features_in_ = int(np.prod(X.shape[1:]))
        training = self.train_backbone and self.max_epochs > 0
        if training:
            check_episode_feasible(yt, self.n_way, self.k_shot, self.n_query,
                                   what="the training classes of y")
        p = self.get_params(deep=False)
        p["checkpoint"] = self._checkpoint_rule()
        valid = None
        if self.validation_classes is not None and self.train_backbone:
            yv = y[~train_mask]
            valid = validation_callbacks(X[~train_mask], yv, p, seeds[2])
            self.validation_classes_ = np.unique(yv)
        net = make_net(p, Xt, crops=resolve_crops(self.crop_views, Xt), seeds=seeds,
                       n_train=len(yt), device=resolve_device(self.device),
                       valid_callbacks=valid)
        train_classes, yt_idx = np.unique(yt, return_inverse=True)
        if training and self.pretrain_epochs:
            self.pretrain_history_ = supervised_pretrain(
                net, Xt, yt_idx, epochs=self.pretrain_epochs, seed=seeds[0],
                rng=np.random.RandomState(seeds[1] + 1), batch_size=self.batch_size,
                verbose=self.verbose)
        if training:
            net.partial_fit(Xt, yt_idx.astype(np.int64))
        self.train_classes_ = train_classes
        self.view_slices_ = list(net.module_.view_slices)
        self.net_ = net
        return train_mask

    def _set_prototypes(self, X, y, stats_from=None):
        """Prototypes of ``(X, y)``; with ``stats_from`` (a mask: the clips the backbones
        trained on) also the embedding statistics. A support set never sets them."""
        classes, y_idx = np.unique(y, return_inverse=True)
        emb = self._clip_embeddings(X, progress=self.verbose >= 2)
        if stats_from is not None:
            self._set_embedding_stats(emb[torch.from_numpy(stats_from)])
        raw, emb = emb, self._normalize(emb)  # batch norms: the supports' own statistics
        protos = class_prototypes(emb, torch.from_numpy(y_idx.astype(np.int64)), len(classes))
        if self.embedding_norm in BATCH_NORMS:  # made again with each call's statistics
            self.support_embeddings_ = raw.numpy().astype(np.float32)
            self.support_labels_ = y_idx.astype(np.int64)
        else:
            self.__dict__.pop("support_embeddings_", None)
            self.__dict__.pop("support_labels_", None)
        self.prototypes_norm_ = self.embedding_norm
        self.prototypes_shifts_ = self.test_time_shifts
        self.classes_, self.prototypes_ = classes, protos.numpy().astype(np.float32)

    def fit_support(self, X, y):
        """Use a labelled support set as the classes to predict, backbones unchanged.

        How to classify classes never seen in training: ``classes_`` and
        ``prototypes_`` become those of ``(X, y)``. For a fitted Pipeline, use
        :func:`sklearn_hallu.fit_support`.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Views shaped as in ``fit``.
        y : array-like of shape (n_clips,)
            Labels of at least 2 classes.

        Returns
        -------
        self : HalluAudioClassifier
            The classifier, now predicting among ``np.unique(y)``.
        """
        check_is_fitted(self, "net_")
        X = self._check_X(X)
        y = self._check_y(y, len(X), support=True)
        with torch_threads(self.n_threads):
            self._set_prototypes(X, y)
        return self

    # ----------------------------------------------------- embedding statistics
    def _set_embedding_stats(self, emb):
        mean, scale = embedding_stats(emb, self.view_slices_)
        self.embedding_mean_, self.embedding_scale_ = mean.numpy(), scale
        self.embedding_stats_shifts_ = self.test_time_shifts
        if len(emb) >= 2:  # the whitening of "whitened_l2", from the same clips
            self.embedding_whitening_ = whitening_matrix(emb, self.view_slices_, self)

    def _clip_embeddings(self, X, progress=False):
        """Raw embeddings of checked views (a CPU tensor), averaged over
        ``test_time_shifts`` evenly spaced circular shifts along time (1: as they are)."""
        n = self.test_time_shifts
        if isinstance(n, bool) or not isinstance(n, Integral) or n < 1:  # set_params skips it
            raise ValueError(f"test_time_shifts must be an integer >= 1 (1: no shifts), got "
                             f"{n!r}. Set e.g. test_time_shifts=8.")
        emb = self.net_.forward_clips(X, progress=progress, desc="shift 1/" + str(n)
                                      if n > 1 else "prototypes")
        width = X.shape[-1]
        for j in range(1, n):
            emb = emb + self.net_.forward_clips(np.roll(X, j * width // n, axis=-1),
                                                progress=progress,
                                                desc=f"shift {j + 1}/{n}")
        return emb / n if n > 1 else emb

    def fit_embedding_stats(self, X):
        """Compute the statistics of ``embedding_norm`` (centre, scale, whitening) from clips.

        .. versionadded:: 0.2.0

        ``fit`` computes them from the clips the backbones were trained on. Call this on
        a model saved by sklearn-hallu 0.1.0, after changing ``test_time_shifts`` (the
        clips are embedded with the current shifts), or to take them from other clips:
        for ``"whitened_l2"``, unlabelled clips of the domain to classify (10 at least,
        more is better: :ref:`whitening`). Then give the support set again
        (:meth:`fit_support`): prototypes made with the old statistics are refused.

        Parameters
        ----------
        X : ndarray of shape (n_clips, n_views, n_mels, n_frames)
            Clips shaped as in ``fit``.

        Returns
        -------
        self : HalluAudioClassifier
            With new ``embedding_mean_``, ``embedding_scale_``, ``embedding_whitening_``.
        """
        X = self._check_X(X)
        with torch_threads(self.n_threads):
            self._set_embedding_stats(self._clip_embeddings(X))
        if getattr(self, "prototypes_norm_", None) in EMBEDDING_NORMS:
            self.prototypes_norm_ = "stale"
        return self

    def _normalize(self, emb):
        """Apply ``embedding_norm`` to raw embeddings (a CPU tensor)."""
        if self.embedding_norm is None:
            return emb
        if self.embedding_norm not in EMBEDDING_NORMS:  # set_params does not validate
            raise ValueError(f"embedding_norm must be one of {EMBEDDING_NORMS} or None, got "
                             f"{self.embedding_norm!r}.")
        if not hasattr(self, "embedding_scale_"):
            raise ValueError(
                f"embedding_norm={self.embedding_norm!r} needs the mean embedding of the "
                f"training clips, which this {type(self).__name__} lacks (it was saved by "
                "sklearn-hallu 0.1.0, before the option existed). Call "
                "fit_embedding_stats(X_train) with the clips it was trained on, or set "
                "embedding_norm=None, the metric it was made with.")
        self._check_stats_shifts()
        if self.embedding_norm in BATCH_NORMS:
            return batch_normalize(self, emb, emb)
        if self.embedding_norm == "whitened_l2":
            return stored_whitened(self, emb)
        return centered_l2(emb, torch.from_numpy(self.embedding_mean_), self.view_slices_,
                           self.embedding_scale_)

    def _check_stats_shifts(self):
        """Refuse a centring computed under other ``test_time_shifts``."""
        made_with = getattr(self, "embedding_stats_shifts_", 1)
        if self.embedding_norm is not None and made_with != self.test_time_shifts:
            raise ValueError(
                f"The centring of embedding_norm={self.embedding_norm!r} was computed with "
                f"test_time_shifts={made_with}, not the current {self.test_time_shifts}. "
                "Call fit_embedding_stats(X_train) with the clips the model was trained on, "
                f"then fit_support(X_support, y_support); or set test_time_shifts={made_with}.")

    # ------------------------------------------------------------- inference
    def _raw_embed(self, X):
        """Raw embeddings of the input, checked, a CPU tensor."""
        X = self._check_X(X)
        with torch_threads(self.n_threads):
            return self._clip_embeddings(X)

    def _embed(self, X):
        """Embeddings of checked input, normalised as ``embedding_norm`` says, a CPU tensor."""
        return self._normalize(self._raw_embed(X))

    def _logits(self, X):  # the one numpy -> torch -> numpy trip of prediction
        check_is_fitted(self, "prototypes_")
        self._check_stats_shifts()  # first: it names both steps of the way out
        made_with = getattr(self, "prototypes_norm_", None)
        if made_with != self.embedding_norm:
            raise ValueError(
                f"The prototypes of this {type(self).__name__} were made with "
                f"embedding_norm={made_with!r}, not the current {self.embedding_norm!r} "
                "('stale': before fit_embedding_stats). Give the support set again: "
                "fit_support(X_support, y_support), or refit.")
        shifts = getattr(self, "prototypes_shifts_", 1)
        if shifts != self.test_time_shifts:
            raise ValueError(
                f"The prototypes of this {type(self).__name__} were made with "
                f"test_time_shifts={shifts}, not the current {self.test_time_shifts}. Give "
                "the support set again: fit_support(X_support, y_support), or refit.")
        if self.embedding_norm in BATCH_NORMS:
            return batch_logits(self, X)
        return prototype_logits(self._embed(X), torch.from_numpy(self.prototypes_))

    def embed(self, X):
        """Compute the clips' embeddings: the views' embeddings concatenated.

        With ``embedding_norm="centered_l2"``, each view's part is centred on the
        training clips' mean and rescaled to a common norm, as prediction uses it;
        with ``"batch_centered_l2"`` the centre is the mean of ``X``'s clips, with
        ``"batch_whitened_l2"`` their mean and covariance whiten them, and with either
        ``"batch_*propagated_l2"`` they are smoothed along their own neighbour graph.

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
        ``embedding_norm`` says); with ``"batch_label_propagated_l2"``, log scores.

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
        """Label of the nearest prototype (or of label propagation) for each clip.

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

    @property
    def history_(self):
        """The skorch history of the last training: per-epoch losses, accuracies, times."""
        check_is_fitted(self, "net_")
        return self.net_.history

    # ------------------------------------------------------------- persistence
    def __getstate__(self):
        """State for pickling and :mod:`skops.io`: the net as arrays, not torch objects.

        Returns
        -------
        state : dict
            The estimator's ``__dict__`` with ``net_`` replaced by its plain data
            (key ``"_net_state"``).
        """
        state = super().__getstate__()
        if "net_" in state:
            state = dict(state)
            state["_net_state"] = net_to_state(state.pop("net_"))
        return state

    def __setstate__(self, state):
        """Build the net again from the plain data of :meth:`__getstate__`.

        A model saved on a CUDA device loads on a machine without CUDA: the net
        goes to the CPU and ``device`` becomes ``"cpu"`` (with a skorch
        ``DeviceWarning``), so that ``predict`` and ``fit`` work there. Models saved
        before ``embedding_norm`` or the pools existed keep what they were made with.

        Parameters
        ----------
        state : dict
            The output of :meth:`__getstate__`.
        """
        state = {"embedding_norm": None, "test_time_shifts": 1, "time_pool": None,
                 "freq_pool": None, **state}
        if "prototypes_" in state:
            state.setdefault("prototypes_norm_", None)
        net_state = state.pop("_net_state", None)
        super().__setstate__(state)
        if net_state is not None:
            self.net_, moved = net_from_state(net_state)
            if moved and str(self.device).startswith("cuda"):
                self.device = "cpu"
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.non_deterministic = False
        tags.classifier_tags.poor_score = True
        return tags
