"""Sphinx configuration of the course website; `tools/build_docs.py` stages the sources and runs Sphinx with it."""
import configparser, importlib.metadata, re, shutil
from pathlib import Path
from pygments.formatters import HtmlFormatter
from sphinx.highlighting import PygmentsBridge

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
nb_render_markdown_format = 'myst'  # a Markdown output (IPython.display.Markdown) shows its tables as tables
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


class LineFormatter(HtmlFormatter):
    "Each line of code in a span that knows its indentation: a line too long for the page wraps under itself."
    def wrap(self, source):
        def lines():
            for is_code, line in source:
                if not is_code:
                    yield is_code, line
                    continue
                body = line.rstrip('\n')
                text = re.sub(r'<[^>]*>', '', body)
                indent = len(text) - len(text.lstrip(' '))
                yield is_code, f'<span class="bc-line" style="--indent: {indent}ch">{body}</span>' + line[len(body):]
        return super().wrap(lines())


PygmentsBridge.html_formatter = LineFormatter  # code cells, outputs and API signatures alike (course.css)


def setup(app):
    app.connect('build-finished', copy_mathjax)


html_theme = 'sphinx_book_theme'
html_title = project
html_favicon = str(ROOT / 'docs' / '_static' / 'favicon.svg')
html_static_path = [str(ROOT / 'docs' / '_static')]
html_css_files = ['course.css']
html_last_updated_fmt = None
html_search_scorer = str(ROOT / 'docs' / 'search_scorer.js')  # the check notebooks after the course in search results
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
