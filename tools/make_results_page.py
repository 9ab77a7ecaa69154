"""Fill the stored tables into results/README.md, the results page.

The page is written by hand around blocks that name a table file:

    <!-- table: cifar10-cpu/table.md -->
    ...the file's text, put here by this tool...
    <!-- end table -->

`make report` re-draws the tables from the stored runs and then runs this tool; tools/check_sync.py fails when the
page and the tables are out of step. With --check, say whether the page is up to date and change nothing; --page
names another page (its tables are read beside it).

Hand-written text is never replaced: a block without its end marker, an end marker without a block, or a table file
missing while the runs it is drawn from are stored stops the tool with the line to fix, and the page stays as it was.
A table whose folder holds no finished run yet is shown as a placeholder.
"""
import argparse, os, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / 'results' / 'README.md'
START = re.compile(r'<!-- table: (\S+) -->\n')
END = '<!-- end table -->'


class PageError(ValueError): "A results page whose table blocks cannot be filled without touching hand-written text."


def _line(text, i): return text.count('\n', 0, i) + 1


def blocks(text, page=PAGE):
    "(table file, start, end of the text it fills) for every table block of `text`; PageError for a broken block."
    marker, out, pos = re.compile(r'<!-- table:[^\n]*?-->\n?|<!-- end table -->'), [], 0
    while m := marker.search(text, pos):
        at = f"{page}, line {_line(text, m.start())}"
        if m.group(0) == END:
            raise PageError(f"{at}: {END} closes no table block; remove it, or add the <!-- table: FILE --> line "
                            "that opens its block")
        if not (start := START.fullmatch(m.group(0))):
            raise PageError(f"{at}: {m.group(0).strip()!r} is not a table marker; write <!-- table: FOLDER/FILE.md "
                            "--> on a line of its own")
        end = marker.search(text, m.end())
        if end is None or end.group(0) != END:
            where = f"before the next table block (line {_line(text, end.start())})" if end else "before the page ends"
            raise PageError(f"{at}: the block of {start.group(1)} has no {END} {where}; add it after the table, so "
                            "that the text around the table stays as written")
        out.append((start.group(1), m.end(), end.start()))
        pos = end.end()
    return out


def table_text(name, page=PAGE):
    "The text of the table file `name` (beside `page`), a placeholder if its runs are not stored yet; else PageError."
    table = page.parent / name
    if table.is_file(): return table.read_text().strip() + '\n'
    runs = len(list(table.parent.glob('*/summary.json')))
    if runs:
        raise PageError(f"{page}: its block of {name} names {table}, which is missing, while {table.parent} holds "
                        f"{runs} finished runs: run make report to draw the table, or remove the block")
    return f"(no {name} yet: no runs stored)\n"


def page_text(page=PAGE):
    "The results page with every table block holding the current text of its file."
    text = page.read_text()
    out, pos = [], 0
    for name, start, end in blocks(text, page):
        out += [text[pos:start], table_text(name, page)]
        pos = end
    return ''.join(out) + text[pos:]


def tables_named(page=PAGE):
    return [name for name, _, _ in blocks(page.read_text(), page)]


def main(argv=None):
    args = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    args.add_argument('--check', action='store_true', help='say whether the page is up to date; change nothing')
    args.add_argument('--page', type=Path, default=PAGE, help='the results page (default: results/README.md)')
    a = args.parse_args(argv)
    shown = a.page.resolve().relative_to(ROOT) if a.page.resolve().is_relative_to(ROOT) else a.page
    try: text = page_text(a.page)
    except (PageError, OSError) as e: sys.exit(f"make_results_page: {e}; {shown} was not changed")
    if a.check: sys.exit(0 if text == a.page.read_text() else f"{shown} is out of step with its tables: run make report")
    tmp = a.page.with_name(f".{a.page.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, a.page)  # all or nothing: the hand-written text is never left half written
    print(f"{shown} written with {len(tables_named(a.page))} tables")


if __name__ == '__main__': main()
