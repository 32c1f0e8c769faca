"""`python -m bot guides check | coverage | new`: what maintainers run before publishing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.config import PROJECT_ROOT

GUIDES = PROJECT_ROOT / "guides"
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "guides"
# The directory's files share the folder; a fixture borrows the seed's so that only the guide
# problem it stages is reported.
DIRECTORY_FILES = ("networks.yaml", "needs.yaml", "services", "law")

EXPECTED = {
    "bad-yaml": "rights-guide/guide.yaml:2: invalid YAML: while parsing a flow sequence",
    "unknown-topic": "rights-guide/guide.yaml:2: unknown topic 'astrology'",
    "missing-english": "rights-guide/en.md:1: missing: every guide needs English",
    "page-too-long": "rights-guide/en.md:12: this paragraph renders to",
    "unclosed-html": "rights-guide/en.md:10: unsupported HTML '<b>'; use Markdown",
    "unsupported-markup": "rights-guide/en.md:12: HTML blocks are not supported",
    "unknown-kind": "rights-guide/guide.yaml:1: unknown kind 'handbook': use smart or community",
    "unknown-language": "rights-guide/pt.md:1: unknown language file pt.md",
    "summary-too-long": "rights-guide/en.md:3: summary is 363 characters; the limit is 300",
    "duplicate-title": "rights-guide/en.md:2: duplicate title: the guide 'rights-again'",
    "bad-front-matter": "rights-guide/en.md:2: missing field 'title'",
    "bad-front-matter-yaml": "rights-guide/en.md:3: invalid YAML",
    # Per-language links (bot/guides/links.py): each language decides, never silently English.
    "source-missing-language": "rights-guide/guide.yaml:4: source_url.fr: missing: the French "
    "page of this publication, or 'fr: en' if it has none",
    "source-english-as-own": "rights-guide/guide.yaml:6: source_url.fr: the English address: "
    "write 'fr: en' so members are told it opens in English",
    "source-wrong-language": "rights-guide/guide.yaml:7: source_url.ru: a page in another "
    "language (/fr/): give the /ru/ page, or 'ru: en'",
    "source-shared": "rights-guide/guide.yaml:5: source_url.en: the same page as the guide "
    "'rights-again' (source_url.en): link this publication's own page",
    "source-english-in-disguise": "rights-guide/guide.yaml:7: source_url.ru: an English page of "
    "docs.example.org (outside its language sections): give the /ru/ page, or 'ru: en'",
    "source-seen-without-page": "rights-guide/guide.yaml:9: source_seen.fr: no address of its "
    "own under source_url",
}


def staged(case: str, tmp_path: Path) -> Path:
    target = tmp_path / case
    shutil.copytree(FIXTURES / case, target)
    for name in DIRECTORY_FILES:
        source = GUIDES / name
        if source.is_dir():
            shutil.copytree(source, target / name)
        else:
            shutil.copy(source, target / name)
    return target


def test_check_passes_on_the_seed_content(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command `make test` runs (there as its own process; here in this one, which has
    imported everything already): exit 0 and a one-line summary."""
    monkeypatch.delenv("GUIDES_DIR", raising=False)
    monkeypatch.chdir(PROJECT_ROOT)
    code = main(["guides", "check"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert out.startswith("OK: ") and out.count("\n") == 1
    assert "guides" in out and "topics" in out


def test_every_fixture_case_is_covered() -> None:
    """One broken guide tree per kind of error, and a test for each."""
    assert sorted(p.name for p in FIXTURES.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("case", sorted(EXPECTED))
def test_each_broken_guide_gives_its_own_message(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`guides check` prints exactly the staged problem as path:line: message and exits 1."""
    monkeypatch.chdir(tmp_path)
    code = main(["guides", "--dir", str(staged(case, tmp_path)), "check"])
    out, err = capsys.readouterr()
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith(f"{case}/"), lines[0]
    assert EXPECTED[case] in lines[0]
    assert "1 problem(s) found." in err


def test_check_also_reports_directory_problems(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The services directory lives in the same folder, and `guides check` checks it too."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "guides"
    shutil.copytree(GUIDES, target)
    (target / "needs.yaml").unlink()
    assert main(["guides", "--dir", str(target), "check"]) == 1
    assert "guides/needs.yaml:1:" in capsys.readouterr().out


def test_coverage_table(capsys: pytest.CaptureFixture[str]) -> None:
    """Guides x languages with reviewed / draft / missing, then each catalog's share."""
    assert main(["guides", "coverage"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header == ["guide", "en", "fr", "es", "ru", "zh", "ar"]
    row = next(line for line in out.splitlines() if line.startswith("swit "))
    arabic = "draft" if (GUIDES / "swit" / "ar.md").exists() else "missing"
    assert row.split()[1:] == ["draft", "draft", "draft", "draft", "draft", arabic]
    assert "fr: " in out and "messages translated" in out


def test_new_scaffolds_every_language_and_check_flags_the_placeholders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`guides new` writes guide.yaml and each language; unfilled, it cannot be published."""
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "guides"
    shutil.copytree(GUIDES, target)
    assert main(["guides", "--dir", str(target), "new", "social-protection"]) == 0
    folder = target / "social-protection"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["guide.yaml", "en.md", "fr.md", "es.md", "ru.md", "zh.md", "ar.md"]
    )
    capsys.readouterr()
    assert main(["guides", "--dir", str(target), "check"]) == 1
    out = capsys.readouterr().out
    assert "social-protection/en.md:2: placeholder 'TODO' left from `guides new`" in out
    assert "social-protection/guide.yaml" in out
    # Filled in (here: the placeholder words replaced), the scaffold is a valid guide.
    for path in folder.iterdir():
        text = path.read_text().replace("TODO", "Filled")
        path.write_text(text.replace(": title in", f": {path.stem} title in"))
    # A guide covers a publication: until the catalogue names it, the library is not complete.
    capsys.readouterr()
    assert main(["guides", "--dir", str(target), "check"]) == 1
    assert "social-protection/guide.yaml:1: not in publications.yaml" in capsys.readouterr().out
    with (target / "publications.yaml").open("a", encoding="utf-8") as fh:
        fh.write(
            '\n- title: "A new publication"\n  kind: community-guide\n'
            "  source: https://www.nswp.org/resources\n  source_seen: 2026-11-30\n"
            "  guide: social-protection\n"
        )
    assert main(["guides", "--dir", str(target), "check"]) == 0


@pytest.mark.parametrize("slug", ["swit", "Bad Name", "trailing-", "x" * 41, "ünï", "a--b"])
def test_new_refuses_existing_or_invalid_names(
    slug: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An existing guide is never overwritten; a name must work in a link."""
    target = tmp_path / "guides"
    shutil.copytree(GUIDES, target)
    assert main(["guides", "--dir", str(target), "new", slug]) == 1
    assert capsys.readouterr().err
    assert (target / "swit" / "en.md").read_text() == (GUIDES / "swit" / "en.md").read_text()


def test_terminal_chat_refuses_broken_guides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bot chat` lists the problems and exits 1, like `run` (R19)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GUIDES_DIR", str(staged("unknown-kind", tmp_path)))
    monkeypatch.setenv("GUIDES_CACHE", "")
    assert main(["chat"]) == 1
    err = capsys.readouterr().err
    assert "unknown-kind/rights-guide/guide.yaml:1: unknown kind 'handbook'" in err
    assert "Cannot start: 1 problem(s)" in err
