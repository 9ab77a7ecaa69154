"""bc_train never overwrites, mixes or silently changes a run folder, and checks every setting before it writes anything."""
import dataclasses, fcntl, json, os, resource, shutil, signal, subprocess, sys
from pathlib import Path
import pytest, torch
from batch_curation.train import TrainConfig, _parser, main

ROOT = Path(__file__).resolve().parents[1]
BC_TRAIN = str(Path(sys.executable).with_name('bc_train'))
SMALL = ['--preset', 'smoke', '--train-subset', '320', '--test-subset', '200', '--knn-k', '5']


def run_cli(*args, env=None, **kw):
    env = {**os.environ, 'OMP_NUM_THREADS': '1', **(env or {})}
    return subprocess.run([BC_TRAIN, *map(str, args)], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env, **kw)


def _default_sigint():
    # a test run started in the background by a shell inherits SIGINT ignored, and so would bc_train: Ctrl-C tests
    # send SIGINT, so the child starts with the default action, as it has when a user runs it in a terminal
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(*args):
    return subprocess.Popen([BC_TRAIN, *map(str, args)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, 'OMP_NUM_THREADS': '1'}, preexec_fn=_default_sigint)


def error_of(*argv):
    "The message with which `bc_train argv` stops (in this process: for errors found before any training)."
    with pytest.raises(SystemExit) as e: main([str(a) for a in argv])
    return str(e.value.code)


def contents(d): return {p.name: p.read_bytes() for p in Path(d).iterdir()}


def stored_settings(run):
    "The settings that the checkpoint of `run` was trained with."
    return torch.load(run / 'checkpoint.pt', weights_only=False)['cbs']['RunSettingsCB']['config']


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    "A finished 2-epoch smoke run, seed 1, on one CPU thread."
    out = tmp_path_factory.mktemp('runs')
    r = run_cli(*SMALL, '--seed', '1', '--threads', '1', '--out', out, '--name', 'done')
    assert r.returncode == 0, r.stderr[-3000:]
    return out / 'done'


@pytest.fixture
def run(finished, tmp_path):
    "A copy of the finished run, for a test to try to change."
    shutil.copytree(finished, tmp_path / 'done')
    return tmp_path / 'done'


def edit_config(run, **changes):
    cfg = run / 'config.json'
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), **changes}))


# ---- a run folder that holds a run is never written by another run ----

def test_new_run_with_an_existing_name_is_refused(run):
    before = contents(run)
    msg = error_of(*SMALL, '--seed', '2', '--epochs', '1', '--out', run.parent, '--name', 'done')
    assert 'already exists and holds a run' in msg and f'--resume {run}' in msg, msg
    assert contents(run) == before


def test_two_runs_started_at_once_with_one_name(tmp_path):
    "One of them runs, the other is refused, and the folder holds the one that ran, whole."
    args = {1: ('--seed', '1', '--epochs', '3'), 2: ('--seed', '2', '--epochs', '1')}
    procs = {s: start_cli(*SMALL, *a, '--out', tmp_path, '--name', 'same') for s, a in args.items()}
    results = {s: (p.wait(timeout=600), p.stderr.read()) for s, p in procs.items()}
    winners = [s for s, (rc, _) in results.items() if rc == 0]
    assert len(winners) == 1, results
    loser = results[3 - winners[0]][1]
    assert 'in use by another process' in loser or 'already exists and holds a run' in loser, loser[-3000:]
    assert 'Traceback' not in loser
    seed, epochs = winners[0], 3 if winners[0] == 1 else 1
    d = tmp_path / 'same'
    config, summary = json.loads((d / 'config.json').read_text()), json.loads((d / 'summary.json').read_text())
    ck = torch.load(d / 'checkpoint.pt', weights_only=False)
    assert (config['seed'], config['epochs']) == (seed, epochs)
    assert (summary['config']['seed'], summary['epochs']) == (seed, epochs)
    assert (ck['cbs']['RunSettingsCB']['config']['seed'], ck['epoch']) == (seed, epochs)
    assert [json.loads(l)['epoch'] for l in (d / 'metrics.jsonl').read_text().splitlines()] == list(range(1, epochs + 1))


def test_a_folder_in_use_is_refused(run):
    "While a process holds the run folder's lock, another one may not resume it."
    before = contents(run)
    fd = os.open(run, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        r = run_cli('--resume', run, '--epochs', '3')
    finally: os.close(fd)
    assert r.returncode != 0 and f'run folder {run} is in use by another process' in r.stderr, r.stderr[-3000:]
    assert 'Traceback' not in r.stderr
    assert contents(run) == before


# ---- a resumed run continues the same run ----

def test_resume_refuses_fewer_epochs_than_done(run):
    before = contents(run)
    for more in (['--epochs', '1'], []):  # finished: nothing left to do, and its summary stays
        msg = error_of('--resume', run, *more)
        assert f'{run} has done 2 epochs and finished; its result stays' in msg and 'N > 2' in msg, msg
        assert 'pass --epochs 2 or more' not in msg, msg
    assert contents(run) == before


@pytest.mark.parametrize('args,msg', [
    (['--config', 'no/such/other.toml'], 'drop --config'),
    (['--preset', 'quick'], 'not preset (stored: smoke)'),
    (['--seed', '5'], 'not seed (stored: 1)'),
    (['--knn-k', '7', '--epochs', '3'], 'not knn_k (stored: 5)'),
])
def test_resume_refuses_flags_it_does_not_honour(run, args, msg):
    before = contents(run)
    err = error_of('--resume', run, *args)
    assert msg in err, err
    assert contents(run) == before


@pytest.mark.parametrize('changes,msg', [
    (dict(batch_size=32), 'batch_size=32 (checkpoint: 64)'),
    (dict(curation='mask'), "curation='mask' (checkpoint: 'none')"),
    (dict(head_out=16), 'head_out=16 (checkpoint: 32)'),
])
def test_resume_refuses_a_hand_edited_config(run, changes, msg):
    edit_config(run, **changes)
    before = contents(run)
    err = error_of('--resume', run, '--epochs', '3')
    assert msg in err and 'does not match the settings' in err, err
    assert contents(run) == before


def test_resume_refuses_a_checkpoint_of_another_model_shape(run):
    "A checkpoint without stored settings (an older one) is still checked: its weights must fit the model."
    s = torch.load(run / 'checkpoint.pt', weights_only=False)
    del s['cbs']['RunSettingsCB']
    torch.save(s, run / 'checkpoint.pt')
    edit_config(run, head_out=16)
    err = error_of('--resume', run, '--epochs', '3')
    assert 'holds another model than its settings build' in err and 'head' in err and '(32,' in err, err
    assert 'size mismatch' not in err


def test_truncated_config_json_is_named(run):
    cfg = run / 'config.json'
    cfg.write_text(cfg.read_text()[:40])
    err = error_of('--resume', run, '--epochs', '3')
    assert f'cannot read {cfg}' in err, err


def test_resume_removes_stale_temporary_files_and_says_where_it_resumes(run):
    (run / 'summary.json').unlink()  # a run stopped after its last checkpoint (a finished one is extended elsewhere)
    (run / '.checkpoint.pt.4242.tmp').write_bytes(b'\0' * 100_000)  # a save that a kill interrupted
    (run / '.metrics.jsonl.4242.tmp').write_text('{"epoch": 1')
    r = run_cli('--resume', run, '--epochs', '3')
    assert r.returncode == 0, r.stderr[-3000:]
    assert f'resuming {run} from epoch 2 of 3' in r.stdout, r.stdout[-3000:]
    assert not [p.name for p in run.iterdir() if p.name.startswith('.')]
    assert torch.load(run / 'checkpoint.pt', weights_only=False)['epoch'] == 3
    assert stored_settings(run)['epochs'] == 3 and stored_settings(run)['seed'] == 1


def _small_files_only():  # a full disk, as far as checkpoint.pt is concerned
    resource.setrlimit(resource.RLIMIT_FSIZE, (512 * 1024, 512 * 1024))


def test_a_failed_checkpoint_save_says_the_last_checkpoint_is_intact(run):
    (run / 'summary.json').unlink()  # a run stopped after its last checkpoint (a finished one is extended elsewhere)
    before = (run / 'checkpoint.pt').read_bytes()
    assert len(before) > 1024 * 1024
    r = run_cli('--resume', run, '--epochs', '3', preexec_fn=_small_files_only)
    assert r.returncode != 0 and f'cannot write to run folder {run}' in r.stderr, r.stderr[-3000:]
    assert f'the last checkpoint {run / "checkpoint.pt"} is intact' in r.stderr and f'--resume {run}' in r.stderr
    assert 'Traceback' not in r.stderr
    assert not [p.name for p in run.iterdir() if p.name.startswith('.')]  # no temporary file left
    assert (run / 'checkpoint.pt').read_bytes() == before


# ---- every setting is checked, before anything is written ----

@pytest.mark.parametrize('line,msg', [
    ('epochs = "1"', "epochs = '1' is a str; expected int"),
    ('lr = "0.1"', "lr = '0.1' is a str; expected float or none"),
    ('seed = "abc"', "seed = 'abc' is a str; expected int"),
    ('batch_size = 64.5', 'batch_size = 64.5 is a float; expected int'),
    ('curation_args = "quantile=0.5"', "curation_args = 'quantile=0.5' is a str; expected dict"),
    ('linear_probe = "no"', "linear_probe = 'no' is a str; expected bool"),
])
def test_config_file_types(tmp_path, line, msg):
    cfg = tmp_path / 'arm.toml'
    cfg.write_text(f'preset = "smoke"\n{line}\n')
    err = error_of('--config', cfg, '--out', tmp_path / 'runs')
    assert f'--config {cfg}: {msg}' in err, err
    assert not (tmp_path / 'runs').exists()


@pytest.mark.parametrize('args,msg', [
    (['--knn-k', '0'], 'knn_k=0: must be at least 1'),
    (['--image-size', '0'], 'image_size=0: must be at least 8'),
    (['--threads', '0'], 'threads=0: must be at least 1'),
    (['--knn-t', '0'], 'knn_t=0.0: must be > 0'),
    (['--momentum', '1.5'], 'momentum=1.5'),
    (['--crop-scale-min', '1.5'], 'crop_scale_min=1.5'),
    (['--gray-p', '2'], 'gray_p=2.0'),
    (['--device', 'gpu0'], "device='gpu0'"),
    (['--curation', 'batch', '--curation-args', '{"quantile": 2}'], 'quantile=2'),
    (['--curation', 'mask', '--curation-args', '{"q": 1}'], "unknown parameter(s) q for curation scheme 'mask'"),
    (['--curation-args', '[1]'], '--curation-args is not a JSON object'),
])
def test_settings_are_checked_before_the_run_folder_exists(tmp_path, args, msg):
    err = error_of(*SMALL, *args, '--out', tmp_path / 'runs')
    assert msg in err, err
    assert not (tmp_path / 'runs').exists()


def test_threads_setting(finished):
    assert json.loads((finished / 'summary.json').read_text())['threads'] == 1
    assert json.loads((finished / 'config.json').read_text())['threads'] == 1


def test_offline_error_names_the_data_flag(tmp_path):
    "Offline (a proxy that refuses every connection), the download error says how to pass an archive instead."
    env = {k: v for k, v in os.environ.items() if k.lower() not in ('no_proxy', 'bc_cifar10_archive')}
    env.update({k: 'http://127.0.0.1:9' for k in ('http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY')})
    r = subprocess.run([BC_TRAIN, *SMALL, '--data', 'cifar10', '--root', str(tmp_path / 'empty'), '--out', str(tmp_path / 'runs')],
                       cwd=ROOT, capture_output=True, text=True, timeout=600, env={**env, 'OMP_NUM_THREADS': '1'})
    assert r.returncode != 0 and 'could not download CIFAR-10' in r.stderr, r.stderr[-3000:]
    assert 'make train ARGS="--data path/to/archive"' in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path / 'runs').exists()


def test_help_documents_every_setting():
    r = run_cli('--help')
    assert r.returncode == 0
    flags = {a.dest: a for a in _parser()._actions}
    for f in dataclasses.fields(TrainConfig):
        assert '--' + f.name.replace('_', '-') in r.stdout, f.name
        h = flags[f.name].help
        assert h and '[default ' in h and len(h.split('[default')[0].strip()) > 2, (f.name, h)
    assert '--no-linear-probe' in r.stdout and 'INT|none' in r.stdout
