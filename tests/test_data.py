"""The data layer as a user meets it from a terminal: the per-user decode cache, progress lines, subsets."""
import os, pickle, re, shutil, subprocess, sys
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from batch_curation.data import (load_dataset, procedural_dataset, subset, split_folder, ImageDataset,
                                 DatasetError)

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


# Your own images: unlabelled layouts, the labelled flag, split_folder

def write_flat(root, n=4, colour=(9, 99, 40)):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n): Image.new('RGB', (8, 8), (colour[0] + 20 * i, *colour[1:])).save(root / f'{i:04d}.png')
    return root


def write_classes(root, classes=('cat', 'dog', 'fox'), n=10):
    for c in classes: write_flat(root / c, n)
    return root


def test_a_folder_of_images_loads_unlabelled(tmp_path):
    ds = load_dataset(write_flat(tmp_path / 'photos', 5), cache_dir=tmp_path / 'cache', progress=False)
    assert ds.train_y.tolist() == [-1] * 5 and ds.classes == [] and not ds.labelled
    assert ds.test_x.shape == (0, 3, 8, 8) and ds.test_x.dtype == torch.uint8 and ds.test_y.shape == (0,)
    assert repr(ds) == 'photos: 5 unlabelled train / 0 test images of 3x8x8, 0 classes'
    again = load_dataset(tmp_path / 'photos', cache_dir=tmp_path / 'cache', progress=False)  # from the cache
    assert torch.equal(again.train_x, ds.train_x) and not again.labelled and again.test_x.shape == (0, 3, 8, 8)
    assert len(list((tmp_path / 'cache').glob('photos.*.cache.pt'))) == 1


def test_train_images_beside_a_labelled_test_split(tmp_path):
    root = tmp_path / 'semi'
    write_flat(root / 'train', 6)
    write_classes(root / 'test', ('cat', 'dog'), 2)
    for src in (root, shutil.make_archive(str(tmp_path / 'semi'), 'zip', root_dir=tmp_path, base_dir='semi')):
        ds = load_dataset(src, cache_dir=tmp_path / 'cache', progress=False)
        assert ds.train_y.tolist() == [-1] * 6 and ds.test_y.tolist() == [0, 0, 1, 1] and ds.classes == ['cat', 'dog']
        assert not ds.labelled


def test_an_unlabelled_train_folder_alone_in_a_tar(tmp_path):
    write_flat(tmp_path / 'only' / 'train', 3)
    ds = load_dataset(shutil.make_archive(str(tmp_path / 'only'), 'gztar', root_dir=tmp_path / 'only'),
                      cache_dir=tmp_path / 'cache', progress=False)
    assert ds.train_y.tolist() == [-1] * 3 and len(ds.test_x) == 0 and ds.classes == []


def test_labelled_data_sets_say_so():
    assert procedural_dataset(n_train_per_class=2, n_test_per_class=1).labelled
    ds = procedural_dataset(n_train_per_class=2, n_test_per_class=1)
    assert not ImageDataset(ds.train_x, torch.full_like(ds.train_y, -1), ds.test_x, ds.test_y, ds.classes).labelled


@pytest.mark.parametrize('layout, msg', [
    ('mixed_train', 'train/ mixes images and class folders'),
    ('mixed_test', 'test/ mixes images and class folders'),
    ('flat_test', 'test/ holds images without class folders'),
    ('classes_no_split', 'split_folder(src, dst)'),
    ('images_and_folders', 'has images in 2 folders (./, cat/)'),
    ('nothing', 'holds no images')])
def test_ambiguous_layouts_name_the_folder(tmp_path, layout, msg):
    root = tmp_path / 'src'
    if layout == 'mixed_train': write_tree(root); write_flat(root / 'train', 1)
    if layout == 'mixed_test': write_tree(root); write_flat(root / 'test', 1)
    if layout == 'flat_test': write_flat(root / 'train'); write_flat(root / 'test')
    if layout == 'classes_no_split': write_classes(root)
    if layout == 'images_and_folders': write_flat(root / 'cat'); write_flat(root)
    if layout == 'nothing': root.mkdir(); (root / 'notes.txt').write_text('no images here')
    with pytest.raises(DatasetError, match=re.escape(msg)) as e:
        load_dataset(root, cache_dir=tmp_path / 'cache', progress=False)
    assert str(root) in str(e.value)


def test_an_old_cache_file_still_loads(tmp_path):
    tree = write_tree(tmp_path / 'tree')
    ds = load_dataset(tree, cache_dir=tmp_path / 'cache', progress=False)
    cache, = (tmp_path / 'cache').glob('tree.*.cache.pt')
    fields = torch.load(cache, weights_only=True)
    assert set(fields) == {'train_x', 'train_y', 'test_x', 'test_y', 'classes', 'name'}  # the format caches always had
    fields['name'] = 'written before'
    torch.save(fields, cache)
    again = load_dataset(tree, cache_dir=tmp_path / 'cache', progress=False)
    assert again.name == 'written before' and again.labelled and torch.equal(again.train_y, ds.train_y)


def files_of(root): return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.is_file())


def test_split_folder_makes_a_labelled_tree(tmp_path, capsys):
    src = write_classes(tmp_path / 'src')
    before = {f: (src / f).read_bytes() for f in files_of(src)}
    dst = split_folder(src, tmp_path / 'dst', test_fraction=0.2, seed=0)
    assert f"3 classes, 24 train / 6 test images" in capsys.readouterr().out
    assert {f: (src / f).read_bytes() for f in files_of(src)} == before  # the source is untouched
    for c in ('cat', 'dog', 'fox'):
        tr, te = ({p.name for p in (dst / s / c).iterdir()} for s in ('train', 'test'))
        assert len(tr) == 8 and len(te) == 2 and not tr & te and tr | te == {p.name for p in (src / c).iterdir()}
    f = next((dst / 'train' / 'cat').iterdir())
    assert os.path.samefile(f, src / 'cat' / f.name)  # a hard link: no copy on the same disk
    ds = load_dataset(dst, cache_dir=tmp_path / 'cache', progress=False)
    assert ds.classes == ['cat', 'dog', 'fox'] and ds.labelled and ds.test_y.bincount().tolist() == [2, 2, 2]


def test_split_folder_is_seeded(tmp_path):
    src = write_classes(tmp_path / 'src', n=12)
    split = lambda name, seed: files_of(split_folder(src, tmp_path / name, seed=seed) / 'test')
    assert split('a', 0) == split('b', 0) != split('c', 1)


def test_split_folder_copies_where_it_cannot_link(tmp_path, monkeypatch, capsys):
    src = write_classes(tmp_path / 'src', ('cat', 'dog'), 3)
    def no_links(*a): raise OSError(18, 'Invalid cross-device link')
    monkeypatch.setattr(os, 'link', no_links)
    dst = split_folder(src, tmp_path / 'dst', test_fraction=0.5)
    assert '(copies of the files in' in capsys.readouterr().out
    f = next((dst / 'test' / 'dog').iterdir())
    assert not os.path.samefile(f, src / 'dog' / f.name) and f.read_bytes() == (src / 'dog' / f.name).read_bytes()


@pytest.mark.parametrize('case, msg', [
    ('dst_not_empty', 'is not an empty folder'), ('dst_inside', 'is inside'), ('loose_images', 'images outside them'),
    ('no_folders', 'found no folders'), ('one_image', 'holds 1 image(s)'), ('already_split', 'already holds train/'),
    ('no_src', 'is not a folder')])
def test_split_folder_refuses(tmp_path, case, msg):
    src, dst = write_classes(tmp_path / 'src', ('cat', 'dog'), 3), tmp_path / 'dst'
    if case == 'dst_not_empty': write_flat(dst, 1)
    if case == 'dst_inside': dst = src / 'split'
    if case == 'loose_images': write_flat(src, 1)
    if case == 'no_folders': shutil.rmtree(src); src.mkdir()
    if case == 'one_image': write_flat(src / 'bird', 1)
    if case == 'already_split': write_flat(src / 'train', 2)
    if case == 'no_src': src = tmp_path / 'missing'
    before = files_of(tmp_path)
    with pytest.raises(DatasetError, match=re.escape(msg)): split_folder(src, dst)
    assert files_of(tmp_path) == before  # nothing written, nothing removed


@pytest.mark.parametrize('fraction', [0, 1, -0.1, 1.5])
def test_split_folder_test_fraction(tmp_path, fraction):
    with pytest.raises(ValueError, match='test_fraction'): split_folder(write_classes(tmp_path / 'src'), tmp_path / 'd', fraction)


def fake_cifar10_pickles(root):
    "A cifar-10-batches-py folder as torchvision downloads it: five training batches, a test batch, the class names."
    d = root / 'cifar-10-batches-py'
    d.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f'data_batch_{i}' for i in range(1, 6)] + ['test_batch']:
        with open(d / name, 'wb') as f:
            pickle.dump({'data': rng.integers(0, 256, (2, 3072), dtype=np.uint8), 'labels': [0, 1]}, f)
    with open(d / 'batches.meta', 'wb') as f: pickle.dump({'label_names': ['cat', 'dog']}, f)
    return d


def test_cifar10_pickles_at_another_size(tmp_path):
    "size resizes the pickled CIFAR-10 too (it used to come back at 32x32), as bc_train's --image-size does."
    d = fake_cifar10_pickles(tmp_path)
    full, small = load_dataset(tmp_path), load_dataset(d, size=16)
    assert full.train_x.shape == (10, 3, 32, 32) and small.train_x.shape == (10, 3, 16, 16)
    assert small.test_x.shape == (2, 3, 16, 16) and torch.equal(small.train_y, full.train_y)
    resized = torch.nn.functional.interpolate(full.train_x.float(), size=16, mode='bilinear', antialias=True)
    assert torch.equal(small.train_x, resized.round().clamp(0, 255).to(torch.uint8))
