"""Every code block of the README is either run by a named test or says why it cannot be."""

from __future__ import annotations

from readme_blocks import REPO, TESTED, blocks


def test_every_block_is_marked():
    unmarked = [f"README.md:{b.line} ({b.lang})" for b in blocks() if b.marker is None]
    assert unmarked == [], "mark each with <!-- readme-test: NAME --> or skip (why)"


def test_marked_blocks_are_exactly_the_tested_ones():
    names = [b.marker for b in blocks() if b.marker and not b.marker.startswith("skip")]
    assert len(names) == len(set(names)), names
    assert set(names) == set(TESTED)


def test_skips_say_why():
    for b in blocks():
        if b.marker and b.marker.startswith("skip"):
            assert b.marker.startswith("skip (") and len(b.marker) > 10, b


def test_the_tests_that_run_blocks_exist_and_name_them():
    for name, path in TESTED.items():
        assert f'"{name}"' in (REPO / path).read_text(), (name, path)


def test_a_block_without_a_marker_is_found():
    text = "intro\n```bash\necho hi\n```\n<!-- readme-test: x -->\n```python\nprint(1)\n```\n"
    found = blocks(text)
    assert [(b.marker, b.lang, b.line) for b in found] == [(None, "bash", 2), ("x", "python", 5)]
