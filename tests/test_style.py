"""The exported code reads as the notebooks teach it: no line over 120 characters, one statement per line.

`__all__` is left out: nbdev writes it itself, wrapped at its own width. The module docstring is the notebook's
`> subtitle`, so a long subtitle fails here too.
"""
import ast, io, tokenize
from pathlib import Path
import pytest

PKG = Path(__file__).resolve().parents[1] / 'batch_curation'
MODULES = sorted(p for p in PKG.glob('*.py') if p.name != '_modidx.py')
MAX_LINE = 120


def all_lines(tree):
    "Line numbers of the `__all__` assignment, which nbdev writes."
    out = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '__all__' for t in node.targets):
            out.update(range(node.lineno, node.end_lineno + 1))
    return out


def style_problems(source, name='<source>'):
    "Lines over `MAX_LINE` characters and statements chained with `;` (a `;` inside a string does not count)."
    skip = all_lines(ast.parse(source))
    long = [f"{name}:{i}: {len(line)} characters" for i, line in enumerate(source.splitlines(), 1)
            if len(line) > MAX_LINE and i not in skip]
    tokens = tokenize.generate_tokens(io.StringIO(source).readline)
    chained = [f"{name}:{t.start[0]}: statements chained with ';'" for t in tokens
               if t.type == tokenize.OP and t.string == ';']
    return long + chained


def test_checker_finds_what_it_should():
    assert style_problems('x = 1; y = 2\n') == ["<source>:1: statements chained with ';'"]
    assert style_problems('for i in range(3): a = i; b = i\n') == ["<source>:1: statements chained with ';'"]
    assert style_problems('s = "a; b"\n# c; d\n') == []
    assert style_problems('x = ' + '1 + ' * 40 + '1\n') == ['<source>:1: 165 characters']
    assert style_problems('__all__ = [' + "'a', " * 30 + ']\n') == []
    assert style_problems('"""' + 'd' * 130 + '"""\n') == ['<source>:1: 136 characters']


@pytest.mark.parametrize('path', MODULES, ids=lambda p: p.name)
def test_exported_code_style(path):
    problems = style_problems(path.read_text(), path.name)
    assert not problems, "edit the notebook cell, then nbdev_export:\n  " + "\n  ".join(problems)
