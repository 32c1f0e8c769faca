"""Supply chain (L11): a lock file with hashes covering pyproject, installed by `make test`."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "lock.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def locked() -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes), from the pip-compile lock file."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current: str | None = None
    for line in LOCK.read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match.group(1))
            pins[current] = (match.group(2), [])
        elif current and (found := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current][1].append(found.group(1))
        elif not line.startswith(" "):
            current = None
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = list(project["dependencies"])
    for group in project.get("optional-dependencies", {}).values():
        names += group
    return [Requirement(name) for name in names]


def test_l11_lock_covers_every_dependency_in_pyproject() -> None:
    """Each dependency pyproject names (runtime and every extra) is pinned in the lock at a
    version its specifier allows: a dependency added or bumped without `make lock` fails."""
    pins = locked()
    missing, outdated = [], []
    for req in declared():
        pin = pins.get(canonicalize_name(req.name))
        if pin is None:
            missing.append(req.name)
        elif not req.specifier.contains(pin[0], prereleases=True):
            outdated.append(f"{req.name} {pin[0]} (wants {req.specifier})")
    assert not missing and not outdated, f"run `make lock`: missing {missing}, {outdated}"


def test_l11_every_locked_package_is_pinned_with_hashes() -> None:
    """Every line of the lock is an exact pin with at least one sha256 hash."""
    pins = locked()
    assert len(pins) >= len(declared())
    assert all(hashes for _version, hashes in pins.values()), [
        name for name, (_v, hashes) in pins.items() if not hashes
    ]


def test_l11_make_installs_from_the_lock_with_hashes() -> None:
    """`make test` and `make run` install the lock with --require-hashes, then the project
    without dependencies; `make lock` and `make audit` exist."""
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCK := requirements/lock.txt" in makefile
    assert "install --quiet --require-hashes -r $(LOCK)" in makefile
    assert "--no-deps --no-build-isolation -e ." in makefile
    assert re.search(r"^test: \$\(DEV_STAMP\)", makefile, re.M)
    assert re.search(r"^run: \$\(STAMP\)", makefile, re.M)
    assert re.search(r"^lock: .*\n\t.*pip-compile .*--generate-hashes", makefile, re.M)
    assert re.search(r"^audit: ", makefile, re.M)


def fake_pip_audit(tmp_path: Path, report: object, code: int = 0) -> Path:
    tool = tmp_path / "pip-audit"
    tool.write_text(
        f"#!{sys.executable}\nimport sys\nprint({json.dumps(json.dumps(report))})\n"
        f"sys.exit({code})\n"
    )
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return tool


def audit(tool: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "audit.py"), str(tool), str(LOCK)],
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("report", "code", "expected_rc", "says"),
    [
        # Offline: every package skipped. Before, this looked like a clean audit.
        (
            {"dependencies": [{"name": "aiohttp", "skip_reason": "not found on PyPI"}]},
            0,
            0,
            "NOT audited",
        ),
        ("not json", 1, 0, "NOT audited"),
        (
            {"dependencies": [{"name": "aiohttp", "version": "3.14.5", "vulns": []}]},
            0,
            0,
            "1 locked packages audited, 0 with known vulnerabilities",
        ),
        (
            {
                "dependencies": [
                    {
                        "name": "aiohttp",
                        "version": "3.9.0",
                        "vulns": [{"id": "GHSA-xxxx", "fix_versions": ["3.9.2"]}],
                    }
                ]
            },
            1,
            1,
            "aiohttp 3.9.0: GHSA-xxxx (fixed in: 3.9.2)",
        ),
    ],
    ids=["offline", "no-output", "clean", "vulnerable"],
)
def test_l11_audit_says_clearly_whether_it_audited(
    tmp_path: Path, report: object, code: int, expected_rc: int, says: str
) -> None:
    """`make audit`: one clear line and exit 0 when no database answered; exit 1 on a finding."""
    result = audit(fake_pip_audit(tmp_path, report, code))
    assert result.returncode == expected_rc, result.stdout + result.stderr
    assert says in result.stdout
