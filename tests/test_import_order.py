"""The reading order is the import order: a module, or a notebook, imports only what notebooks before it export.

Each `nbs/NN_topic.ipynb` (or `NNa_topic`) exports the module its `#| default_exp` line names; its place in the
reading order is the part of its name before the first `_`, which sorts as text ('05' < '05a' < '06').
"""
import ast, json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / 'nbs').glob('[0-9]*.ipynb'))


def place(nb_path): return nb_path.stem.split('_')[0]


def cell_sources(nb_path):
    return [''.join(c['source']) for c in json.loads(nb_path.read_text())['cells'] if c['cell_type'] == 'code']


def exported_module(nb_path):
    "The module named by the notebook's `#| default_exp` line, or None for an analysis notebook."
    for src in cell_sources(nb_path):
        if m := re.search(r'^#\|\s*default_exp\s+(\S+)', src, re.M): return m.group(1)
    return None


MODULE_PLACE = {m: place(p) for p in NOTEBOOKS if (m := exported_module(p))}


def imported_modules(tree):
    "Package modules imported anywhere in `tree`, inside functions too: `from .x`, `from batch_curation.x`, ..."
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 or node.module == 'batch_curation':  # from . import x / from .x import y
                out |= {node.module} if node.level == 1 and node.module else {a.name for a in node.names}
            elif node.module and node.module.startswith('batch_curation.'): out.add(node.module.split('.')[1])
        elif isinstance(node, ast.Import):
            out |= {a.name.split('.')[1] for a in node.names if a.name.startswith('batch_curation.')}
    return out & set(MODULE_PLACE)


def later_imports(importer_place, tree):
    return sorted(f"{m} (notebook {MODULE_PLACE[m]})" for m in imported_modules(tree) if MODULE_PLACE[m] > importer_place)


def test_finds_every_import_form():
    src = ("from .data import a\nfrom batch_curation.train import b\nimport batch_curation.curation as c\n"
           "from batch_curation import learner\ndef f():\n    from .distributed import d\n")
    assert imported_modules(ast.parse(src)) == {'data', 'train', 'curation', 'learner', 'distributed'}
    assert later_imports('04', ast.parse(src)) == ['curation (notebook 05b)', 'distributed (notebook 06)',
                                                   'train (notebook 07)']


@pytest.mark.parametrize('module', sorted(MODULE_PLACE))
def test_module_imports_only_earlier_notebooks(module):
    tree = ast.parse((ROOT / 'batch_curation' / f'{module}.py').read_text())
    assert not later_imports(MODULE_PLACE[module], tree), f"{module} imports a module of a later notebook"


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_imports_only_earlier_notebooks(nb):
    code = '\n'.join(line for src in cell_sources(nb) for line in src.splitlines() if not line.lstrip().startswith(('%', '!')))
    assert not later_imports(place(nb), ast.parse(code)), f"{nb.name} imports a module of a later notebook"
