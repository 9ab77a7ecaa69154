"""The course website (`make docs`): built from the notebooks as they are stored, then read back with an HTML parser.

One test builds the whole site (about a minute on 2 cores) and checks what a reader relies on: a page for every
notebook, every stored figure shown as an image and every Markdown table a notebook displays shown as a table, no
internal link that leads nowhere, an API page listing every name of each module's `__all__` (classes and functions
before constants), the sidebar in reading order with the check notebooks folded under one entry, search that ranks
the check notebooks last, code lines that wrap under their indentation, and nothing fetched from another host (math
included). The others check the pieces of tools/build_docs.py and tools/check_docs.py on small inputs, without
building. What a browser measures (code that fits a 1280-pixel window, search results in order) is `make docs-check`.
"""
import ast, base64, hashlib, json, re, sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit, unquote
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / 'tools'))
import build_docs


class Page(HTMLParser):
    "What the checks need from one HTML page: ids, links, images (and which sit in a cell's output), nav links."
    def __init__(self, path):
        super().__init__(convert_charrefs=True)
        self.ids, self.links, self.images, self.output_images, self.nav, self.next = set(), [], [], [], [], []
        self.output_tables, self.folded, self.api_kinds, self.code_lines = 0, [], [], []
        self._divs, self._navs, self._details, self._dls = [], 0, [], []
        self.feed(path.read_text(encoding='utf-8'))

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = (a.get('class') or '').split()
        if a.get('id'): self.ids.add(a['id'])
        if tag == 'a' and a.get('name'): self.ids.add(a['name'])
        if tag == 'div': self._divs.append(classes)
        if tag == 'nav': self._navs += 1
        for key in ('href', 'src'):
            if a.get(key) and tag in ('a', 'img', 'link', 'script', 'iframe', 'source'):
                self.links.append((tag, a[key]))
        if tag == 'img':
            self.images.append(a.get('src', ''))
            if any('cell_output' in c for c in self._divs): self.output_images.append(a.get('src', ''))
        if tag == 'a' and self._navs and {'reference', 'internal'} <= set(classes):
            self.nav.append(a.get('href'))
            if any(not is_open for is_open in self._details): self.folded.append(a.get('href'))  # in a closed <details>
        if tag == 'a' and 'right-next' in classes: self.next.append(a.get('href'))
        if tag == 'details': self._details.append('open' in a)
        if tag == 'table' and any('cell_output' in c for c in self._divs): self.output_tables += 1
        if tag == 'dl':
            if 'py' in classes and not any(self._dls): self.api_kinds.append(classes[-1])  # class, function, data
            self._dls.append('py' in classes)
        if tag == 'span' and 'bc-line' in classes and any('cell_input' in c for c in self._divs):
            self.code_lines.append(a.get('style', ''))

    def handle_endtag(self, tag):
        if tag == 'div' and self._divs: self._divs.pop()
        if tag == 'nav': self._navs -= 1
        if tag == 'details' and self._details: self._details.pop()
        if tag == 'dl' and self._dls: self._dls.pop()


def shown_images(nb_path):
    "sha256 of every image output of the cells a page shows (nbdev's `#| hide` and `#| output: false` hide some)."
    out = []
    for c in json.loads(nb_path.read_text())['cells']:
        if c['cell_type'] != 'code': continue
        tags, _ = build_docs.cell_tags(''.join(c['source']))
        if {'remove-cell', 'remove-output'} & set(tags): continue
        for o in c.get('outputs', []):
            for mime, data in o.get('data', {}).items():
                if mime.startswith('image/') and mime != 'image/svg+xml':
                    out.append(hashlib.sha256(base64.b64decode(''.join(data))).hexdigest())
    return out


def shown_markdown_tables(nb_path):
    "How many Markdown outputs with a table the cells a page shows display (`IPython.display.Markdown`)."
    n = 0
    for c in json.loads(nb_path.read_text())['cells']:
        if c['cell_type'] != 'code' or {'remove-cell', 'remove-output'} & set(build_docs.cell_tags(''.join(c['source']))[0]):
            continue
        n += sum(bool(re.search(r'^\|?\s*:?-{3,}', ''.join(o.get('data', {}).get('text/markdown', '')), re.M))
                 for o in c.get('outputs', []))
    return n


def module_all(py_path):
    for node in ast.parse(py_path.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', None) == '__all__' for t in node.targets):
            return ast.literal_eval(node.value)
    return []


def test_site(tmp_path):
    staged = build_docs.build(out=tmp_path / 'build', stage=tmp_path / 'stage')
    html = tmp_path / 'build' / 'html'
    pages = {p: Page(p) for p in html.rglob('*.html') if p.relative_to(html).parts[0] != '_static'}  # theme templates
    problems = []

    # a page for every notebook, each showing every figure its notebook stores
    notebooks = [build_docs.NBS / 'index.ipynb'] + staged['course'] + staged['appendices'] + staged['checks']
    assert len(staged['course']) >= 10, staged['course']
    for nb in notebooks:
        page = html / build_docs.staged_name(nb).with_suffix('.html')
        if page not in pages:
            problems.append(f"{nb.name}: no page {page.relative_to(html)}")
            continue
        shown = {hashlib.sha256((page.parent / unquote(src)).read_bytes()).hexdigest()
                 for src in pages[page].output_images if (page.parent / unquote(src)).is_file()}
        missing = [h[:12] for h in shown_images(nb) if h not in shown]
        if missing: problems.append(f"{nb.name}: {len(missing)} stored figure(s) not shown as images: {missing}")
        if pages[page].output_tables < shown_markdown_tables(nb):
            problems.append(f"{nb.name}: {shown_markdown_tables(nb)} Markdown tables displayed, "
                            f"{pages[page].output_tables} shown as tables")

    # no internal link leads nowhere (files and #anchors), and nothing is loaded from another host
    for path, page in pages.items():
        for tag, url in page.links:
            parts = urlsplit(url)
            if parts.scheme in ('http', 'https') or url.startswith('//'):
                if tag != 'a': problems.append(f"{path.relative_to(html)}: <{tag}> loads {url} from another host")
                continue
            if parts.scheme or url == '#': continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir(): target = target / 'index.html'
            if not target.is_file():
                problems.append(f"{path.relative_to(html)}: <{tag}> {url} leads nowhere")
            elif parts.fragment and target.suffix == '.html' and unquote(parts.fragment) not in pages[target].ids:
                problems.append(f"{path.relative_to(html)}: {url} has no #{parts.fragment} there")

    # an API page per module, listing every name of its __all__
    modules = sorted(p.stem for p in (ROOT / 'batch_curation').glob('*.py') if not p.name.startswith('_'))
    assert sorted(build_docs.module_notebooks(staged['course'] + staged['appendices'])) == modules
    for m in modules:
        page = html / 'api' / f'{m}.html'
        if page not in pages:
            problems.append(f"no API page for {m}")
            continue
        names = module_all(ROOT / 'batch_curation' / f'{m}.py')
        missing = [n for n in names if f'batch_curation.{m}.{n}' not in pages[page].ids]
        if missing: problems.append(f"api/{m}.html lacks {missing}")
        kinds = pages[page].api_kinds
        if 'data' in kinds and set(kinds[kinds.index('data'):]) != {'data'}:
            problems.append(f"api/{m}.html lists a class or function after a constant: {kinds}")
    assert not problems, '\n'.join(problems)

    # the sidebar lists the course in filename order, and each course page leads on to the next
    index = pages[html / 'index.html']
    order = [h.split('#')[0] for h in index.nav if h.split('#')[0] != 'index.html']
    course = [build_docs.staged_name(p).with_suffix('.html').as_posix() for p in staged['course']]
    assert [h for h in order if h in course] == course
    for a, b in zip(course, course[1:]):
        assert pages[html / a].next == [b], (a, pages[html / a].next)

    # the check notebooks: one entry of the sidebar (their own page), each of them folded under it
    checks = {build_docs.staged_name(p).with_suffix('.html').as_posix() for p in staged['checks']}
    assert checks and checks <= set(index.folded), sorted(checks - set(index.folded))
    assert [h for h in index.nav if h.startswith('checks/') and h not in index.folded] == ['checks/index.html']
    assert not [h for h in index.folded if h in course]  # the course itself is never folded away

    # search ranks the check notebooks after every other page (the scorer is part of the search page's scripts)
    scorer = (html / '_static/language_data.js').read_text()
    assert "startsWith('checks/')" in scorer and 'score - 1000' in scorer

    # each line of a code cell is a span that knows its indentation (so a long line wraps under itself)
    lines = pages[html / '05b_schemes.html'].code_lines
    assert lines and {'--indent: 0ch', '--indent: 4ch', '--indent: 8ch'} <= {l.strip(' ;') for l in lines}
    css = (html / '_static/course.css').read_text()
    assert 'white-space: pre-wrap' in css and 'text-indent' in css

    # the download button gives the notebook as it is in nbs/
    assert (html / '_sources/02_simclr.ipynb').read_bytes() == (build_docs.NBS / '02_simclr.ipynb').read_bytes()

    # math (NT-Xent) is left for MathJax, which the site serves itself
    page = (html / '02_simclr.html').read_text()
    assert 'class="math' in page and r'\mathcal{L}' in page  # NT-Xent, left for MathJax to typeset
    assert '_static/mathjax/tex-chtml.js' in page
    assert (html / '_static/mathjax/tex-chtml.js').stat().st_size > 100_000
    assert list((html / '_static/mathjax/output/chtml/fonts/woff-v2').glob('*.woff'))


def test_pages_found_by_pattern_in_reading_order(tmp_path):
    names = ['index.ipynb', '00_data.ipynb', '05b_schemes.ipynb', '05_criteria.ipynb', '05a_planted.ipynb',
             '10_more.ipynb', 'A2_speed.ipynb', 'A1_cache.ipynb', '_scratch.ipynb', 'checks/02_simclr.ipynb',
             'checks/_wip.ipynb']
    for n in names:
        (tmp_path / n).parent.mkdir(exist_ok=True)
        (tmp_path / n).write_text('{}')
    got = {k: [p.relative_to(tmp_path).as_posix() for p in v] for k, v in build_docs.notebook_pages(tmp_path).items()}
    assert got == {'course': ['00_data.ipynb', '05_criteria.ipynb', '05a_planted.ipynb', '05b_schemes.ipynb',
                              '10_more.ipynb'],
                   'appendices': ['A1_cache.ipynb', 'A2_speed.ipynb'], 'checks': ['checks/02_simclr.ipynb']}


def test_nbdev_directives_become_tags():
    assert build_docs.cell_tags('#| hide\nx = 1') == (['remove-cell'], 'x = 1')
    assert build_docs.cell_tags('#| export\ndef f(): pass') == ([], 'def f(): pass')
    assert build_docs.cell_tags('#|echo: false\n#| output: false\nplot()') == \
        (['remove-input', 'remove-output'], 'plot()')
    assert build_docs.cell_tags('#| code-fold: true\n#| slow\nrun()') == (['hide-input'], 'run()')
    assert build_docs.cell_tags('#| include: false\ny') == (['remove-cell'], 'y')


def test_links_point_at_the_site_or_the_repository(tmp_path):
    cfg = build_docs.settings()
    pages = {(build_docs.NBS / '02_simclr.ipynb').resolve(): Path('02_simclr.ipynb'),
             (build_docs.NBS / 'checks/02_simclr.ipynb').resolve(): Path('checks/02_simclr.ipynb')}
    stager = build_docs.Stager(tmp_path, pages, cfg)
    md = stager.markdown('see [the loss](02_simclr.ipynb#nt-xent), `02_simclr`, [configs](../configs), '
                         '![forest](../results/cifar10-cpu/forest.png), `[not](a link)` and [web](https://x.org)',
                         build_docs.NBS, Path('index.ipynb'))
    assert '[the loss](02_simclr.ipynb#nt-xent)' in md
    assert '[`02_simclr`](02_simclr.ipynb)' in md
    assert f"[configs]({cfg['git_url']}/tree/{cfg['branch']}/configs)" in md
    assert '![forest](results/cifar10-cpu/forest.png)' in md and (tmp_path / 'results/cifar10-cpu/forest.png').is_file()
    assert '`[not](a link)`' in md and '[web](https://x.org)' in md


def test_angle_brackets_in_comments_are_text():
    "A parameter comment such as 'src/<class>/<image>' is text on the API page: a browser reads <image> as an image."
    md = build_docs.ApiWriter(set()).md("a folder: src/<class>/<image>, or `x<y>`")
    assert md == "a folder: src/&lt;class&gt;/&lt;image&gt;, or `x<y>`"


def test_check_docs_orders_search_results_and_prints_the_code_figure():
    import check_docs
    assert check_docs.search_order(['05b_schemes.html', 'api/curation.html', 'checks/05b_schemes.html']) is None
    assert 'ranks above' in check_docs.search_order(['checks/05b_schemes.html', '05b_schemes.html'])
    assert 'ranks above' in check_docs.search_order(['05b_schemes.html', 'checks/x.html#a', 'api/curation.html'])
    assert 'no course page' in check_docs.search_order(['checks/05b_schemes.html'])
    line = check_docs.code_fit_line({'cells': 200, 'fit': 190, 'wrapped': 30, 'pages': 4})
    assert line.startswith('code cells at a 1280-pixel window: 95.0% (190 of 200 on 4 pages)') and '160 with every' in line


def test_api_pages_put_classes_and_functions_first_and_link_names_built_elsewhere(tmp_path):
    cfg = build_docs.settings()
    stager = build_docs.Stager(tmp_path, {}, cfg)
    pages = build_docs.stage_api(stager, tmp_path, ['runstate', 'learner'], {}, {})
    text = (tmp_path / 'api' / 'learner.md').read_text()
    entries = re.findall(r'^:{3,5}\{py:(\w+)\} (\w+)', text, re.M)
    kinds = [k for k, _ in entries]
    assert 'data' in kinds and set(kinds[kinds.index('data'):]) == {'data'}  # ORDER, METRICS after the classes
    assert 'HEADLINE' not in [n for _, n in entries]  # built in runstate: a link there, and an anchor here
    assert '<span id="batch_curation.learner.HEADLINE"></span><a href="runstate.html#batch_curation.runstate.HEADLINE">' in text
    assert [p.name for p in pages] == ['runstate.md', 'learner.md']
