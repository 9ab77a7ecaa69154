"""Each notebook in nbs/ as one pytest case, run by `nbdev_test` (the engine CI uses for notebooks)."""
import json, os, re, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
# the course, its appendices (A*_*.ipynb) and the companion check notebooks (nbs/checks/), which hold the edge cases
NOTEBOOKS = sorted(p for p in [*(ROOT / 'nbs').glob('*.ipynb'), *(ROOT / 'nbs' / 'checks').glob('*.ipynb')]
                   if not p.name.startswith('_'))
NAMES = [str(p.relative_to(ROOT / 'nbs').with_suffix('')) for p in NOTEBOOKS]
NBDEV_TEST = Path(sys.executable).with_name('nbdev_test')


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=NAMES)
def test_notebook(nb):
    flags = os.environ.get('BC_TEST_FLAGS', '')  # e.g. "slow gpu" to run those cells too
    cmd = [str(NBDEV_TEST), '--path', str(nb), '--n_workers', '0'] + (['--flags', flags] if flags else [])
    # as a reader's Jupyter runs them: with the machine's default thread count, not the suite's one thread
    env = {k: v for k, v in os.environ.items() if k not in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS')}
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert res.returncode == 0 and 'Success' in res.stdout + res.stderr, \
        f"{nb.name} failed under nbdev_test:\n{res.stdout[-6000:]}\n{res.stderr[-6000:]}"


def test_all_notebooks_found():
    assert {'index', '00_data'} <= set(NAMES), NAMES


GPU_CELL = re.compile(r'^#\|\s*gpu\b', re.M)
RUN_GPU_CELLS = r'''
import json, sys, io, contextlib, traceback
import torch
res = []
for name, src in json.load(sys.stdin):
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out): exec(compile(src, name, 'exec'), {'torch': torch})
        res.append([name, out.getvalue(), None])
    except BaseException: res.append([name, out.getvalue(), traceback.format_exc(limit=2)])
print(json.dumps(res))
'''


def test_gpu_cells_skip_cleanly_without_a_gpu():
    "A reader's Run All on a CPU-only machine executes `#| gpu` cells too: each must say it skipped, and raise nothing."
    cells = [(f"{nb.name} cell {i}", ''.join(c['source'])) for nb in NOTEBOOKS
             for i, c in enumerate(json.loads(nb.read_text())['cells'])
             if c['cell_type'] == 'code' and GPU_CELL.search(''.join(c['source']))]
    assert cells, "no #| gpu cells found: the pattern or the notebooks changed"
    # only `torch` is defined: a cell that does not skip first fails on the notebook's own names
    env = {**os.environ, 'CUDA_VISIBLE_DEVICES': ''}
    res = subprocess.run([sys.executable, '-c', RUN_GPU_CELLS], input=json.dumps(cells), env=env, cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    for name, out, err in json.loads(res.stdout):
        assert err is None, f"{name} raised without a GPU:\n{err}"
        assert 'skipped' in out.lower(), f"{name} printed no skip message without a GPU: {out!r}"
