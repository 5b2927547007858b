from textwrap import dedent

from selfcodealign.funnel import StepCounts
from selfcodealign.seeds.extract import extract_records, functions_with_docstrings
from selfcodealign.seeds.sources import SourceFile

MODULE = dedent(
    '''
    import re


    def documented(a, b):
        """Add two numbers."""
        return a + b


    @staticmethod
    def decorated(x):
        r"""Raw triple-quoted docstring."""
        return x


    def single_quoted(x):
        "One-line docstring without triple quotes."
        return x


    def undocumented(x):
        return x


    async def fetch(url):
        \'\'\'Fetch a URL.\'\'\'
        return url


    class Box:
        def method(self, y):
            """A method, not a top-level function."""
            return y


    def outer(z):
        """Outer function."""

        def inner(w):
            """Nested, not extracted on its own."""
            return w

        return inner(z)
    '''
)


def test_top_level_functions_with_triple_quoted_docstrings():
    functions, without = functions_with_docstrings(MODULE)
    assert [f.name for f in functions] == ["documented", "decorated", "fetch", "outer"]
    # single_quoted and undocumented have no triple-quoted docstring
    assert without == 2
    documented = functions[0]
    assert documented.text.startswith("def documented(a, b):")
    assert documented.text.rstrip().endswith("return a + b")
    # Decorators are not part of the seed; nested functions stay inside their parent.
    assert functions[1].text.startswith("def decorated(x):")
    assert "def inner(w):" in functions[3].text


def test_any_docstring_when_triple_quotes_not_required():
    functions, without = functions_with_docstrings(MODULE, require_triple_quotes=False)
    assert "single_quoted" in [f.name for f in functions]
    assert without == 1


def _files():
    yield SourceFile("local", "good.py", MODULE.encode())
    yield SourceFile("local", "broken.py", b"def f(:\n    pass\n")
    yield SourceFile(
        "local", "latin1.py", 'def f(x):\n    """caf\xe9"""\n    return x\n'.encode("latin-1")
    )
    yield SourceFile("local", "gone.py", None, "PermissionError: denied")
    yield SourceFile("local", "nul.py", b"def f(x):\n    return x\x00\n")
    yield SourceFile("local", "huge.py", b"#" * 2000)


def test_bad_files_are_counted_never_fatal():
    counts = StepCounts("extract")
    records = list(extract_records(_files(), counts, max_file_bytes=1000))
    assert counts.input == 6
    assert counts.output == len(records) == 4
    assert dict(counts.removed) == {
        "syntax_error": 2,
        "undecodable_file": 1,
        "unreadable_file": 1,
        "file_too_large": 1,
    }
    assert counts.extra["files_parsed"] == 1
    record = records[0]
    assert record["path"] == "good.py" and record["name"] == "documented"
    assert record["id"] == record["sha1"][:16] and len(record["sha1"]) == 40
    assert record["source"] == "local" and record["lineno"] == 5


PYTHON2 = b'''import os

print "starting"


def clean(path):
    """Remove a file if it is there."""
    if os.path.exists(path):
        os.remove(path)
# a comment at the margin inside the file


def shout(text):
    """Print loudly (Python 2 only)."""
    print text.upper()


class Old:
    pass


async def later(x):
    """Wait for x."""
    return x
'''


def test_functions_that_parse_alone_are_recovered_from_a_broken_file():
    counts = StepCounts("extract")
    records = list(extract_records(iter([SourceFile("local", "py2.py", PYTHON2)]), counts))
    assert [(r["name"], r["lineno"]) for r in records] == [("clean", 6), ("later", 22)]
    assert records[0]["seed"].rstrip().endswith("os.remove(path)")
    assert "class Old" not in records[1]["seed"] and not counts.removed
    assert counts.extra["files_recovered"] == 1 and counts.extra["functions_recovered"] == 2
    assert counts.extra["files_parsed"] == 0
