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
    for name, text in (('python', STUB), ('bc_train', RECORDER), ('jupyter', RECORDER)):
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
