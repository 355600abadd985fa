"""Episode sampling and episodic accuracy (sklearn_hallu.sampling)."""

import numpy as np
import pytest

from sklearn_hallu.sampling import episodic_accuracy, paper_episodes


def clustered(n_classes=8, n_per=10, dim=16, spread=0.01, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_classes, dim)) * 10
    y = np.repeat(np.arange(n_classes), n_per)
    return centres[y] + spread * rng.normal(size=(len(y), dim)), y


@pytest.mark.parametrize("protocol", ["random", "paper"])
def test_perfect_embedding_scores_one(protocol):
    emb, y = clustered()
    res = episodic_accuracy(emb, y, n_way=5, k_shot=1, protocol=protocol, n_repeats=2,
                            n_episodes=50, random_state=0)
    assert res.accuracy == 1.0


@pytest.mark.parametrize("n_way", [2, 5])
def test_random_embedding_scores_chance(n_way):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(8), 20)
    emb = rng.normal(size=(len(y), 32))
    res = episodic_accuracy(emb, y, n_way=n_way, k_shot=1, n_episodes=1000, random_state=0)
    assert abs(res.accuracy - 1 / n_way) < 0.03


def test_paper_protocol_episode_structure():
    y = np.repeat(np.arange(6), 7)
    classes, y_idx = np.unique(y, return_inverse=True)
    members = [np.flatnonzero(y_idx == c) for c in range(6)]
    rng = np.random.RandomState(0)
    support, target = paper_episodes(y_idx, members, n_way=5, k_shot=3, rng=rng)
    assert support.shape == (len(y), 5, 3)
    for i in range(len(y)):
        own = support[i, target[i]]
        assert i not in own and np.all(y[own] == y[i])
        cls = [set(y[support[i, j]]) for j in range(5)]
        assert all(len(c) == 1 for c in cls)  # each slot one class
        assert len(set().union(*cls)) == 5  # five different classes
    res = episodic_accuracy(np.eye(len(y)), y, n_way=5, k_shot=3, protocol="paper",
                            n_repeats=4, random_state=0)
    assert res.correct.size == 4 * len(y)  # every clip a query once per pass


def test_scorer_errors_name_the_numbers():
    emb, y = clustered(n_classes=3, n_per=4)
    with pytest.raises(ValueError, match=r"n_way=5 is larger than the number of classes.*\(3\)"):
        episodic_accuracy(emb, y, n_way=5)
    with pytest.raises(ValueError, match=r"fewer clips than the 6.*k_shot=5 \+ n_query=1"):
        episodic_accuracy(emb, y, n_way=3, k_shot=5, n_query=1)
    with pytest.raises(ValueError, match=r"fewer clips than the 5 .*the query itself"):
        episodic_accuracy(emb, y, n_way=3, k_shot=4, protocol="paper")
