"""The study chapter (nbs/09_experiments.ipynb) is stored executed by `make report`; its outputs must agree with results/.

A learner reads 09's stored outputs in Jupyter and on the site without running it, so a stale output is a figure that
disagrees with the results page. These tests compare the stored outputs with the files the runs give today: every
table row of the generated tables (which nbdev_test keeps in step with the runs) and the seeds stored per arm.
"""
import json, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / 'nbs' / '09_experiments.ipynb'
STUDY = ROOT / 'results' / 'cifar10-cpu'
TABLES = ['status.md', 'table.md', 'stage3.md', 'stage4.md']


def outputs(nb=NB)->str:
    "Every stored output of the notebook as text (Markdown, plain text and streams), in order."
    parts = []
    for c in json.loads(nb.read_text())['cells']:
        for o in c.get('outputs', []):
            if 'text' in o: parts.append(''.join(o['text']))
            for kind in ('text/markdown', 'text/plain'):
                if kind in o.get('data', {}): parts.append(''.join(o['data'][kind]))
    return '\n'.join(parts)


def seeds_tables(text:str)->list:
    "The one-row tables of seeds per arm that 09 shows: a dict per table, arm -> seeds."
    found = re.findall(r'\| ([^\n]+) \|\n\|(?:---:\|)+\n\| ([\d |]+) \|', text)
    return [dict(zip([a.strip() for a in arms.split('|')], [int(n) for n in counts.split('|')])) for arms, counts in found]


def stored_seeds(arm:str, below:int=6)->int:
    "Finished runs of `arm` with a seed below `below` in the study folder."
    return sum(1 for d in STUDY.glob(f'{arm}-s*') if (d / 'summary.json').exists()
               and re.fullmatch(rf'{re.escape(arm)}-s(\d+)', d.name) and int(d.name.rsplit('-s', 1)[1]) < below)


def test_09_is_stored_executed():
    cells = [c for c in json.loads(NB.read_text())['cells'] if c['cell_type'] == 'code']
    shown = [c for c in cells if c.get('outputs')]
    assert len(shown) >= len(cells) // 2, f"{NB.name}: only {len(shown)} of {len(cells)} code cells have outputs: run make report"


@pytest.mark.parametrize('table', TABLES)
def test_09_shows_every_row_of_the_generated_tables(table):
    text, rows = outputs(), [l for l in (STUDY / table).read_text().splitlines() if l.startswith('|')]
    missing = [r for r in rows if r not in text]
    assert not missing, (f"{len(missing)} of {len(rows)} rows of results/cifar10-cpu/{table} are not in the stored "
                         f"outputs of {NB.name} (first: {missing[0][:100]}): run make report")


def test_09_seed_counts_are_the_stored_runs():
    tables = seeds_tables(outputs())
    assert tables, f"{NB.name} shows no table of seeds per arm"
    for t in tables:
        if 'baseline' in t and t['baseline'] > 6: continue  # the second reading counts seeds 0-11
        for arm, n in t.items():
            assert n == stored_seeds(arm), f"{NB.name} says {arm} has {n} seeds; results/ has {stored_seeds(arm)}"


def test_the_seed_table_parser():
    t = seeds_tables('x\n| a | b-c |\n|---:|---:|\n| 6 | 2 |\n')
    assert t == [{'a': 6, 'b-c': 2}]
