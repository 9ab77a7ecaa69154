"""The course reads as a course: each numbered notebook keeps its checks short and its cells readable.

- Checks (`assert`, `test_eq`, `test_fail`, ... at the start of a line) are at most 10% of a numbered notebook's
  non-exported code lines; error paths and edge cases live in its companion `nbs/checks/` notebook, which
  `nbdev_test` runs too, or in `tests/`.
- Outside the appendices (`nbs/A*_*.ipynb`) no code cell is longer than 40 lines, or 60 for an exported class.
- Each numbered notebook ends with a recap and things to try.
- What a notebook shows fits the page and reads as a result: no output line over 100 characters, no table printed as
  pipes and dashes (display it with `IPython.display.Markdown`), no dict printed as a result (a small table or a
  sentence).
- The curation schemes notebook keeps to its three moves: at most 60 cells, the bookkeeping in its appendix.
"""
import json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
COURSE = sorted(NBS.glob('[0-9]*.ipynb'))
SHOWN = COURSE + sorted(NBS.glob('A*_*.ipynb'))  # what a reader opens: the course and its appendices
CHECK_LINE = re.compile(r'^\s*(assert\b|test_\w+\()')
EXPORT = re.compile(r'^#\|\s*export', re.M)
MAX_CELL, MAX_CLASS_CELL, MAX_CHECK_SHARE = 40, 60, 0.10
PAGE_WIDTH, MAX_SCHEME_CELLS = 100, 60
PRINTED_TABLE = re.compile(r'^\s*\|?\s*:?-{3,}:?\s*\|', re.M)  # the |---|---| line of a Markdown table
PRINTED_DICT = re.compile(r"""\{['"][^'"\n]+['"]: """)  # {'key': value, ...


def code_cells(nb):
    return [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']


def check_share(cells):
    "Check lines and all non-blank lines of the cells that export nothing."
    lines = [l for src in cells if not EXPORT.search(src) for l in src.splitlines() if l.strip()]
    return sum(bool(CHECK_LINE.match(l)) for l in lines), len(lines)


def long_cells(cells):
    "(cell number among code cells, lines) of every cell over its limit."
    out = []
    for i, src in enumerate(cells):
        limit = MAX_CLASS_CELL if EXPORT.search(src) and re.search(r'^class ', src, re.M) else MAX_CELL
        if len(src.splitlines()) > limit: out.append((i, len(src.splitlines())))
    return out


def test_the_rules_can_fail():
    cells = ['#| export\ndef f(): pass', 'x = 1\nassert x == 1\ntest_eq(x, 1)\nprint(x)', '\n'.join(['y = 1'] * 41),
             '#| export\nclass A:\n' + '\n'.join(['    y = 1'] * 58)]
    assert check_share(cells) == (2, 4 + 41)
    assert long_cells(cells) == [(2, 41)]
    assert long_cells(cells[3:] + ['#| export\nclass B:\n' + '\n'.join(['    y = 1'] * 59)]) == [(1, 61)]


@pytest.mark.parametrize('nb', COURSE, ids=[p.stem for p in COURSE])
def test_checks_are_a_small_share(nb):
    checks, lines = check_share(code_cells(nb))
    assert checks <= MAX_CHECK_SHARE * lines, \
        f"{nb.name}: {checks} of {lines} non-exported code lines are checks; move edge cases to nbs/checks/{nb.name}"


@pytest.mark.parametrize('nb', COURSE, ids=[p.stem for p in COURSE])
def test_cells_are_short(nb):
    assert not long_cells(code_cells(nb)), f"{nb.name}: code cells over {MAX_CELL} lines ({MAX_CLASS_CELL} for an " \
        f"exported class), as (code cell, lines): {long_cells(code_cells(nb))}"


@pytest.mark.parametrize('nb', COURSE, ids=[p.stem for p in COURSE])
def test_ends_with_a_recap_and_things_to_try(nb):
    md = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'markdown']
    tail = '\n'.join(md[-3:])
    assert re.search(r'^##+ Recap', tail, re.M) and re.search(r'\btry\b', tail, re.I), \
        f"{nb.name} does not end with '## Recap' and things to try"


def test_check_notebooks_belong_to_a_notebook():
    "Every companion in nbs/checks/ is named after the notebook (or appendix) whose checks it holds."
    stems = {p.stem for p in NBS.glob('*.ipynb')}
    orphans = [p.name for p in (NBS / 'checks').glob('*.ipynb') if p.stem not in stems]
    assert not orphans, f"check notebooks with no notebook of that name in nbs/: {orphans}"


def shown_text(nb):
    "(code cell number, text) of every text output a reader sees: printed lines, and the plain text of results."
    out = []
    for i, c in enumerate(c for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code'):
        for o in c.get('outputs', []):
            data = o.get('data', {})
            text = o.get('text') or ('' if 'text/markdown' in data or 'image/png' in data else data.get('text/plain', ''))
            out.append((i, ''.join(text), o.get('output_type')))
    return out


def output_problems(outputs):
    "Lines wider than the page, tables printed as text, dicts printed as results."
    problems = []
    for i, text, kind in outputs:
        problems += [f"code cell {i}: a line of {len(l)} characters" for l in text.splitlines() if len(l) > PAGE_WIDTH]
        if kind == 'stream' and PRINTED_TABLE.search(text): problems.append(f"code cell {i}: a table printed as text")
        if PRINTED_DICT.search(text): problems.append(f"code cell {i}: a dict printed as a result")
    return problems


def test_the_output_rules_can_fail():
    outputs = [(0, 'x' * 101, 'stream'), (1, '| a | b |\n|---|---:|\n| 1 | 2 |', 'stream'),
               (2, "{'sel_reject_rate': 0.25}", 'execute_result'), (3, 'a short sentence: 0.25', 'stream')]
    assert output_problems(outputs) == ['code cell 0: a line of 101 characters', 'code cell 1: a table printed as text',
                                        'code cell 2: a dict printed as a result']


@pytest.mark.parametrize('nb', SHOWN, ids=[p.stem for p in SHOWN])
def test_outputs_fit_the_page_and_read_as_results(nb):
    problems = output_problems(shown_text(nb))
    assert not problems, f"{nb.name}: " + '; '.join(problems)


def test_the_schemes_notebook_keeps_to_its_moves():
    cells = json.loads((NBS / '05b_schemes.ipynb').read_text())['cells']
    assert len(cells) <= MAX_SCHEME_CELLS, f"05b_schemes has {len(cells)} cells: move bookkeeping to A4_scheme_state"
    for move in ('## Batch selection', '## Pair selection', '## Loss masking'):  # each a plain loop before its callback
        at = next(i for i, c in enumerate(cells) if c['cell_type'] == 'markdown' and move in ''.join(c['source']))
        loop = next(c for c in cells[at:] if c['cell_type'] == 'code')
        assert 'export' not in ''.join(loop['source']) and 'for ' in ''.join(loop['source']), move
        assert any('image/png' in o.get('data', {}) for o in loop.get('outputs', [])), f"{move}: the loop shows a figure"
