"""The classifier's state as plain data: what pickles and skops files hold instead of torch.

``HalluAudioClassifier.__getstate__`` replaces the skorch net by the module's
weights as numpy arrays, the plain values that build the net again, and the
history as JSON; ``__setstate__`` builds the net again. A file written by
:func:`sklearn_hallu.persistence.dump` (or by joblib) then holds no torch or skorch
object.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import torch
from skorch.exceptions import DeviceWarning
from skorch.history import History

from ._engine import _build_net

__all__ = ["net_to_state", "net_from_state"]


def _plain(value):
    """A JSON stand-in for a history value json cannot write (numpy or torch scalars)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    return repr(value)


def net_to_state(net):
    """The fitted net as plain data: no torch object, no pickled code.

    Parameters
    ----------
    net : skorch.NeuralNet
        A net made by ``make_net`` (initialised, possibly trained).

    Returns
    -------
    state : dict
        ``spec`` (the plain values that build the net), ``weights`` (the
        module's ``state_dict`` as numpy arrays), ``device`` (where it was),
        ``rng`` (the episode RandomState) and ``history`` (the skorch history
        as a JSON string; values JSON cannot write are stored as lists or
        text). The optimizer state and the callbacks are not kept: a loaded
        net predicts, and ``fit`` builds a new one.
    """
    weights = {k: v.detach().cpu().numpy().copy() for k, v in net.module_.state_dict().items()}
    return {
        "spec": dict(net.spec),
        "weights": weights,
        "device": str(net.device),
        "rng": net.episode_rng,
        "history": json.dumps(list(net.history), default=_plain),
    }


def net_from_state(state):
    """Build the net stored by :func:`net_to_state` again, with its weights.

    The net goes to the device it was saved from; when that is a CUDA device and
    CUDA is not available here, it goes to the CPU with a skorch ``DeviceWarning``.

    Parameters
    ----------
    state : dict
        The output of :func:`net_to_state`.

    Returns
    -------
    net : skorch.NeuralNet
        Initialised, with the saved weights and history.
    moved : bool
        True when the net was moved from CUDA to the CPU.
    """
    device = str(state["device"])
    moved = device.startswith("cuda") and not torch.cuda.is_available()
    if moved:
        warnings.warn(
            f"The model was saved on device {device!r} but CUDA is not available here; "
            "it is loaded on the CPU and its device parameter set to 'cpu'.",
            DeviceWarning, stacklevel=4,
        )
        device = "cpu"
    net = _build_net(state["spec"], rng=state["rng"], device=device)
    with torch.random.fork_rng(devices=[]):  # the random init is overwritten: keep torch's RNG
        net.initialize()
    weights = {k: torch.from_numpy(np.array(v)) for k, v in state["weights"].items()}
    net.module_.load_state_dict(weights)
    net.history = History(json.loads(state["history"]))
    return net, moved
