"""Sphinx configuration of the course website; `tools/build_docs.py` stages the sources and runs Sphinx with it."""
import configparser, importlib.metadata, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_cfg = configparser.ConfigParser(delimiters=['='])
_cfg.read(ROOT / 'settings.ini', encoding='utf-8')
_cfg = _cfg['DEFAULT']

project = _cfg['lib_name']
author = _cfg['author']
copyright = _cfg['copyright']
release = _cfg['version']

extensions = ['myst_nb', 'sphinx.ext.mathjax']
exclude_patterns = ['**.ipynb_checkpoints']
nb_execution_mode = 'off'  # pages show the outputs stored in the notebooks; nothing runs
nb_merge_streams = True
myst_enable_extensions = ['dollarmath', 'amsmath', 'colon_fence']
myst_dmath_double_inline = True
myst_heading_anchors = 3
toc_object_entries_show_parents = 'hide'
add_module_names = False
maximum_signature_line_length = 100  # longer signatures get one parameter a line
suppress_warnings = ['myst.header']  # a notebook that skips a heading level still reads fine

# Math is typeset in the browser by MathJax 3, served from the site itself (no CDN): the files come from the PyPI
# package sphinx-mathjax-offline, and only the parts a page loads are copied.
mathjax_path = 'mathjax/tex-chtml.js'
MATHJAX_PARTS = ['tex-chtml.js', 'input/tex/extensions', 'output/chtml/fonts/woff-v2', 'ui', 'a11y']


def copy_mathjax(app, exc):
    if exc is not None or app.builder.format != 'html': return
    package = importlib.metadata.distribution('sphinx-mathjax-offline')
    src = Path(package.locate_file('sphinx-mathjax-offline')) / 'static' / 'mathjax'
    dest = Path(app.outdir) / '_static' / 'mathjax'
    for part in MATHJAX_PARTS:
        (dest / part).parent.mkdir(parents=True, exist_ok=True)
        if (src / part).is_dir(): shutil.copytree(src / part, dest / part, dirs_exist_ok=True)
        else: shutil.copy2(src / part, dest / part)


def setup(app):
    app.connect('build-finished', copy_mathjax)


html_theme = 'sphinx_book_theme'
html_title = project
html_favicon = str(ROOT / 'docs' / '_static' / 'favicon.svg')
html_static_path = [str(ROOT / 'docs' / '_static')]
html_css_files = ['course.css']
html_last_updated_fmt = None
html_show_sourcelink = False
# one search box, in the header: the sidebar holds the logo and the pages
html_sidebars = {'**': ['navbar-logo.html', 'sbt-sidebar-nav.html']}
html_context = {'default_mode': 'light'}  # the figures are drawn on white
html_theme_options = {
    'repository_url': _cfg['git_url'],
    'repository_branch': _cfg.get('branch', 'main'),
    'path_to_docs': 'nbs',
    'use_repository_button': True,
    'use_download_button': True,
    'use_fullscreen_button': False,
    'home_page_in_toc': True,
    'show_navbar_depth': 1,
    'show_toc_level': 2,
    'navigation_with_keys': False,
}
