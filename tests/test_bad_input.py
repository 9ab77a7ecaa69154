"""Odd and bad input to the Python API and the data layer: a named error, or the right pixels, never a plausible number."""
import io, os, re, subprocess, sys, warnings
from pathlib import Path
import numpy as np, pytest, torch
from PIL import Image
from batch_curation.data import ImageDataset, DatasetError, load_dataset, procedural_dataset, subset, save_atomic
from batch_curation.evaluate import knn_accuracy, linear_probe, evaluate_backbone, extract_features, OneClassWarning
from batch_curation.augment import normalize
from batch_curation.simclr import nt_xent, NTXentLoss, make_loss, conv_backbone, simclr_head, SimCLRModel
from batch_curation.learner import simclr_learner, plot_history
from batch_curation.report import load_runs

ROOT = Path(__file__).resolve().parents[1]


def feats(n=20, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g), torch.arange(n) % 2


# ---- evaluation ----

@pytest.mark.parametrize('kw,msg', [(dict(k=0), 'k=0'), (dict(k=2.5), 'k=2.5'), (dict(temperature=0.), 'temperature=0.0'),
                                    (dict(temperature=float('inf')), 'temperature=inf')])
def test_knn_arguments(kw, msg):
    (x, y), (xt, yt) = feats(), feats(seed=1)
    with pytest.raises(ValueError, match=msg.replace('.', r'\.')): knn_accuracy(x, y, xt, yt, **kw)


def test_nan_features_and_empty_test_set():
    (x, y), (xt, yt) = feats(), feats(seed=1)
    bad = x.clone(); bad[3, 1] = float('nan')
    for f in (knn_accuracy, linear_probe):
        with pytest.raises(ValueError, match='train_feats holds NaN'): f(bad, y, xt, yt)
        with pytest.raises(ValueError, match='test_feats is empty'): f(x, y, xt[:0], yt[:0])
        with pytest.raises(ValueError, match='train_feats has 20 rows but train_y 19'): f(x, y[:19], xt, yt)


@pytest.mark.parametrize('kw,msg', [(dict(epochs=0), 'epochs=0'), (dict(epochs=1.5), 'epochs=1.5'), (dict(lr=0.), 'lr=0.0')])
def test_linear_probe_arguments(kw, msg):
    (x, y), (xt, yt) = feats(), feats(seed=1)
    with pytest.raises(ValueError, match=msg.replace('.', r'\.')): linear_probe(x, y, xt, yt, **kw)


def test_linear_probe_on_one_image():
    (x, y), (xt, yt) = feats(), feats(seed=1)
    with pytest.raises(ValueError, match='at least 2 images'): linear_probe(x[:1], y[:1], xt, yt)


def test_one_class_is_said():
    "All training labels of one class: every prediction is that class, so 1.0 says nothing; a warning says so."
    (x, _), (xt, _) = feats(), feats(seed=1)
    y, yt = torch.full((20,), 3), torch.full((20,), 3)
    for f, kw in ((knn_accuracy, dict(k=5)), (linear_probe, dict(epochs=2))):
        with pytest.warns(OneClassWarning, match=r'train_y holds one class only \(3\)'): assert f(x, y, xt, yt, **kw) == 1.
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        knn_accuracy(x, torch.arange(20) % 2, xt, yt, k=5)  # two classes: no warning


def test_unlabelled_images_and_too_few_classes_are_named():
    (x, y), (xt, yt) = feats(), feats(seed=1)
    for f in (knn_accuracy, linear_probe):
        with pytest.raises(ValueError, match='train_y holds -1, an unlabelled image'): f(x, y - 1, xt, yt)
        with pytest.raises(ValueError, match='test_y holds -1, an unlabelled image'): f(x, y, xt, yt - 1)
    with pytest.raises(ValueError, match='num_classes=1: train_y holds labels up to 1'): knn_accuracy(x, y, xt, yt, num_classes=1)


def small_backbone(): return conv_backbone((4, 8, 8))


def test_evaluate_backbone_without_test_images_or_labels():
    ds = procedural_dataset(n_train_per_class=4, n_test_per_class=2, size=16)
    no_test = ImageDataset(ds.train_x, ds.train_y, ds.test_x[:0], ds.test_y[:0], ds.classes, 'shapes')
    with pytest.raises(ValueError, match='shapes has no test images: kNN and the linear probe need labelled'):
        evaluate_backbone(small_backbone(), no_test)
    unlabelled = ImageDataset(ds.train_x, torch.full_like(ds.train_y, -1), ds.test_x, ds.test_y, ds.classes, 'shapes')
    with pytest.raises(ValueError, match='shapes has unlabelled train images'): evaluate_backbone(small_backbone(), unlabelled)
    with pytest.raises(ValueError, match='images is empty'): extract_features(small_backbone(), ds.test_x[:0])


def test_evaluate_backbone_on_one_class_warns_once():
    ds = procedural_dataset(n_train_per_class=4, n_test_per_class=2, size=16)
    one = ImageDataset(ds.train_x[ds.train_y == 0], ds.train_y[ds.train_y == 0], ds.test_x[ds.test_y == 0],
                       ds.test_y[ds.test_y == 0], ds.classes)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter('always')
        res = evaluate_backbone(small_backbone(), one, knn_k=2, probe_kw=dict(epochs=2))
    assert res == {'knn': 1., 'knn10': 1., 'linear': 1.}
    assert [type(w.message) for w in seen] == [OneClassWarning] and seen[0].filename == __file__


# ---- the loss ----

def test_loss_temperature_must_be_finite():
    z = torch.randn(4, 8)
    for t in (float('inf'), float('nan'), 0.):
        with pytest.raises(ValueError, match='temperature must be > 0 and finite'): nt_xent(z, z, t)
        with pytest.raises(ValueError, match='temperature must be > 0 and finite'): NTXentLoss(t)
        with pytest.raises(ValueError, match='temperature'): make_loss('dcl', t)


def test_loss_of_numpy_arrays_is_named():
    z = np.random.randn(4, 8).astype(np.float32)
    with pytest.raises(TypeError, match='z1 and z2 must be torch tensors, got ndarray'): nt_xent(z, z)


# ---- the learner ----

def small_learner(**kw):
    ds = procedural_dataset(n_train_per_class=4, n_test_per_class=2, size=16)
    model = SimCLRModel(conv_backbone((4, 8, 8)), simclr_head(8, 8, 4))
    return simclr_learner(model, ds, batch_size=8, device='cpu', progress=False, knn_every=None, **kw)


@pytest.mark.parametrize('lr', [0., -1., float('nan')])
def test_simclr_learner_refuses_a_learning_rate_that_trains_nothing(lr):
    with pytest.raises(ValueError, match='lr='): small_learner(lr=lr)


@pytest.mark.parametrize('n', [1.5, 0, True])
def test_fit_takes_whole_epochs(n):
    with pytest.raises(ValueError, match='whole number of epochs'): small_learner().fit(n)


def test_plot_history_of_nothing():
    with pytest.raises(ValueError, match='nothing to plot'): plot_history([])
    with pytest.raises(ValueError, match='nothing to plot'): plot_history([{'epoch': 1, 'lr': 0.1}])


# ---- data sets ----

def test_image_dataset_with_mismatched_lengths():
    x, y = torch.zeros(4, 3, 8, 8, dtype=torch.uint8), torch.zeros(3, dtype=torch.long)
    with pytest.raises(DatasetError, match='train_x holds 4 images but train_y 3 labels'): ImageDataset(x, y, x, y[:2].repeat(2), ['a'])
    with pytest.raises(DatasetError, match='test_x holds 4 images but test_y 2 labels'): ImageDataset(x, y.repeat(2)[:4], x, y[:2], ['a'])


@pytest.mark.parametrize('kw,msg', [(dict(size=0), 'size=0'), (dict(n_train_per_class=0), 'n_train_per_class=0'),
                                    (dict(n_test_per_class=0), 'n_test_per_class=0'), (dict(size=2.5), 'size=2.5')])
def test_procedural_data_of_nothing(kw, msg):
    with pytest.raises(DatasetError, match=msg.replace('.', r'\.')): procedural_dataset(**kw)


@pytest.mark.parametrize('size', [0, 1, 2.5, True, -32])
def test_load_dataset_of_no_size(size, tmp_path):
    with pytest.raises(DatasetError, match=rf"size={size!r}: pixels a side, an int >= 2"):
        load_dataset('procedural', size=size, cache_dir=tmp_path)
    assert load_dataset('procedural', size=None, cache_dir=tmp_path).train_x.shape[-1] == 32


@pytest.mark.parametrize('y,classes,msg', [
    ([0, 1, 2, 0], ['a', 'b'], 'train_y holds label 2, which names no class; labels are 0 to 1'),
    ([0, -2, 1, 0], ['a', 'b'], 'train_y holds label -2'),
    ([0, 0, 0, 0], [], 'train_y holds label 0, which names no class; labels are -1 only'),
    ([0., 1., 0., 1.], ['a', 'b'], 'train_y holds torch.float32 values: labels are integers')])
def test_image_dataset_refuses_a_label_outside_its_classes(y, classes, msg):
    x = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(DatasetError, match=msg.replace('.', r'\.')):
        ImageDataset(x, torch.tensor(y), x[:0], torch.zeros(0, dtype=torch.long), classes)
    ImageDataset(x, torch.tensor([-1, 0, 1, -1]), x[:2], torch.tensor([1, 0]), ['a', 'b'])  # -1: unlabelled


@pytest.mark.parametrize('x,msg', [
    (torch.zeros(4, 3, 8, 8), 'train_x holds torch.float32 images of 3 channel(s): an ImageDataset keeps uint8 RGB'),
    (torch.zeros(4, 1, 8, 8, dtype=torch.uint8), 'train_x holds torch.uint8 images of 1 channel(s)')])
def test_image_dataset_keeps_uint8_rgb(x, msg):
    y = torch.zeros(4, dtype=torch.long)
    ok = torch.zeros(4, 3, 8, 8, dtype=torch.uint8)
    with pytest.raises(DatasetError, match=re.escape(msg)): ImageDataset(x, y, ok, y, ['a'])
    with pytest.raises(DatasetError, match='train images are 8x8 pixels but test images 16x8: resize both'):
        ImageDataset(ok, y, torch.zeros(4, 3, 8, 16, dtype=torch.uint8), y, ['a'])


def test_subset_takes_a_number_of_images():
    ds = procedural_dataset(n_train_per_class=4, n_test_per_class=2, size=16)
    with pytest.raises(ValueError, match='n_train=2.5'): subset(ds, 2.5)
    with pytest.raises(TypeError, match='ds must be an ImageDataset, got float'): subset(2.5)


def test_load_dataset_of_an_empty_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DatasetError, match="source=''"): load_dataset('', cache_dir=tmp_path / 'cache')


def test_load_runs_of_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match='no such folder'): load_runs(tmp_path / 'reslts')
    assert load_runs(tmp_path) == []  # an existing folder with no finished run yet


# ---- images as they come ----

def tree_with(root, images:dict):
    "A train/test class-folder tree; images: file name -> PIL image, put in both splits of class 'a' and 'b'."
    for split in ('train', 'test'):
        for c in ('a', 'b'):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for name, im in images.items(): im.save(root / split / c / name)
    return root


def test_sixteen_bit_palette_la_and_cmyk_images(tmp_path):
    grey16 = Image.fromarray(np.full((8, 8), 32896, dtype=np.uint16))  # 32896 / 65535 = 128 / 255
    assert grey16.mode.startswith('I')
    pal = Image.new('RGB', (8, 8), (200, 40, 10)).convert('P', palette=Image.ADAPTIVE)
    la = Image.new('LA', (8, 8), (90, 255))
    cmyk = Image.new('CMYK', (8, 8), (0, 255, 255, 0))  # red
    ds = load_dataset(tree_with(tmp_path / 'tree', {'g16.png': grey16, 'pal.png': pal, 'la.png': la, 'cmyk.tif': cmyk}),
                      cache_dir=tmp_path / 'cache', progress=False)
    px = {name: ds.train_x[i, :, 0, 0].tolist() for i, name in enumerate(sorted(['cmyk.tif', 'g16.png', 'la.png', 'pal.png']))}
    assert px['g16.png'] == [128, 128, 128], px  # not saturated to white
    assert px['la.png'] == [90, 90, 90] and px['cmyk.tif'] == [255, 0, 0], px
    assert abs(px['pal.png'][0] - 200) <= 2 and px['pal.png'][1:] != [255, 255], px


def test_the_decode_cache_is_never_stale(tmp_path):
    "A file rewritten with other pixels, the same size and its old modification time, is decoded again."
    tree = tree_with(tmp_path / 'tree', {'0.png': Image.new('RGB', (8, 8), (10, 20, 30))})
    first = load_dataset(tree, cache_dir=tmp_path / 'cache', progress=False)
    f = tree / 'train' / 'a' / '0.png'
    st = f.stat()
    Image.new('RGB', (8, 8), (30, 20, 10)).save(f)
    assert f.stat().st_size == st.st_size
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = load_dataset(tree, cache_dir=tmp_path / 'cache', progress=False)
    assert first.train_x[0, :, 0, 0].tolist() == [10, 20, 30] and second.train_x[0, :, 0, 0].tolist() == [30, 20, 10]


@pytest.mark.parametrize('kind', ['file', 'unwritable'])
def test_a_cache_folder_that_cannot_be_written_is_skipped(tmp_path, kind, monkeypatch, capsys):
    tree = tree_with(tmp_path / 'tree', {'0.png': Image.new('RGB', (8, 8), (10, 20, 30))})
    cache = tmp_path / 'cache'
    if kind == 'file': cache.write_text('not a folder')
    else:
        def denied(*a, **k): raise PermissionError(13, 'Permission denied')
        monkeypatch.setattr('batch_curation.data.save_atomic', denied)
    ds = load_dataset(tree, cache_dir=cache, progress=False)
    assert ds.train_x[0, :, 0, 0].tolist() == [10, 20, 30]
    err = capsys.readouterr().err
    assert err.count('cannot write the decode cache') == 1 and 'going on without it' in err, err


def test_save_atomic_leaves_no_temporary_file(tmp_path, monkeypatch):
    def full(obj, f): Path(f).write_bytes(b'half'); raise RuntimeError('No space left on device')
    monkeypatch.setattr(torch, 'save', full)
    with pytest.raises(RuntimeError): save_atomic({'a': 1}, tmp_path / 'x.pt')
    assert list(tmp_path.iterdir()) == []


def test_float_images_in_0_255_are_named():
    from batch_curation.augment import SimCLRAugment
    x = torch.randint(0, 256, (4, 3, 16, 16), dtype=torch.uint8)
    aug = SimCLRAugment(size=16)
    aug(x.float() / 255)  # floats in [0, 1] are fine
    with pytest.raises(ValueError, match=r'float images must be in \[0, 1\]'): aug(x.float())


def test_normalize_refuses_float_images_in_0_255():
    x = torch.randint(0, 256, (2, 3, 4, 4), dtype=torch.uint8)
    torch.testing.assert_close(normalize(x.float() / 255), normalize(x))
    with pytest.raises(ValueError, match=r'float images must be in \[0, 1\], these go from'): normalize(x.float())
    with pytest.raises(ValueError, match='float images must be in'): normalize(torch.full((1, 3, 2, 2), float('nan')))
