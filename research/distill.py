"""A trained network taught again to a fresh one of the same shape (issue 23 lever; rule
``research/results/distill/RULES.md``).

Born-again networks (Furlanello et al. 2018) train a student of the teacher's own
architecture on the teacher's soft outputs beside the labels, and the student often beats
its teacher; Tian et al. (2020) found the same self-distillation worth 1-2 points in
few-shot image classification, on top of their embedding. Here the teacher is a trained
baseline of the same seed and the same training classes, and the soft outputs are its
episode's: for each query, the softmax at temperature ``T`` of minus its squared distances
to the episode's prototypes, the teacher's prototypes made from the teacher's embeddings
of the same (time-shifted) supports. Those spread each query's mass over the episode's
classes by how alike the teacher finds them, which the one-hot labels do not say.

:class:`EpisodeDistillation` replaces the net's training step when training begins, as
``research/decorrelate.py`` does. The loss is ``(1 - weight)`` times the library's
prototypical loss plus ``weight`` times ``T**2`` times ``KL(teacher || student)`` at
temperature ``T`` (Hinton et al. 2015's scaling, so the soft term's gradient does not
shrink with ``T``). The teacher runs in evaluation mode, without gradients. The step draws
nothing beyond the library's shifts, so a run's episodes and time shifts are those of
``base_ref`` of the same seed. The history's ``train_loss`` is the prototypical loss alone,
comparable with ``base_ref``'s; the soft term is recorded per batch as ``kd``.
"""

from __future__ import annotations

from pathlib import Path

import joblib
import torch
from sklearn.pipeline import Pipeline

from research.supcon import OwnTrainingStep
from sklearn_hallu.nn import prototype_logits

__all__ = ["query_logits", "soft_term", "EpisodeDistillation"]


def query_logits(emb, n_way, k_shot):
    """Logits ``-||q - p_c||^2`` of an episode's queries, and their classes.

    ``emb`` is ordered class by class, each class's ``k_shot`` supports first (as the
    library's episodes are). Returns ``(logits (n_way * n_query, n_way), own classes)``.
    """
    per_class = emb.reshape(n_way, -1, emb.shape[-1])
    protos = per_class[:, :k_shot].mean(1)
    n_query = per_class.shape[1] - k_shot
    logits = prototype_logits(per_class[:, k_shot:].reshape(n_way * n_query, -1), protos)
    return logits, torch.arange(n_way, device=emb.device).repeat_interleave(n_query)


def soft_term(student_logits, teacher_logits, temperature):
    """``T**2 * KL(softmax(teacher / T) || softmax(student / T))``, mean over queries."""
    t = float(temperature)
    log_s = torch.log_softmax(student_logits / t, dim=-1)
    log_t = torch.log_softmax(teacher_logits / t, dim=-1)
    return t * t * (log_t.exp() * (log_t - log_s)).sum(-1).mean()


class EpisodeDistillation(OwnTrainingStep):
    """At the start of training, add the teacher's soft episode outputs to each step's loss.

    Parameters
    ----------
    teacher : str or Path
        A joblib file of a fitted one-view baseline (HalluAudioClassifier) whose input has
        the student's shape.
    weight : float, default=0.5
        The soft term's share of the loss, in (0, 1).
    temperature : float, default=4.0
        The softmax temperature of both sides of the soft term.
    """

    def __init__(self, teacher, weight=0.5, temperature=4.0):
        if not 0 < weight < 1:
            raise ValueError(f"weight must be in (0, 1), got {weight!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be a positive number, got {temperature!r}")
        self.teacher, self.weight, self.temperature = teacher, float(weight), float(temperature)

    def _teacher_module(self, net):
        path = Path(self.teacher)
        if not path.is_file():
            raise FileNotFoundError(f"teacher model {path} not found: train the teacher first "
                                    "(research.ablation run --variants base_ref ...)")
        model = joblib.load(path)
        clf = model[-1] if isinstance(model, Pipeline) else model
        if len(clf.net_.module_.view_slices or [0]) > 1:
            raise ValueError(f"teacher {path} has several views; it must be a baseline")
        return clf.net_.module_.to(net.device).eval()

    def on_train_begin(self, net, **kwargs):
        self.check_plain_baseline(net)
        teacher = self._teacher_module(net)
        weight, temperature = self.weight, self.temperature
        n_way, k_shot = net.spec["n_way"], net.spec["k_shot"]

        def train_step_single(batch, **fit_params):
            Xi, yi, emb = self.embedded_batch(net, batch, net.episode_rng, **fit_params)
            proto = net.get_loss(emb, yi, X=Xi, training=True)
            with torch.no_grad():
                t_logits, _ = query_logits(teacher(Xi).flatten(1), n_way, k_shot)
            s_logits, _ = query_logits(emb.flatten(1), n_way, k_shot)
            kd = soft_term(s_logits, t_logits, temperature)
            ((1 - weight) * proto + weight * kd).backward()
            net.history.record_batch("train_acc", net.criterion_.last_accuracy)
            net.history.record_batch("kd", kd.item())
            return {"loss": proto.detach(), "y_pred": emb}

        net.train_step_single = train_step_single
