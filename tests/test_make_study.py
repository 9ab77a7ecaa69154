"""`make study`: seeds outer, arms in order (all of CONFIGS, or ARMS), finished runs skipped, stopped ones resumed.

A stand-in `bc_train` records its calls, so that no training runs; a stand-in venv (its `.installed` stamp newer than
settings.ini and setup.py) keeps make from installing anything."""
import os, shutil, subprocess, textwrap
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
FAKE_TRAIN = textwrap.dedent('''\
    #!/usr/bin/env bash
    # records "start NAME SEED" or "resume NAME", then finishes the run
    calls=$(dirname "$0")/calls
    if [ "$1" = --resume ]; then echo "resume $(basename "$2")" >> "$calls"; touch "$2/summary.json"; exit 0; fi
    while [ $# -gt 0 ]; do case $1 in --seed) seed=$2;; --out) out=$2;; --name) name=$2;; esac; shift 2; done
    echo "start $name $seed" >> "$calls"; mkdir -p "$out/$name"; touch "$out/$name/summary.json"
    ''')

@pytest.fixture
def study(tmp_path):
    if shutil.which('make') is None: pytest.skip('make is not installed')
    venv = tmp_path / 'venv'; (venv / 'bin').mkdir(parents=True)
    spec = next(l.split('?=', 1)[1].strip() for l in (ROOT / 'Makefile').read_text().splitlines()
                if l.startswith('TORCH ?='))  # the spec make compares with: equal, so it installs nothing
    (venv / 'bin' / '.torch-spec').write_text(spec + '\n')
    (venv / 'bin' / 'bc_train').write_text(FAKE_TRAIN); (venv / 'bin' / 'bc_train').chmod(0o755)
    (venv / 'bin' / 'python').symlink_to(shutil.which('python3') or '/usr/bin/python3')
    (venv / 'bin' / '.installed').touch()
    os.utime(venv / 'bin' / '.installed', (2e9, 2e9))  # newer than settings.ini, setup.py and the spec
    cfgs = tmp_path / 'cfgs'; cfgs.mkdir()
    for arm in ('b-arm', 'a-arm', 'c-arm'): (cfgs / f'{arm}.toml').write_text('epochs = 1\n')
    out = tmp_path / 'out'

    def make(*args):
        r = subprocess.run(['make', '-s', 'study', f'VENV={venv}', f'CONFIGS={cfgs}', f'STUDY_OUT={out}', *args],
                           cwd=ROOT, capture_output=True, text=True)
        calls = (venv / 'bin' / 'calls').read_text().splitlines() if (venv / 'bin' / 'calls').exists() else []
        (venv / 'bin' / 'calls').unlink(missing_ok=True)
        return r, calls
    return make, out

def test_every_arm_seed_by_seed(study):
    make, out = study
    r, calls = make('SEEDS=0 1')
    assert r.returncode == 0, r.stderr
    assert calls == ['start a-arm-s0 0', 'start b-arm-s0 0', 'start c-arm-s0 0',
                     'start a-arm-s1 1', 'start b-arm-s1 1', 'start c-arm-s1 1']
    r, calls = make('SEEDS=0 1')  # everything finished: nothing runs again
    assert r.returncode == 0 and calls == [] and r.stdout.count('finished:') == 6

def test_arms_in_their_order_and_resume(study):
    make, out = study
    (out / 'b-arm-s2').mkdir(parents=True); (out / 'b-arm-s2' / 'checkpoint.pt').touch()  # a stopped run
    r, calls = make('SEEDS=2', 'ARMS=c-arm b-arm')
    assert r.returncode == 0, r.stderr
    assert calls == ['start c-arm-s2 2', 'resume b-arm-s2']
    assert not (out / 'a-arm-s2').exists()

def test_unknown_arm_is_named(study):
    make, out = study
    r, calls = make('SEEDS=0', 'ARMS=a-arm d-arm')
    assert r.returncode != 0 and calls == [] and not out.exists()
    assert 'd-arm.toml' in r.stderr and 'a-arm b-arm c-arm' in r.stderr
