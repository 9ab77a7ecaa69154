"""Each notebook in nbs/ as one pytest case, run by `nbdev_test` (the engine CI uses for notebooks)."""
import os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p for p in (ROOT / 'nbs').glob('*.ipynb') if not p.name.startswith('_'))
NBDEV_TEST = Path(sys.executable).with_name('nbdev_test')


@pytest.mark.parametrize('nb', NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook(nb):
    flags = os.environ.get('BC_TEST_FLAGS', '')  # e.g. "slow gpu" to run those cells too
    cmd = [str(NBDEV_TEST), '--path', str(nb), '--n_workers', '0'] + (['--flags', flags] if flags else [])
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0 and 'Success' in res.stdout + res.stderr, \
        f"{nb.name} failed under nbdev_test:\n{res.stdout[-6000:]}\n{res.stderr[-6000:]}"


def test_all_notebooks_found():
    names = {p.stem for p in NOTEBOOKS}
    assert {'index', '00_data'} <= names, names
