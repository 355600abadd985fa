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


# ------------------------------------ the paper's protocol on a hand-computed case
# 1-D embeddings. Class "a" = {0, 6}, "b" = {4, 4}, "c" = {100, 100}. With k_shot=1 a
# query's own support is the other clip of its class (the query itself excluded):
#   query 0 (a): own support 6 (distance 6), b's support 4 (distance 4) -> wrong
#   query 6 (a): own support 0 (distance 6), b's support 4 (distance 2) -> wrong
#   b and c queries: own support at distance 0 -> right
# so every pass scores exactly 4/6, whatever the draws; a query allowed to be its own
# support (or a target misplaced among the episode's classes) changes that.
HAND_EMB = np.array([[0.0], [6.0], [4.0], [4.0], [100.0], [100.0]])
HAND_Y = np.array(["a", "a", "b", "b", "c", "c"])


@pytest.mark.parametrize("chunk", [1, 4, 256])
def test_paper_protocol_exact_accuracy_by_hand(chunk):
    res = episodic_accuracy(HAND_EMB, HAND_Y, n_way=3, k_shot=1, protocol="paper",
                            n_repeats=20, random_state=0, chunk=chunk)
    np.testing.assert_array_equal(res.correct, np.tile([False, False, True, True, True, True],
                                                       20))
    np.testing.assert_array_equal(res.query_class, np.tile(HAND_Y, 20))
    assert res.accuracy == 4 / 6
    # 2-way: a's queries are wrong only when b is the other class of the episode
    res2 = episodic_accuracy(HAND_EMB, HAND_Y, n_way=2, k_shot=1, protocol="paper",
                             n_repeats=200, random_state=0, chunk=chunk)
    ok = res2.correct.reshape(200, 6)
    assert ok[:, 2:].all()
    assert 0.35 < ok[:, :2].mean() < 0.65  # b or c, each half of the time


@pytest.mark.parametrize("protocol", ["random", "paper"])
@pytest.mark.parametrize("n_way", [2, 5])
def test_constant_embeddings_score_exactly_chance(protocol, n_way):
    """All distances tie: only the target's random position decides, so chance."""
    y = np.repeat(np.arange(8), 12)
    res = episodic_accuracy(np.ones((len(y), 4)), y, n_way=n_way, k_shot=1, protocol=protocol,
                            n_query=5, n_episodes=800, n_repeats=40, random_state=0)
    assert abs(res.accuracy - 1 / n_way) < 0.03, res.accuracy


@pytest.mark.parametrize("protocol", ["random", "paper"])
def test_chunked_equals_unchunked(protocol):
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(6), 8)
    emb = rng.normal(size=(len(y), 5)) + y[:, None]  # partly separable: mixed outcomes
    kw = dict(n_way=4, k_shot=2, protocol=protocol, n_episodes=37, n_repeats=3,
              random_state=0)
    whole = episodic_accuracy(emb, y, chunk=10_000, **kw)
    assert 0.2 < whole.accuracy < 1.0
    for chunk in (1, 7):
        part = episodic_accuracy(emb, y, chunk=chunk, **kw)
        np.testing.assert_array_equal(part.correct, whole.correct)
        np.testing.assert_array_equal(part.query_class, whole.query_class)
        np.testing.assert_array_equal(part.episode_accuracy, whole.episode_accuracy)
