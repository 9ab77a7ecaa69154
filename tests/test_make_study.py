"""`make study`: seeds outer, arms in order (all of CONFIGS, or ARMS), finished runs skipped, stopped ones resumed.

A stand-in `bc_train` records its calls and writes each run's `config.json` as bc_train would (made here, from the
arm's config), so that no training runs; a stand-in venv (its `.installed` stamp newer than settings.ini and setup.py,
its python this one, for the check of the arms) keeps make from installing anything."""
import json, os, shlex, shutil, subprocess, sys, textwrap
from pathlib import Path
import pytest
from batch_curation.report import _arm_config

ROOT = Path(__file__).resolve().parents[1]
FAKE_TRAIN = textwrap.dedent('''\
    #!/usr/bin/env bash
    # records "start NAME SEED" or "resume NAME", then finishes the run (once the file FAKE_TRAIN_HOLD exists, if set)
    calls=$(dirname "$0")/calls
    if [ "$1" = --resume ]; then echo "resume $(basename "$2")" >> "$calls"; touch "$2/summary.json"; exit 0; fi
    while [ $# -gt 0 ]; do case $1 in --seed) seed=$2;; --out) out=$2;; --name) name=$2;; esac; shift 2; done
    echo "start $name $seed" >> "$calls"; mkdir -p "$out/$name"
    cp "$(dirname "$0")/configs/$name.json" "$out/$name/config.json"
    while [ -n "${FAKE_TRAIN_HOLD:-}" ] && [ ! -e "$FAKE_TRAIN_HOLD" ]; do sleep 0.1; done
    echo "trained $name"; touch "$out/$name/summary.json"
    ''')


class Study:
    "A study in `tmp`: arms (CONFIGS) in cfgs/, runs in out/, a stand-in venv whose bc_train is `trainer`."
    def __init__(self, tmp:Path, trainer:str=FAKE_TRAIN, arms=('b-arm', 'a-arm', 'c-arm'), toml='epochs = 1\n'):
        if shutil.which('make') is None: pytest.skip('make is not installed')
        self.venv, self.cfgs, self.out = tmp / 'venv', tmp / 'cfgs', tmp / 'out'
        b = self.venv / 'bin'; b.mkdir(parents=True); self.cfgs.mkdir()
        (b / '.torch-spec').write_text('torch\n')  # the torch spec make remembers: unchanged, so it installs nothing
        (b / 'bc_train').write_text(trainer); (b / 'bc_train').chmod(0o755)
        (b / 'python').write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')  # this venv's: the arms are checked
        (b / 'python').chmod(0o755)
        (b / '.installed').touch()
        os.utime(b / '.installed', (2e9, 2e9))  # newer than settings.ini, setup.py and the spec
        (b / 'configs').mkdir()
        for arm in arms:
            (self.cfgs / f'{arm}.toml').write_text(toml)
            for seed in range(4):  # what bc_train would write into the run folder's config.json
                cfg = _arm_config(self.cfgs / f'{arm}.toml', seed, self.out)
                (b / 'configs' / f'{arm}-s{seed}.json').write_text(json.dumps(cfg))

    def argv(self, *args): return ['make', '-s', 'study', f'VENV={self.venv}', f'CONFIGS={self.cfgs}',
                                   f'STUDY_OUT={self.out}', *args]

    def calls(self):
        "The stand-in's calls since the last look."
        f = self.venv / 'bin' / 'calls'
        calls = f.read_text().splitlines() if f.exists() else []
        f.unlink(missing_ok=True)
        return calls

    def make(self, *args, env=None, timeout=300):
        r = subprocess.run(self.argv(*args), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                           env={**os.environ, **(env or {})})
        return r, self.calls()


@pytest.fixture
def study(tmp_path):
    s = Study(tmp_path)
    return s.make, s.out


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
    shutil.copy(out.parent / 'venv' / 'bin' / 'configs' / 'b-arm-s2.json', out / 'b-arm-s2' / 'config.json')
    r, calls = make('SEEDS=2', 'ARMS=c-arm b-arm')
    assert r.returncode == 0, r.stderr
    assert calls == ['start c-arm-s2 2', 'resume b-arm-s2']
    assert not (out / 'a-arm-s2').exists()

def test_unknown_arm_is_named(study):
    make, out = study
    r, calls = make('SEEDS=0', 'ARMS=a-arm d-arm')
    assert r.returncode != 0 and calls == [] and not out.exists()
    assert 'd-arm.toml' in r.stderr and 'a-arm b-arm c-arm' in r.stderr
