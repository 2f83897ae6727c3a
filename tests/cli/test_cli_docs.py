"""The file reference in docs/files is generated from the provenance tables and up to date."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from lxcfs_cli.gen_docs import _placeholders, check_pages, page_name, pages, write_pages
from lxcfs_cli.main import app
from lxcfs_model import FILES

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def test_committed_file_pages_are_up_to_date() -> None:
    """docs/files matches what the provenance tables generate (run `lxcfs-render docs`)."""
    stale = check_pages(DOCS / "files")
    assert stale == [], (
        f"docs/files is out of date for {stale}: run `python -m lxcfs_cli.gen_docs` "
        "(or `lxcfs-render docs --out docs/files`) and commit the result"
    )


def test_index_links_every_file_page() -> None:
    """docs/index.md and docs/files/index.md link the page of every rendered file."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    file_index = (DOCS / "files" / "index.md").read_text(encoding="utf-8")
    for spec in FILES:
        assert f"(files/{page_name(spec)})" in index, spec.path
        assert f"]({page_name(spec)})" in file_index, spec.path


def test_every_rule_appears_on_its_page() -> None:
    """Each page lists every rule of its table: the sources and the formula's quantities."""
    generated = pages()
    for spec in FILES:
        page = generated[page_name(spec)]
        assert page.splitlines()[2] == f"# /{spec.path}"
        for rule in spec.provenance.rules:
            for source in rule.sources:
                assert f"`{source}`" in page, (spec.path, source)
            assert _placeholders(rule.formula).split("‹")[0].strip() in page, rule.label


def test_placeholders_are_marked_and_literal_braces_kept() -> None:
    """{name} becomes ‹name›; doubled braces stay literal braces, as str.format reads them."""
    assert _placeholders("min {limit} of {{x}} at {cgroup}") == "min ‹limit› of {x} at ‹cgroup›"


def test_docs_command_writes_and_checks(tmp_path: Path) -> None:
    """`lxcfs-render docs` writes the pages; --check passes on them and fails once one drifts."""
    out = tmp_path / "files"
    (out).mkdir()
    (out / "gone.md").write_text("a page for a file that no longer exists\n")
    result = CliRunner().invoke(app, ["docs", "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(pages())
    assert CliRunner().invoke(app, ["docs", "--check", "--out", str(out)]).exit_code == 0
    (out / "meminfo.md").write_text("edited by hand\n")
    result = CliRunner().invoke(app, ["docs", "--check", "--out", str(out)])
    assert result.exit_code == 1
    assert "meminfo.md" in result.stderr and "out of date" in result.stderr


def test_write_pages_is_what_check_pages_expects(tmp_path: Path) -> None:
    """Writing then checking a directory finds nothing stale."""
    write_pages(tmp_path)
    assert check_pages(tmp_path) == []
