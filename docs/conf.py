"""Sphinx configuration: numpydoc, autosummary, sphinx-gallery; builds offline."""

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import sklearn_hallu  # noqa: E402

project = "sklearn-hallu"
author = "sklearn-hallu developers"
copyright = "2026, sklearn-hallu developers"
release = version = sklearn_hallu.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]
autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
autodoc_default_options = {"members": True, "inherited-members": False}
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "sg_execution_times.rst"]
html_theme = "pydata_sphinx_theme"
html_title = "sklearn-hallu"
html_theme_options = {"navigation_with_keys": False, "icon_links": []}
html_static_path = []
suppress_warnings = ["config.cache"]

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"grid_search_esc50\.py",
    "download_all_examples": False,
    "plot_gallery": "True",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
}
