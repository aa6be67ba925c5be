"""The window table in docs/controller.md is the one generated from controller/model.py."""

from controller.docs import DOC, render


def test_doc_table_matches_the_model() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert render(text) == text, "docs/controller.md is stale: run `python -m controller.docs`"
