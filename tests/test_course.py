"""The course reads as a course: each numbered notebook keeps its checks short and its cells readable.

- Checks (`assert`, `test_eq`, `test_fail`, ... at the start of a line) are at most 10% of a numbered notebook's
  non-exported code lines; error paths and edge cases live in its companion `nbs/checks/` notebook, which
  `nbdev_test` runs too, or in `tests/`.
- Outside the appendices (`nbs/A*_*.ipynb`) no code cell is longer than 40 lines, or 60 for an exported class.
- Each numbered notebook ends with a recap and things to try.
"""
import json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / 'nbs'
COURSE = sorted(NBS.glob('[0-9]*.ipynb'))
CHECK_LINE = re.compile(r'^\s*(assert\b|test_\w+\()')
EXPORT = re.compile(r'^#\|\s*export', re.M)
MAX_CELL, MAX_CLASS_CELL, MAX_CHECK_SHARE = 40, 60, 0.10


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
