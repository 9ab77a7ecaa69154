"""A new user's first hour: the README's commands on a fresh clone, offline but for the package registries.

The Makefile is tried on a fresh `git clone` of the repository with a stand-in virtual environment (a `python` that
records what it is asked and runs only what needs no packages), so that no torch is installed: the torch choice is
remembered by every later target and any VENV, an index that cannot be reached falls back within seconds with one
line, an existing environment keeps its torch, every target takes an absolute VENV, and a run started by `make`
prints a resume command that `make` runs. The resume itself, as printed and without the environment variable that
named the data, is tried with the real `bc_train` (tests/test_interrupt.py: the same, within an epoch, per scheme).
"""
import json, os, shlex, signal, subprocess, sys, tarfile, threading, time
from functools import partial
from http.server import HTTPServer, SimpleHTTPRequestHandler
from pathlib import Path
import pytest, torch

ROOT = Path(__file__).resolve().parents[1]
BC_TRAIN = str(Path(sys.executable).with_name('bc_train'))
CPU = 'torch==2.14.1 torchvision==0.29.1'
UNREACHABLE = f'{CPU} --index-url http://127.0.0.1:9/whl/cpu'  # port 9: refused at once, as offline

STUB = r'''#!/usr/bin/env bash
# stands in for the venv's python: records its arguments, and "installs" torch as a marker file
here=$(cd "$(dirname "$0")" && pwd)
echo "python $*" >> "$here/../calls.log"
if [ "${1:-}" = "-" ]; then shift; exec python3 - "$@"; fi
if [ "${1:-}" = "-c" ]; then [ -f "$here/../torch" ] && echo 2.14.1+stub && exit 0; exit 1; fi
if [ "${1:-} ${2:-} ${3:-}" = "-m pip install" ] && [[ " $* " == *" torch=="* ]]; then touch "$here/../torch"; fi
if [ "${1:-} ${2:-} ${3:-}" = "-m pip uninstall" ]; then rm -f "$here/../torch"; fi
exit 0
'''
RECORDER = '#!/usr/bin/env bash\necho "$(basename "$0") $* | BC_RESUME_WITH=${BC_RESUME_WITH:-}" >> "$(dirname "$0")/../calls.log"\n'


@pytest.fixture(scope='module')
def clone(tmp_path_factory):
    "A fresh clone of the repository (its last commit)."
    d = tmp_path_factory.mktemp('clone') / 'batch_curation'
    subprocess.run(['git', 'clone', '--quiet', '--depth', '1', f'file://{ROOT}', str(d)], check=True, timeout=120)
    return d


def stub_venv(path:Path, torch_installed=False)->Path:
    (path / 'bin').mkdir(parents=True)
    for name, text in (('python', STUB), *((n, RECORDER) for n in ('bc_train', 'jupyter', 'nbdev_clean', 'nbdev_export'))):
        (path / 'bin' / name).write_text(text)
        (path / 'bin' / name).chmod(0o755)
    if torch_installed: (path / 'torch').touch()
    return path


def make(clone, *args, timeout=120):
    t0 = time.perf_counter()
    r = subprocess.run(['make', '--no-print-directory', *args], cwd=clone, capture_output=True, text=True, timeout=timeout,
                       env={k: v for k, v in os.environ.items() if k not in ('TORCH', 'VENV', 'MAKEFLAGS', 'MAKELEVEL')})
    r.seconds = time.perf_counter() - t0
    return r


def calls(venv): return (venv / 'calls.log').read_text().splitlines() if (venv / 'calls.log').exists() else []


def test_offline_cpu_command_falls_back_in_seconds_and_the_choice_is_remembered(clone, tmp_path):
    venv = stub_venv(tmp_path / 'venv')
    r = make(clone, 'smoke', f'VENV={venv}', f'TORCH={UNREACHABLE}')
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.seconds < 60, r.seconds  # not pip's minutes of retries
    said = [l for l in r.stdout.splitlines() if 'cannot be reached' in l]
    assert len(said) == 1 and 'http://127.0.0.1:9/whl/cpu' in said[0] and f"installing {CPU} from pip's own" in said[0]
    installs = [c for c in calls(venv) if 'pip install' in c and 'torch==' in c]
    assert installs == [f'python -m pip install --quiet {CPU}'], calls(venv)  # without the index it cannot reach
    assert (venv / 'bin' / '.torch-spec').read_text().strip() == UNREACHABLE
    assert f'bc_train --preset smoke | BC_RESUME_WITH=make smoke VENV={venv}' in calls(venv)
    before = len(calls(venv))
    for target in ('train', 'install', 'check-sync'):  # later targets, no TORCH: nothing is installed again
        r = make(clone, target, f'VENV={venv}')
        assert not [c for c in calls(venv)[before:] if 'torch' in c and 'pip' in c], (target, calls(venv)[before:])
    assert f'bc_train --curation batch | BC_RESUME_WITH=make train VENV={venv}' in calls(venv)
    assert (venv / 'bin' / '.torch-spec').read_text().strip() == UNREACHABLE
    r = make(clone, 'torch', f'VENV={venv}')  # tries the index again: still offline, the torch there is kept
    assert r.returncode == 0 and 'keeping torch 2.14.1+stub, already installed' in r.stdout, r.stdout + r.stderr


def test_an_index_that_answers_is_used_and_the_old_build_replaced(clone, tmp_path):
    (tmp_path / 'index').mkdir()
    server = HTTPServer(('127.0.0.1', 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path / 'index')))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        venv = stub_venv(tmp_path / 'venv', torch_installed=True)
        spec = f'{CPU} --index-url http://127.0.0.1:{server.server_port}/'
        r = make(clone, 'install', f'VENV={venv}', f'TORCH={spec}')
    finally: server.shutdown()
    assert r.returncode == 0 and 'cannot be reached' not in r.stdout, r.stdout + r.stderr
    torch_calls = [c for c in calls(venv) if 'torch' in c and 'pip' in c]
    assert torch_calls == ['python -m pip uninstall --quiet -y torch torchvision', f'python -m pip install {spec}']
    assert (venv / 'bin' / '.torch-installed').read_text() == (venv / 'bin' / '.torch-spec').read_text()


def test_an_existing_environment_keeps_its_torch(clone, tmp_path):
    "`make docs VENV=...` on an environment made by hand (no TORCH given, none remembered) does not reinstall torch."
    venv = stub_venv(tmp_path / 'mine', torch_installed=True)
    r = make(clone, 'install', f'VENV={venv}')
    assert r.returncode == 0 and 'using torch 2.14.1+stub, already in' in r.stdout, r.stdout + r.stderr
    assert not [c for c in calls(venv) if 'torch' in c and 'pip' in c], calls(venv)


def test_every_target_takes_an_absolute_venv(clone, tmp_path):
    venv = stub_venv(tmp_path / 'abs', torch_installed=True)
    r = make(clone, 'report', f'VENV={venv}')
    assert r.returncode == 0, r.stdout + r.stderr
    assert any(c.startswith('jupyter nbconvert') for c in calls(venv)), calls(venv)
    dry = make(clone, '-n', 'notebooks', 'docs', 'readme', 'export', 'test', 'check', 'study', f'VENV={venv}')
    assert dry.returncode == 0 and '../' not in dry.stdout, dry.stdout + dry.stderr


def test_make_resume_leaves_out_the_preset(clone, tmp_path):
    "The command a run started by `make` prints, `make train ARGS=\"--resume RUN\"`, passes no scheme or preset flag."
    venv = stub_venv(tmp_path / 'venv', torch_installed=True)
    for target in ('smoke', 'train'):
        assert make(clone, target, f'VENV={venv}', 'ARGS=--resume runs/x').returncode == 0
    assert [c.split(' |')[0] for c in calls(venv) if c.startswith('bc_train')] == ['bc_train --resume runs/x'] * 2


def tiny_archive(path:Path)->Path:
    "A CIFAR-like archive of train/<class>/*.png and test/<class>/*.png: procedural shapes, 16x16."
    from PIL import Image
    from batch_curation.data import procedural_dataset
    ds = procedural_dataset(n_train_per_class=32, n_test_per_class=8, size=16)
    with tarfile.open(path, 'w:gz') as tar:
        for split, x, y in (('train', ds.train_x, ds.train_y), ('test', ds.test_x, ds.test_y)):
            for i, (img, label) in enumerate(zip(x, y)):
                f = path.parent / f'{i}.png'
                Image.fromarray(img.permute(1, 2, 0).numpy()).save(f)
                tar.add(f, f'{split}/{ds.classes[label]}/{i:04d}.png')
                f.unlink()
    return path


def test_ctrl_c_then_the_printed_command_without_the_environment_ends_as_an_unbroken_run(tmp_path):
    "data 'auto' found through BC_CIFAR10_ARCHIVE; stopped within an epoch; resumed as printed, without the variable."
    archive = tiny_archive(tmp_path / 'shapes.tar.gz')
    args = ['--preset', 'smoke', '--data', 'auto', '--epochs', '3', '--batch-size', '8', '--knn-k', '5', '--threads', '1',
            '--curation', 'mask',
            '--curation-args', '{"warmup_steps": 3}', '--root', str(tmp_path / 'cache'), '--out', str(tmp_path)]
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'BC_CIFAR10_ARCHIVE': str(archive)}
    env.pop('BC_RESUME_WITH', None)
    full = subprocess.run([BC_TRAIN, *args, '--name', 'full'], cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert full.returncode == 0, full.stderr[-3000:]
    assert json.loads((tmp_path / 'full' / 'config.json').read_text())['data_source'] == str(archive)
    p = subprocess.Popen([BC_TRAIN, *args, '--name', 'part'], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    ck, t0 = tmp_path / 'part' / 'checkpoint.pt', time.time()
    while time.time() - t0 < 300 and p.poll() is None and not ck.exists(): time.sleep(0.02)
    time.sleep(0.05)
    p.send_signal(signal.SIGINT)  # early in epoch 2, of 40 steps of a few milliseconds
    out, err = p.communicate(timeout=300)
    assert p.returncode == 130 and 'Traceback' not in err, err[-3000:]
    said = [l for l in err.splitlines() if 'resume with: ' in l]
    assert said and said[0].startswith('stopped in epoch 2 after '), err[-3000:]
    cmd = said[0].split('resume with: ')[1]
    assert cmd == f".venv/bin/bc_train --resume {tmp_path / 'part'}", cmd  # what a shell in the clone can run
    env.pop('BC_CIFAR10_ARCHIVE')
    r = subprocess.run(shlex.split(cmd), cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = lambda d: [{k: v for k, v in json.loads(l).items() if k not in ('epoch_time', 'images_per_s')}
                       for l in (tmp_path / d / 'metrics.jsonl').read_text().splitlines()]
    assert lines('part') == lines('full')
    a, b = (torch.load(tmp_path / d / 'checkpoint.pt', weights_only=False)['model'] for d in ('full', 'part'))
    assert all(torch.equal(v, b[k]) for k, v in a.items())
    s = json.loads((tmp_path / 'part' / 'summary.json').read_text())
    assert s['segments'][1]['from_epoch'] == 1 and s['segments'][1]['from_step'] > 0 and s['world_size'] == 1


def test_the_header_says_what_curation_does(tmp_path):
    r = subprocess.run([BC_TRAIN, '--preset', 'smoke', '--epochs', '1', '--train-subset', '320', '--knn-k', '5',
                        '--curation', 'batch', '--out', str(tmp_path), '--name', 'h'], cwd=ROOT, capture_output=True,
                       text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert r.returncode == 0, r.stderr[-3000:]
    head = r.stdout.split('\nepoch 1/1')[0]
    assert 'curation: batch (batch selection), score alignment; loss nt_xent\n' in head
    assert 'warm-up: 5 steps (1 epoch), the whole run' in head
    assert 'never acts' in head and 'Ctrl-C stops at the end of a step' in head and '--resume ' in head
    s = json.loads((tmp_path / 'h' / 'summary.json').read_text())
    assert all(len(repr(v)) <= 9 for k, v in s.items() if isinstance(v, float))  # 0.528, not 0.527999997138977
    assert [json.loads(l)['epoch'] for l in (tmp_path / 'h' / 'metrics.jsonl').read_text().splitlines()] == [1]
    assert 'knn' in json.loads((tmp_path / 'h' / 'metrics.jsonl').read_text().splitlines()[0])



def test_make_check_picks_what_a_change_touches(clone, tmp_path):
    "A new batch criterion (05_criteria) runs that notebook, its checks and the quick tests of criteria, not the CLI's."
    sys.path.insert(0, str(ROOT / 'tools'))
    try: from check_changed import pick
    finally: sys.path.remove(str(ROOT / 'tools'))
    nbs, tests, slow, why = pick(['nbs/05_criteria.ipynb', 'batch_curation/criteria.py'])
    assert nbs == ['nbs/05_criteria.ipynb', 'nbs/checks/05_criteria.ipynb']
    assert 'test_curation.py' in tests and 'test_train.py' not in tests and 'test_stored_runs.py' not in tests
    assert 'imports batch_curation.criteria' in why['test_curation.py']
    nbs, tests, slow, _ = pick(['nbs/07_train.ipynb', 'tests/test_style.py'])
    assert 'nbs/checks/07_train.ipynb' in nbs and 'test_style.py' in tests  # quick: run
    assert {'test_train.py', 'test_run_folder.py'} <= set(slow) and 'test_train.py' not in tests  # end to end: named
    nb = clone / 'nbs' / '05_criteria.ipynb'  # on a fresh clone, an edit is found by git
    nb.write_text(nb.read_text().replace('# Criteria', '# Criteria ', 1))
    try:
        r = subprocess.run([sys.executable, 'tools/check_changed.py', '--dry-run'], cwd=clone, capture_output=True,
                           text=True, timeout=60)
    finally: subprocess.run(['git', 'checkout', '--', 'nbs/05_criteria.ipynb'], cwd=clone, check=True)
    assert r.returncode == 0 and 'nbs/05_criteria.ipynb, nbs/checks/05_criteria.ipynb' in r.stdout, r.stdout + r.stderr
