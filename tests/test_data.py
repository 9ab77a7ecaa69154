"""The data layer as a user meets it from a terminal: the per-user decode cache, progress lines, subsets."""
import os, subprocess, sys
from pathlib import Path
import torch
from PIL import Image
from batch_curation.data import load_dataset, procedural_dataset, subset

ROOT = Path(__file__).resolve().parents[1]
LOAD = "from batch_curation.data import load_dataset; print(load_dataset({tree!r}))"


def write_tree(root, n=3):
    for split in ('train', 'test'):
        for c in ('cat', 'dog'):
            (root / split / c).mkdir(parents=True)
            for i in range(n): Image.new('RGB', (8, 8), (40 * i, 9, 99)).save(root / split / c / f'{i:04d}.png')
    return root


def run_in(cwd, code, **env):
    res = subprocess.run([sys.executable, '-c', code], cwd=cwd, capture_output=True, text=True, timeout=120,
                         env={**os.environ, 'OMP_NUM_THREADS': '1', **env})
    assert res.returncode == 0, res.stderr[-3000:]
    return res.stdout


def test_one_cache_for_every_working_folder(tmp_path):
    tree, cache = write_tree(tmp_path / 'tree'), tmp_path / 'cache'
    (tmp_path / 'a').mkdir(); (tmp_path / 'b').mkdir()
    first = run_in(tmp_path / 'a', LOAD.format(tree=str(tree)), BC_CACHE_DIR=str(cache))
    # in a terminal: a labelled line per split, each ending properly, then the data set on its own line
    assert first.splitlines() == ['decoding 6 train images of tree ...', 'decoding 6 test images of tree ...',
                                  'tree: 6 train / 6 test images of 3x8x8, 2 classes'], first
    assert len(list(cache.glob('tree.*.cache.pt'))) == 1 and not (tmp_path / 'a' / 'data').exists()
    second = run_in(tmp_path / 'b', LOAD.format(tree=str(tree)), BC_CACHE_DIR=str(cache))
    assert second.splitlines() == ['tree: 6 train / 6 test images of 3x8x8, 2 classes'], second  # no decoding again


def test_default_cache_is_per_user(tmp_path):
    tree = write_tree(tmp_path / 'tree')
    env = {k: v for k, v in os.environ.items() if k not in ('BC_CACHE_DIR', 'XDG_CACHE_HOME')}
    res = subprocess.run([sys.executable, '-c', LOAD.format(tree=str(tree))], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, env={**env, 'HOME': str(tmp_path / 'home')})
    assert res.returncode == 0, res.stderr[-3000:]
    assert len(list((tmp_path / 'home' / '.cache' / 'batch_curation').glob('tree.*.cache.pt'))) == 1


def test_cache_dir_argument_beats_the_setting(tmp_path, monkeypatch):
    tree = write_tree(tmp_path / 'tree')
    monkeypatch.setenv('BC_CACHE_DIR', str(tmp_path / 'env'))
    a = load_dataset(tree, cache_dir=tmp_path / 'arg', progress=False)
    assert len(list((tmp_path / 'arg').glob('*.cache.pt'))) == 1 and not (tmp_path / 'env').exists()
    assert torch.equal(a.train_x, load_dataset(tree, progress=False).train_x)  # decoded again into the setting's folder
    assert len(list((tmp_path / 'env').glob('*.cache.pt'))) == 1


def test_subset_makes_the_same_choice_as_bc_train():
    from batch_curation.train import _subset
    ds = procedural_dataset(n_train_per_class=20, n_test_per_class=10)
    s = subset(ds, 50, 30, seed=4)
    for got, want in [((s.train_x, s.train_y), _subset(ds.train_x, ds.train_y, 50, 4)),
                      ((s.test_x, s.test_y), _subset(ds.test_x, ds.test_y, 30, 5))]:
        assert all(torch.equal(g, w) for g, w in zip(got, want))
    assert s.classes == ds.classes and s.name == ds.name
