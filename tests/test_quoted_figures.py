"""Figures written by hand in results/README.md and README.md match the tables `make report` generated.

The results page carries generated blocks (between `<!-- table: ... -->` and `<!-- end table -->`) and prose around
them that quotes their figures. A quoted interval `[a, b]` must be one of the generated intervals; a difference
quoted with its interval, `d [a, b]`, must be a generated row's difference with its 95% or family-wise interval; and
`d [a, b], Holm p q` (or `d [a, b] kNN (Holm p q)`) must carry that row's Holm p, to the digits quoted, and so
must `d, Holm p q`. Prose is read with line breaks folded into spaces, so a figure wrapped over two lines is still
checked.
"""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NUM = r'[+-]?\d+\.\d+'
IV = rf'\[({NUM}), ({NUM})\]'
BLOCK = r'<!-- table: .*? -->(.*?)<!-- end table -->'


def generated_rows(page):
    "(difference, lo, hi) -> its Holm p's, for every row of a generated comparison table (95% and family-wise CI)."
    gen = ' '.join(re.findall(BLOCK, page, re.S))
    rows = {}
    for d, a, b, c, e, p, ph in re.findall(rf'\| ({NUM}) \| {IV} \| {IV} \| ({NUM}) \| ({NUM}) \|', gen):
        for key in ((d, a, b), (d, c, e)): rows.setdefault(key, set()).add(float(ph))
    return set(re.findall(IV, gen)), rows


def misquoted(page, others=()):
    "Every figure in the prose of `page` and of `others` that no generated table of `page` carries."
    intervals, rows = generated_rows(page)
    bad = []
    for text in [re.sub(BLOCK, ' ', page, flags=re.S), *others]:
        t = re.sub(r'\s+', ' ', text)
        bad += [m.group(0) for m in re.finditer(IV, t) if m.groups() not in intervals]
        bad += [m.group(0) for m in re.finditer(rf'({NUM}) {IV}', t) if m.groups() not in rows]
        for m in re.finditer(rf'({NUM}) {IV}[^)\[\];]*?Holm p ({NUM})', t):
            d, a, b, q = m.groups()  # a Holm p may be quoted to fewer digits than the table gives
            if (d, a, b) in rows and float(q) not in {round(x, len(q.split('.')[1])) for x in rows[(d, a, b)]}:
                bad.append(m.group(0))
        for m in re.finditer(rf'({NUM}), Holm p =? ?({NUM})', t):  # a difference quoted with its Holm p alone
            d, q = m.groups()
            ps = {round(x, len(q.split('.')[1])) for k, v in rows.items() if k[0] == d for x in v}
            if float(q) not in ps: bad.append(m.group(0))
    return bad


PAGE = """Intro.
<!-- table: x.md -->
| comparison | metric | seeds | difference | 95% CI | family-wise CI | p | p (Holm) |
|---|---|---|---|---|---|---|---|
| a - baseline | knn | 6 | -0.79 | [-0.97, -0.62] | [-1.06, -0.53] | 0.000 | 0.012 |
<!-- end table -->
"""


def test_figures_quoted_from_the_table_pass():
    prose = 'The mask costs -0.79\n[-0.97, -0.62] kNN (Holm p 0.01), family-wise [-1.06, -0.53].'
    assert misquoted(PAGE + prose) == []
    assert misquoted(PAGE, ['README: -0.79 [-1.06, -0.53].']) == []


def test_a_misquoted_figure_is_found():
    assert misquoted(PAGE + 'costs [-0.97, -0.61]') == ['[-0.97, -0.61]']  # an interval no table has
    assert misquoted(PAGE, ['-0.78 [-0.97, -0.62]']) == ['-0.78 [-0.97, -0.62]']  # the wrong difference
    assert misquoted(PAGE + '-0.79 [-0.97, -0.62], Holm p 0.021') == ['-0.79 [-0.97, -0.62], Holm p 0.021']
    assert misquoted(PAGE + '-0.79 [-0.97, -0.62] kNN (Holm p 0.02)') == ['-0.79 [-0.97, -0.62] kNN (Holm p 0.02']
    assert misquoted('no tables here: [-1.00, +1.00]') == ['[-1.00, +1.00]']
    assert misquoted(PAGE + 'linear -0.79, Holm p = 0.03') == ['-0.79, Holm p = 0.03']
    assert misquoted(PAGE + 'linear -0.79, Holm p 0.012') == []


def test_results_page_and_readme_quote_the_generated_tables():
    page = (ROOT / 'results' / 'README.md').read_text()
    intervals, rows = generated_rows(page)
    assert len(rows) > 50, 'the generated comparison tables were not found in results/README.md'
    bad = misquoted(page, [(ROOT / 'README.md').read_text()])
    assert not bad, ('quoted in results/README.md or README.md but in no generated table '
                     f'(run make report, then correct the prose): {bad}')


def markdown_of(nb:Path, start:str|None=None)->str:
    "The Markdown cells of notebook `nb` (from the first that contains `start`, when given), as one text."
    import json
    cells = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown']
    if start is not None: cells = cells[next(i for i, c in enumerate(cells) if start in c):]
    return '\n\n'.join(cells)


def test_the_study_chapter_quotes_the_generated_tables():
    "09 states the verdicts in plain words: every interval, difference and Holm p it quotes is in a generated table."
    page = (ROOT / 'results' / 'README.md').read_text()
    bad = misquoted(page, [markdown_of(ROOT / 'nbs' / '09_experiments.ipynb')])
    assert not bad, f'quoted in nbs/09_experiments.ipynb but in no generated table: {bad}'


PERCENT = r'(\d+\.\d)%'


def test_detector_figures_are_the_benchmarks():
    "The precision figures the course and the results page quote of the detector benchmark are in its tables."
    table = (ROOT / 'results' / 'detectors' / 'README.md').read_text()
    have = set(re.findall(PERCENT, table))
    page = (ROOT / 'results' / 'README.md').read_text()
    quoted = {'08_insights section 7': markdown_of(ROOT / 'nbs' / '08_insights.ipynb', 'What the benchmark says'),
              'results/README.md stage 4': page[page.index('### Stage 4'):page.index('<!-- table: cifar10-cpu/stage4.md')]}
    for where, text in quoted.items():
        figures = re.findall(PERCENT, text.split('## Recap')[0])
        assert figures, f'{where}: no benchmark figure found'
        assert not (bad := sorted(set(figures) - have)), f'{where} quotes {bad}, which no table of results/detectors has'
