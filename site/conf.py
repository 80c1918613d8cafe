"""Sphinx configuration of the rendered course (``make site``; staged by ``tools/site.py``).

The pages are the notebooks as ``course_utils.reports`` executed them: myst-nb reads
their stored outputs and never executes (``nb_execution_mode = "off"``). The site must
work offline, so nothing is loaded from another host: the theme ships its assets, and
math is turned into MathML while building (latex2mathml) instead of MathJax from a CDN.
"""

from __future__ import annotations

from docutils import nodes
from latex2mathml.converter import convert

REPOSITORY = "https://github.com/biomedia-course/dl3d-tensorflow"

project = "Deep learning on 3D biomedical images with TensorFlow"
author = "the course's authors"
copyright = "the course's authors, Apache-2.0"
root_doc = "README"  # the landing page is the repository's README (tools/site.py adds index.html)
extensions = ["myst_nb"]
exclude_patterns = ["_build", "**.ipynb_checkpoints"]

# MyST: $...$ math as in the notebooks; `#heading` anchors for links to sections.
myst_enable_extensions = ["dollarmath"]
myst_dmath_double_inline = True  # $$...$$ inside a paragraph is displayed math, as in Jupyter
myst_heading_anchors = 3

# myst-nb: show the outputs the report run stored; never execute.
nb_execution_mode = "off"
nb_merge_streams = True  # one block per cell for print() output written in pieces
nb_output_stderr = "show"  # warnings a learner would see too
nb_render_markdown_format = "myst"

html_theme = "sphinx_book_theme"
html_title = project
html_static_path = ["_static"]  # relative to this folder
html_css_files = ["course.css"]  # centred equations, long outputs scroll
html_favicon = "_static/favicon.svg"  # without one, browsers ask for /favicon.ico and get a 404
html_context = {"default_mode": "light"}  # the theme's script logs an error when none is set
html_last_updated_fmt = None
html_use_index = False  # the course defines no index entries: the Index page was empty
html_copy_source = True  # the download button offers the executed .ipynb itself ...
html_sourcelink_suffix = ""  # ... under its own name (not .ipynb.txt)
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",  # the staged tree mirrors the repository: notebooks/NN_x.ipynb
    "use_repository_button": True,
    "use_download_button": True,
    "show_toc_level": 2,
    "launch_buttons": {"colab_url": "https://colab.research.google.com",
                       "binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
}
html_math_renderer = "mathml"


def _inline_math(self, node: nodes.Element) -> None:
    """Write inline math as MathML (``self``: Sphinx's HTML translator)."""
    self.body.append(convert(node.astext()))
    raise nodes.SkipNode


def _block_math(self, node: nodes.Element) -> None:
    """Write a displayed equation as MathML (``self``: Sphinx's HTML translator)."""
    self.body.append(f'<div class="math notranslate">{convert(node.astext(), display="block")}</div>')
    raise nodes.SkipNode


def setup(app) -> None:
    """Register the build-time MathML renderer (``app``: the Sphinx application)."""
    app.add_html_math_renderer("mathml", (_inline_math, None), (_block_math, None))
