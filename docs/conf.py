"""Sphinx configuration of the course site (built by ``make site``; see ``docs/build_site.py``).

Sphinx with myst-nb: the notebooks are executed at build time and their outputs and
figures rendered; the API reference is generated from the docstrings. Everything a page
loads is copied next to it (MathJax into ``_static/mathjax`` by ``docs/build_site.py``): no CDN.
"""

project = "blocks"
author = "the blocks authors"
html_title = "blocks: ResNeXt's block in three forms"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",  # the Google-style docstrings (Args, Returns, Raises)
    "sphinx.ext.mathjax",
]
exclude_patterns = [
    "_build",
    "**/.ipynb_checkpoints",
    "README.md",
    "figures/README.md",
    "benchmarks/README.md",
    "notebooks/exercises/solutions/README.md",
]

# The notebooks: run every time, in their own folder, a failing cell fails the build.
nb_execution_mode = "force"
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3  # README's sections get the anchors its links use

autosummary_generate = True
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_numpy_docstring = False

html_theme = "furo"  # its fonts and icons ship with it: nothing from outside
html_static_path = ["_static"]
mathjax_path = "mathjax/tex-chtml.js"  # relative: under _static, vendored from npm by docs/build_site.py
html_show_sphinx = False
