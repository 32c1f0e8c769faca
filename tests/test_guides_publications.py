"""The publication catalogue (guides/publications.yaml) through `python -m bot guides coverage`
and `guides check` (issue 14 item 1: every publication the network lists, and a guide for each)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.__main__ import main
from bot.config import LANGUAGES, PROJECT_ROOT
from bot.guides.publications import CATALOGUE_FILE, guide_ids

GUIDES = PROJECT_ROOT / "guides"
CATALOGUE = yaml.safe_load((GUIDES / CATALOGUE_FILE).read_text(encoding="utf-8"))


def staged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the seed content; paths print relative to it, as a maintainer sees them."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "guides"
    shutil.copytree(GUIDES, target)
    return target


def entry_line(text: str, title: str) -> int:
    """1-based line of the `- title:` line of the entry with this title."""
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("- title:") and title in line:
            return number
    raise AssertionError(title)


def test_coverage_shows_every_publication_and_the_missing_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Each catalogue entry is a row (its guide, or MISSING, and a cell per language); the
    summary counts them; every missing one is listed with its source and why it is missing."""
    assert main(["guides", "coverage"]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Publications (publications.yaml)") :]
    rows = {line.rsplit("  ", 1)[-1]: line for line in section.splitlines() if "  " in line}
    for entry in CATALOGUE:
        row = rows[entry["title"]]
        assert row.split()[2] == entry.get("guide", "MISSING"), row
    missing = [e for e in CATALOGUE if "guide" not in e]
    covered = len(CATALOGUE) - len(missing)
    assert f"{len(CATALOGUE)} publications: {covered} with a guide, {len(missing)} missing" in out
    listed = section[section.index("Missing (no guide yet):") :]
    for entry in missing:
        assert f"- {entry['title']} ({entry['kind']}) {entry['source']}" in listed
        assert entry["note"] in listed  # why it could not be written


def test_coverage_acceptance_every_covered_publication_in_five_languages_and_14_in_arabic(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Issue 14 acceptance: every publication with a guide has it in en fr es ru zh; at least
    14 in Arabic. The only gaps allowed are entries recorded without a guide (and a note)."""
    assert main(["guides", "coverage"]) == 0
    out = capsys.readouterr().out
    covered = sum("guide" in e for e in CATALOGUE)
    for code in LANGUAGES:
        found = re.search(rf"^{code}: (\d+) of (\d+) publications have a guide", out, re.M)
        assert found, code
        done, total = int(found[1]), int(found[2])
        assert total == len(CATALOGUE)
        if code == "ar":
            assert done >= 14
        else:
            assert done == covered, code
    assert all(e.get("note") for e in CATALOGUE if "guide" not in e)


@pytest.mark.process
def test_coverage_through_the_process_lists_the_catalogue() -> None:
    """The command as a maintainer types it, from another folder: exit 0 and the catalogue."""
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "guides", "--dir", str(GUIDES), "coverage"],
        cwd=PROJECT_ROOT / "tests",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Publications (publications.yaml)" in proc.stdout
    assert "Consensus Statement on Sex Work, Human Rights, and the Law" in proc.stdout


def test_every_guide_is_the_guide_of_exactly_one_publication() -> None:
    """The catalogue is complete: each guide folder is named once by a guide-kind entry."""
    own = [e["guide"] for e in CATALOGUE if "guide" in e and e["kind"] != "tool"]
    assert sorted(own) == guide_ids(GUIDES)


def test_check_reports_catalogue_problems_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Unknown guide ids, duplicate entries, a kind or year that disagrees with the guide, a
    guide named twice, and a guide no entry names: each reported at its line."""
    target = staged(tmp_path, monkeypatch)
    path = target / CATALOGUE_FILE
    text = path.read_text(encoding="utf-8")
    # Drop the CEDAW entry: its guide is then in no entry.
    start = text.index('- title: "The Smart Sex Worker\'s Guide to CEDAW"')
    end = text.index("- title:", start + 1)
    text = text[:start] + text[end:]
    text += (
        '\n- title: "A guide that does not exist"\n  kind: smart-guide\n'
        "  source: https://www.nswp.org/a\n  source_seen: 2026-11-30\n  guide: no-such-guide\n"
        '\n- title: "the smart sex worker\'s guide to SWIT!"\n  kind: smart-guide\n'
        "  source: https://www.nswp.org/b\n  source_seen: 2026-11-30\n"
        '\n- title: "SWIT as a statement"\n  kind: statement\n'
        "  source: https://www.nswp.org/c\n  source_seen: 2026-11-30\n  guide: swit\n"
        '\n- title: "CEDAW with the wrong year"\n  kind: smart-guide\n  year: 2019\n'
        "  source: https://www.nswp.org/d\n  source_seen: 2026-11-30\n  guide: cedaw\n"
    )
    path.write_text(text, encoding="utf-8")
    assert main(["guides", "--dir", str(target), "check"]) == 1
    out = capsys.readouterr().out
    name = f"guides/{CATALOGUE_FILE}"
    unknown = entry_line(text, "A guide that does not exist")
    duplicate = entry_line(text, "the smart sex worker's guide to SWIT!")
    original = entry_line(text, "The Smart Sex Worker's Guide to SWIT")
    statement = entry_line(text, "SWIT as a statement")
    year = entry_line(text, "CEDAW with the wrong year")
    assert f"{name}:{unknown}: unknown guide 'no-such-guide': no guides/no-such-guide/" in out
    assert f"{name}:{duplicate}: duplicate entry: the same title as line {original}" in out
    assert f"{name}:{statement}: guide 'swit' is already the guide of line {original}" in out
    assert (
        f"{name}:{statement}: kind: statement here, but guides/swit/guide.yaml says smart" in out
    )
    assert f"{name}:{year}: year: 2019 here, but guides/cedaw/guide.yaml says 2018" in out
    # The CEDAW guide has an entry again (the one with the wrong year): it is not orphaned.
    assert "cedaw/guide.yaml:1: not in publications.yaml" not in out


def test_check_reports_a_guide_no_publication_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its entry, a guide would be outside the catalogue: `guides check` says so."""
    target = staged(tmp_path, monkeypatch)
    path = target / CATALOGUE_FILE
    text = path.read_text(encoding="utf-8")
    start = text.index('- title: "The Smart Sex Worker\'s Guide to CEDAW"')
    path.write_text(text[:start] + text[text.index("- title:", start + 1) :], encoding="utf-8")
    assert main(["guides", "--dir", str(target), "check"]) == 1
    out = capsys.readouterr().out
    assert out.strip() == (
        "guides/cedaw/guide.yaml:1: not in publications.yaml: "
        "add the publication this guide covers"
    )


def test_check_reports_entries_that_do_not_fit_the_schema(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A missing source, an unknown kind or language, a source that is not a web address:
    plain messages at the line of the field."""
    target = staged(tmp_path, monkeypatch)
    path = target / CATALOGUE_FILE
    text = path.read_text(encoding="utf-8")
    text += (
        '\n- title: "No source"\n  kind: community-guide\n  source_seen: 2026-11-30\n'
        '\n- title: "A handbook"\n  kind: handbook\n  source: https://www.nswp.org/e\n'
        "  source_seen: 2026-11-30\n"
        '\n- title: "In Portuguese"\n  kind: tool\n  languages: [en, pt]\n'
        "  source: https://www.nswp.org/f\n  source_seen: 2026-11-30\n"
        '\n- title: "Not a page"\n  kind: tool\n  source: nswp dot org\n'
        "  source_seen: 2026-11-30\n"
    )
    path.write_text(text, encoding="utf-8")
    assert main(["guides", "--dir", str(target), "check"]) == 1
    out = capsys.readouterr().out
    name = f"guides/{CATALOGUE_FILE}"
    assert f"{name}:{entry_line(text, 'No source')}: missing field 'source'" in out
    assert f"{name}:{entry_line(text, 'A handbook') + 1}: kind: Input should be" in out
    assert f"{name}:{entry_line(text, 'In Portuguese') + 2}: languages: unknown language 'pt'" in (
        out
    )
    assert f"{name}:{entry_line(text, 'Not a page') + 2}: source: not a web address" in out
