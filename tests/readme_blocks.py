"""The README's code blocks, read by the tests that run them, so the text and the tests cannot
drift. Every fenced ``bash`` or ``python`` block carries a marker on the line before it:
``<!-- readme-test: NAME -->`` (a test runs it as written) or ``<!-- readme-test: skip (why) -->``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

TESTED = {
    "python-roll-die": "tests/test_readme_local.py",
    "python-yatzee": "tests/test_readme_local.py",
    "install": "tests/test_readme_local.py",
    "two-processes": "tests/test_readme_local.py",
    "kubectl-helm": "tests/cluster/test_readme_cluster.py",
    "cli": "tests/cluster/test_readme_cluster.py",
    "traffic": "tests/cluster/test_readme_cluster.py",
}
"""Every runnable block and the test file that runs it."""

_BLOCK = re.compile(
    r"^(?:<!-- readme-test: (?P<marker>[^\n]*?) -->\n)?```(?P<lang>bash|python|sh|shell)\n"
    r"(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


@dataclass(frozen=True)
class Block:
    marker: str | None
    lang: str
    body: str
    line: int


def blocks(text: str | None = None) -> list[Block]:
    text = README.read_text() if text is None else text
    return [
        Block(m["marker"], m["lang"], m["body"], text.count("\n", 0, m.start()) + 1)
        for m in _BLOCK.finditer(text)
    ]


def block(name: str) -> str:
    found = [b.body for b in blocks() if b.marker == name]
    assert len(found) == 1, f"README has {len(found)} blocks marked readme-test: {name}"
    return found[0]


def run_bash(
    body: str, *, env: dict[str, str], cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a block as a user's shell would, but stopping at the first failing command.

    It runs in its own process group, so whatever it leaves running (``&``) is stopped after.
    """
    proc = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", body],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        raise AssertionError(f"README block timed out after {timeout}s:\n{out}\n{err}") from None
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert result.returncode == 0, (
        f"README block exited {result.returncode}\n--- block ---\n{body}\n--- stdout ---\n{out}"
        f"\n--- stderr ---\n{err}"
    )
    return result
