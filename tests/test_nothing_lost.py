"""bc_train as a careless user meets it: nothing a user had is lost, and every bad input gets a named error.

A finished run is never replaced (a longer run gets its own folder), a folder that a run holds is never offered for
deletion, a resume refuses other data, Ctrl-C says how to resume, and the run folder's OS errors name the fix."""
import fcntl, json, os, re, shutil, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from PIL import Image
from batch_curation.train import main, write_error
from test_run_folder import run_cli, start_cli, error_of, contents, SMALL, finished, run  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[1]


def unfinished(run, epochs=None):
    "Make the copy `run` of a finished run look stopped after its last checkpoint (no summary.json)."
    (run / 'summary.json').unlink()
    if epochs:
        cfg = run / 'config.json'
        cfg.write_text(json.dumps({**json.loads(cfg.read_text()), 'epochs': epochs}))
    return run


def write_tree(root, n=24, size=8, classes=('cat', 'dog')):
    for split in ('train', 'test'):
        for k, c in enumerate(classes):
            (root / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n if split == 'train' else n // 2):
                Image.new('RGB', (size, size), (10 * i % 250, 80 * k, 99)).save(root / split / c / f'{i:04d}.png')
    return root


TREE_ARGS = ['--preset', 'smoke', '--image-size', 'none', '--batch-size', '16', '--knn-k', '5', '--epochs', '1',
             '--threads', '1', '--no-linear-probe']


# ---- a finished run is a result ----

def test_extending_a_finished_run_writes_a_new_folder(run):
    before = contents(run)
    r = run_cli('--resume', run, '--epochs', '3')
    assert r.returncode == 0, r.stderr[-3000:]
    assert contents(run) == before  # the finished run is untouched
    ext = run.parent / 'done-extended-to-3'
    assert 'not the same as a run trained for these epochs from the start' in r.stdout, r.stdout[-2000:]
    summary = json.loads((ext / 'summary.json').read_text())
    assert summary['epochs'] == 3 and summary['extended_from']['run'] == str(run) and summary['extended_from']['epochs'] == 2
    assert 'cosine learning-rate schedule computed for 2' in summary['extended_from']['note']
    assert [json.loads(l)['epoch'] for l in (ext / 'metrics.jsonl').read_text().splitlines()] == [1, 2, 3]
    assert json.loads((ext / 'config.json').read_text())['name'] == 'done-extended-to-3'
    # again: the extension exists, and is itself a finished run that is not replaced
    msg = error_of('--resume', run, '--epochs', '3')
    assert 'already exists and holds a run' in msg and 'finished run' in msg, msg
    assert contents(run) == before


def test_the_advice_for_a_finished_run_never_replaces_it(run):
    msg = error_of('--resume', run, '--epochs', '1')
    assert 'its result stays as it is' in msg and 'new run folder' in msg and 'pass --epochs 2 or more' not in msg, msg


# ---- a folder another process holds ----

def test_a_new_run_into_a_folder_being_created_is_told_it_is_in_use(tmp_path):
    "The first run holds the folder from its creation: the second is never advised to remove it."
    live = tmp_path / 'same'
    live.mkdir()
    (live / 'config.json').write_text('{}')  # a run that has not saved its first checkpoint yet
    fd = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        msg = error_of(*SMALL, '--out', tmp_path, '--name', 'same')
    finally: os.close(fd)
    assert 'in use by another process' in msg and 'remove' not in msg, msg
    assert (live / 'config.json').read_text() == '{}'


def test_extending_a_run_that_another_process_holds_is_refused(run):
    fd = os.open(run, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        msg = error_of('--resume', run, '--epochs', '3')
    finally: os.close(fd)
    assert 'in use by another process' in msg, msg
    assert not (run.parent / 'done-extended-to-3').exists()


# ---- the data of a resumed run ----

def test_resume_refuses_other_data_and_names_what_changed(tmp_path):
    tree = write_tree(tmp_path / 'tree')
    out = tmp_path / 'runs'
    r = run_cli(*TREE_ARGS, '--data', tree, '--out', out, '--name', 'r', env={'BC_CACHE_DIR': str(tmp_path / 'cache')})
    assert r.returncode == 0, r.stderr[-3000:]
    unfinished(out / 'r', epochs=1)
    f = tree / 'train' / 'cat' / '0003.png'
    st = f.stat()
    Image.new('RGB', (8, 8), (1, 2, 3)).save(f)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # the same name, size and modification time: other pixels
    before = contents(out / 'r')
    msg = error_of('--resume', out / 'r', '--epochs', '2')
    assert 'was trained on other data' in msg and 'train pixels: differ' in msg and 'test pixels' not in msg, msg
    (tree / 'train' / 'cat' / '0004.png').unlink()
    msg = error_of('--resume', out / 'r', '--epochs', '2')
    assert 'train images: 48 then, 47 now' in msg, msg
    assert contents(out / 'r') == before


def test_an_old_checkpoint_without_a_fingerprint_still_resumes(run, capsys):
    unfinished(run, epochs=2)
    s = torch.load(run / 'checkpoint.pt', weights_only=False)
    del s['cbs']['DataCheckCB']  # as the code before data fingerprints wrote it
    torch.save(s, run / 'checkpoint.pt')
    main(['--resume', str(run), '--epochs', '3'])
    assert 'holds no fingerprint of its data' in capsys.readouterr().out
    assert json.loads((run / 'summary.json').read_text())['epochs'] == 3


# ---- odd data ----

def test_tiny_images_are_refused(tmp_path):
    tree = write_tree(tmp_path / 'tree', size=1)
    msg = error_of(*TREE_ARGS, '--data', tree, '--out', tmp_path / 'runs')
    assert 'are 1x1 pixels' in msg and '--image-size' in msg, msg
    assert not (tmp_path / 'runs').exists()


def test_one_class_trains_with_a_warning(tmp_path):
    tree = write_tree(tmp_path / 'tree', classes=('cat',))
    r = run_cli(*TREE_ARGS, '--data', tree, '--out', tmp_path / 'runs', '--name', 'one', env={'BC_CACHE_DIR': str(tmp_path / 'c')})
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'warning: the training images of tree are all of one class' in r.stderr and 'mean nothing' in r.stderr


def test_mixed_image_sizes_name_the_flag(tmp_path):
    tree = write_tree(tmp_path / 'tree')
    Image.new('RGB', (9, 9)).save(tree / 'train' / 'cat' / '0000.png')
    msg = error_of(*TREE_ARGS, '--data', tree, '--out', tmp_path / 'runs')
    assert 'pass --image-size N' in msg and 'size=N' not in msg, msg


@pytest.mark.parametrize('args,msg', [
    (['--knn-k', '5000'], 'knn_k=5000: more neighbours than the 2,000 training images'),
    (['--train-subset', '5000'], 'train_subset=5000: procedural shapes (synthetic) has only 2,000 training images'),
    (['--test-subset', '900'], 'test_subset=900: procedural shapes (synthetic) has only 500 test images'),
    (['--curation', 'pair', '--curation-args', '{"pool_factor": 40}'], 'a pool of 2560 images per step needs more than'),
    (['--curation', 'batch', '--curation-args', '{"quantile": "high"}'], "quantile='high' is a str; expected float"),
    (['--curation', 'batch', '--curation-args', '{"quantile": 2.5}'], 'quantile=2.5 must be in (0, 1)'),
    (['--curation', 'batch', '--curation-args', '{"tries": 2.5}'], 'tries=2.5 is a float; expected int'),
    (['--curation', 'mask', '--curation-args', '{"pos_quantile": "low"}'], "pos_quantile='low' is a str; expected float"),
    (['--curation', 'batch', '--curation-args', '{"threshold": "fixed", "threshold_value": "x"}'],
     "threshold_value='x' is a str; expected float or none"),
])
def test_data_size_and_scheme_arguments_are_checked_before_the_folder_exists(tmp_path, args, msg):
    err = error_of('--preset', 'smoke', *args, '--out', tmp_path / 'runs')
    assert msg in err, err
    assert not (tmp_path / 'runs').exists()


# ---- settings and messages ----

def test_a_seed_too_large_is_named(tmp_path):
    cfg = tmp_path / 'big.toml'
    cfg.write_text('preset = "smoke"\nseed = 100000000000000000000\n')
    err = error_of('--config', cfg, '--out', tmp_path / 'runs')
    assert 'seed=100000000000000000000: must be below 2**32' in err, err


def test_a_yaml_config_is_told_what_is_read(tmp_path):
    cfg = tmp_path / 'arm.yaml'
    cfg.write_text('preset: smoke\nepochs: 1\n')
    err = error_of('--config', cfg)
    assert 'reads .json and .toml files, not .yaml' in err, err


def test_a_deleted_config_is_restored_from_the_checkpoint(run):
    unfinished(run)
    kept = json.loads((run / 'config.json').read_text())
    (run / 'config.json').unlink()
    err = error_of('--resume', run)
    assert 'config.json is missing' in err and f'bc_train --resume {run} --restore-config' in err, err
    r = run_cli('--resume', run, '--restore-config')
    assert r.returncode == 0, r.stderr[-3000:]
    assert 'restored' in r.stdout and json.loads((run / 'config.json').read_text()) == kept
    assert (run / 'summary.json').exists()
    err = error_of('--resume', run, '--restore-config', '--epochs', '3')  # a config.json that is there is never replaced
    assert 'it is never replaced' in err, err


# ---- the run folder's OS errors ----

def test_out_is_a_file(tmp_path):
    (tmp_path / 'file').write_text('x')
    err = error_of(*SMALL, '--out', tmp_path / 'file')
    assert f'cannot create run folder {tmp_path / "file"}/' in err and 'is a file' in err and '--out' in err, err


def test_a_name_too_long(tmp_path):
    err = error_of(*SMALL, '--out', tmp_path / ('x' * 300))
    assert 'cannot create run folder' in err and 'File name too long' in err and 'shorter --name or --out' in err, err
    err = error_of(*SMALL, '--out', tmp_path, '--name', 'y' * 240)
    assert 'a run folder\'s name takes at most 200' in err, err


def test_an_unwritable_out_folder(tmp_path, monkeypatch):
    "A read-only folder (faked: root may write anywhere) is named before any data is loaded."
    monkeypatch.setattr('batch_curation.train.os.access', lambda p, mode: False)
    err = error_of(*SMALL, '--out', tmp_path / 'runs')
    assert f'cannot create run folder {tmp_path / "runs"}' in err and 'Permission denied' in err and '--out' in err, err


def test_out_under_sys(tmp_path):
    r = run_cli(*SMALL, '--epochs', '1', '--out', '/sys/bc-runs')
    assert r.returncode == 1 and 'cannot create run folder /sys/bc-runs/' in r.stderr and 'Traceback' not in r.stderr, r.stderr


def test_permission_denied_is_not_advised_as_free_space(tmp_path):
    (tmp_path / 'checkpoint.pt').write_bytes(b'x')
    msg = str(write_error(tmp_path, PermissionError(13, 'Permission denied')))
    assert 'writable' in msg and 'free some space' not in msg, msg
    assert 'free some space' in str(write_error(tmp_path, OSError(28, 'No space left on device')))


def test_an_unexpected_error_is_called_a_bug(tmp_path, monkeypatch, capsys):
    def broken(*a, **k): raise ZeroDivisionError('division by zero')
    monkeypatch.setattr('batch_curation.train.build_learner', broken)
    with pytest.raises(SystemExit) as e: main([*SMALL, '--out', str(tmp_path)])
    err = capsys.readouterr().err
    assert e.value.code == 1 and 'Traceback' in err and 'this is a bug in batch_curation' in err and '/issues' in err, err


# ---- Ctrl-C ----

def test_ctrl_c_says_how_to_resume_and_the_run_resumes_exactly(tmp_path):
    args = ['--preset', 'smoke', '--seed', '3', '--epochs', '4', '--threads', '1', '--knn-k', '5', '--out', tmp_path]
    full = run_cli(*args, '--name', 'full')
    assert full.returncode == 0, full.stderr[-3000:]
    p = start_cli(*args, '--name', 'part')
    ck, t0 = tmp_path / 'part' / 'checkpoint.pt', time.time()
    while time.time() - t0 < 300 and p.poll() is None and not ck.exists(): time.sleep(0.05)
    assert p.poll() is None, 'the run ended before Ctrl-C'
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and re.search(r'stopped (after epoch \d|in epoch \d+ after \d+ of its)', err), err
    assert re.search(rf"resume with: \S*bc_train --resume {re.escape(str(tmp_path / 'part'))}", err), err
    assert (tmp_path / 'part' / 'metrics.png').stat().st_size > 1000
    assert not [q for q in (tmp_path / 'part').iterdir() if q.name.startswith('.')]
    r = run_cli('--resume', tmp_path / 'part')  # the command it printed
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = (torch.load(tmp_path / n / 'checkpoint.pt', weights_only=False) for n in ('full', 'part'))
    assert all(torch.equal(v, b['model'][k]) for k, v in a['model'].items())
    sa, sb = (json.loads((tmp_path / n / 'summary.json').read_text()) for n in ('full', 'part'))
    assert sa['knn'] == sb['knn'] and sa['linear'] == sb['linear']


def test_ctrl_c_before_the_first_checkpoint_keeps_the_steps_done(tmp_path):
    "Ctrl-C stops at the end of a step and saves it, even before the run's first regular checkpoint."
    p = start_cli('--preset', 'smoke', '--epochs', '3', '--checkpoint-every', '3', '--threads', '1', '--out', tmp_path,
                  '--name', 'early')
    metrics, t0 = tmp_path / 'early' / 'metrics.jsonl', time.time()
    while time.time() - t0 < 300 and p.poll() is None and not metrics.exists(): time.sleep(0.05)
    assert p.poll() is None, 'the run ended before Ctrl-C'
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130 and 'Traceback' not in err and 'resume with: ' in err, err
    assert (tmp_path / 'early' / 'checkpoint.pt').exists()
    r = run_cli('--resume', tmp_path / 'early')
    assert r.returncode == 0 and (tmp_path / 'early' / 'summary.json').exists(), r.stderr[-3000:]
