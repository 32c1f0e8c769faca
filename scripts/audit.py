"""`make audit`: pip-audit over the lock file, with an honest verdict when it cannot run.

Exit 1 when a locked version has a known vulnerability. When no vulnerability database answers
(offline, or a mirror without PyPI's JSON API), pip-audit "skips" every package and would exit 0
as if all were well: this says NOT AUDITED in one line instead, and exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def main(pip_audit: str, lock: str) -> int:
    options = ["--progress-spinner", "off", "--require-hashes", "--disable-pip", "-f", "json"]
    proc = subprocess.run(
        [pip_audit, *options, "--requirement", lock],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(proc.stdout)
        deps = report["dependencies"]
    except (ValueError, KeyError, TypeError):
        reason = (proc.stderr.strip().splitlines() or ["no output"])[-1][:160]
        print(f"make audit: no vulnerability database reachable ({reason}): NOT audited.")
        return 0
    skipped = [d["name"] for d in deps if "skip_reason" in d]
    vulnerable = [d for d in deps if d.get("vulns")]
    for dep in vulnerable:
        for vuln in dep["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
            print(f"{dep['name']} {dep['version']}: {vuln['id']} (fixed in: {fixes})")
    audited = len(deps) - len(skipped)
    if audited == 0:
        print(
            f"make audit: no vulnerability database answered for any of the {len(deps)} locked"
            " packages: NOT audited."
        )
        return 0
    note = f"; {len(skipped)} not found and NOT audited: {', '.join(skipped)}" if skipped else ""
    print(
        f"make audit: {audited} locked packages audited, "
        f"{len(vulnerable)} with known vulnerabilities{note}."
    )
    return 1 if vulnerable else 0


if __name__ == "__main__":
    tool, lock = sys.argv[1], sys.argv[2]
    sys.exit(main(tool, str(Path(lock))))
