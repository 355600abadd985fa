"""The paper's reproduction: ESC-50 Tables 1 and 2, Figures 3 and 4, with one command.

``--dataset kaggle18`` runs the same on FSDKaggle2018 curated as in the paper (its
Kaggle18 rows of Tables 1 and 2, with the paper's Kaggle18 recipe).

Research code around the library, kept in the repository and not installed
with it: ``python -m research.reproduce --help`` from a clone (``make
reproduce``). The stages: ``run`` (train or load, test, report), ``report``
(redraw a finished run from its results.json) and ``merge`` (join runs of other
seeds); ``experiments`` builds and scores the models, ``features`` the log-mel
cache, ``summary`` the numbers across seeds, ``paper`` the paper's tables.
"""

#: How a run names itself in results.json and results.md.
COMMAND = "python -m research.reproduce"
