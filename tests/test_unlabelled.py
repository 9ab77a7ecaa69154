"""Training on images without labels: the train split's labels are all -1.

With a labelled test split (two classes or more) the kNN monitor and the linear probe use that split alone, in two
seeded halves; without one they are skipped, and the run still trains, checkpoints, plots and writes its summary.
Schemes that read the training labels refuse such data. Labelled data is unchanged (tests/test_stored_runs.py).
"""
import json
import pytest, torch
import batch_curation.train as bt
from batch_curation.data import ImageDataset
from batch_curation.train import preset_config, train, evaluation_data


def images(n, seed): return torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8,
                                          generator=torch.Generator().manual_seed(seed))


def unlabelled(n_test=40, classes=4):
    test_y = torch.arange(n_test) % classes if classes else torch.zeros(n_test, dtype=torch.long)
    return ImageDataset(images(256, 0), torch.full((256,), -1), images(n_test, 1), test_y,
                        [f'c{i}' for i in range(classes)], 'a folder of images')


@pytest.fixture
def data(monkeypatch):
    "Make `train` load the data set given, instead of the one its settings name."
    def use(ds): monkeypatch.setattr(bt, 'build_data', lambda c: ds)
    return use


def test_evaluation_data():
    ds = unlabelled()
    labelled = ImageDataset(ds.train_x, torch.arange(256) % 4, ds.test_x, ds.test_y, ds.classes)
    assert evaluation_data(labelled, 0) == (labelled, None)
    ev, how = evaluation_data(ds, 0)
    assert how == 'test split halves' and (len(ev.train_x), len(ev.test_x)) == (20, 20)
    assert ev.classes == ds.classes and (ev.train_y >= 0).all()
    whole = torch.cat([ev.train_x, ev.test_x]).flatten(1)  # the halves split the test split, nothing else
    assert sorted(map(tuple, whole.tolist())) == sorted(map(tuple, ds.test_x.flatten(1).tolist()))
    again, _ = evaluation_data(ds, 0)
    assert torch.equal(again.train_x, ev.train_x)  # fixed by the seed
    assert not torch.equal(evaluation_data(ds, 1)[0].train_x, ev.train_x)
    no_test = ImageDataset(ds.train_x, ds.train_y, images(0, 2), torch.zeros(0, dtype=torch.long), [])
    ev, how = evaluation_data(no_test, 0)
    assert ev is None and how.startswith('none')
    one_class = unlabelled(classes=1)
    assert evaluation_data(one_class, 0)[0] is None


def test_unlabelled_train_split_evaluates_on_test_halves(tmp_path, data, capsys):
    data(unlabelled())
    s = train(preset_config('smoke', out=str(tmp_path), name='u'), progress=False)
    out = capsys.readouterr().out
    assert 'evaluation: the training images have no labels' in out and '20 images as memory' in out
    assert s['evaluation'] == 'test split halves' and 0 <= s['knn'] <= 1 and 0 <= s['linear'] <= 1
    stored = json.loads((tmp_path / 'u' / 'summary.json').read_text())
    assert stored['evaluation'] == 'test split halves'
    history = [json.loads(l) for l in (tmp_path / 'u' / 'metrics.jsonl').read_text().splitlines()]
    assert all('knn' in h for h in history)


def test_unlabelled_without_a_test_split_trains_without_evaluation(tmp_path, data, capsys):
    ds = unlabelled()
    data(ImageDataset(ds.train_x, ds.train_y, images(0, 2), torch.zeros(0, dtype=torch.long), [], ds.name))
    s = train(preset_config('smoke', out=str(tmp_path), name='u', curation='pair'), progress=False)
    out = capsys.readouterr().out
    assert 'no kNN, no linear probe' in out and 'summary: no accuracy' in out
    run = tmp_path / 'u'
    assert {'checkpoint.pt', 'metrics.png', 'summary.json', 'config.json', 'metrics.jsonl'} <= {p.name for p in run.iterdir()}
    stored = json.loads((run / 'summary.json').read_text())
    assert stored['evaluation'].startswith('none') and stored['epochs'] == 2
    assert not {'knn', 'knn10', 'linear'} & set(stored)  # absent, not zero
    history = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert not any('knn' in h or k.startswith('pair_dropped_class') for h in history for k in h)
    assert all(h['loss'] == h['loss'] for h in history)


def test_a_scheme_that_needs_labels_refuses(tmp_path, data):
    data(unlabelled())
    with pytest.raises(ValueError, match='--curation oracle reads the labels of the training images'):
        train(preset_config('smoke', out=str(tmp_path), name='o', curation='oracle'), progress=False)
    assert not (tmp_path / 'o').exists()


def test_too_many_neighbours_for_the_memory_half(tmp_path, data):
    data(unlabelled())
    with pytest.raises(ValueError, match=r'knn_k=30: more neighbours than the 20 images of the kNN memory'):
        train(preset_config('smoke', out=str(tmp_path), name='k', knn_k=30), progress=False)


def test_bc_train_on_folders_of_images(tmp_path, monkeypatch, capsys):
    "End to end with the real loader: a flat folder trains without evaluation; beside labelled test/ it evaluates."
    from PIL import Image
    from batch_curation.train import main
    monkeypatch.setenv('BC_CACHE_DIR', str(tmp_path / 'cache'))
    for i, x in enumerate(images(96, 2)):
        for folder in ('flat', 'own/train'):
            (tmp_path / folder).mkdir(parents=True, exist_ok=True)
            Image.fromarray(x.permute(1, 2, 0).numpy()).save(tmp_path / folder / f'{i}.png')
    for i, x in enumerate(images(24, 3)):
        (tmp_path / f'own/test/c{i % 3}').mkdir(parents=True, exist_ok=True)
        Image.fromarray(x.permute(1, 2, 0).numpy()).save(tmp_path / f'own/test/c{i % 3}/{i}.png')
    args = ['--preset', 'smoke', '--epochs', '1', '--batch-size', '32', '--knn-k', '3', '--out', str(tmp_path / 'runs')]
    main(args + ['--data', str(tmp_path / 'flat'), '--name', 'flat'])
    flat = json.loads((tmp_path / 'runs/flat/summary.json').read_text())
    assert flat['evaluation'].startswith('none') and flat.get('knn') is None and flat.get('linear') is None
    main(args + ['--data', str(tmp_path / 'own'), '--name', 'own'])
    own = json.loads((tmp_path / 'runs/own/summary.json').read_text())
    assert own['evaluation'] == 'test split halves' and 0 <= own['knn'] <= 1 and 0 <= own['linear'] <= 1
    assert 'test split alone' in capsys.readouterr().out
