"""The one way the benchmark scripts write their tables into the docs: the text between
`<!-- NAME:begin -->` and `<!-- NAME:end -->` is replaced (the section is appended, under `heading`, when the
markers are missing); the rest of the file is kept; the file is replaced by rename, never half-written."""
from __future__ import annotations

import os
from pathlib import Path


def replace_section(doc: Path, name: str, text: str, heading: str = "") -> None:
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.strip(chr(10))}\n{end}"
    page = doc.read_text() if doc.exists() else "# Benchmarks\n"
    if begin in page and end in page:
        head, rest = page.split(begin, 1)
        page = head + block + rest.split(end, 1)[1]
    else:
        page = page.rstrip("\n") + (f"\n\n{heading}" if heading else "") + f"\n\n{block}\n"
    tmp = doc.with_name(f".{doc.name}.tmp")
    tmp.write_text(page)
    os.replace(tmp, doc)
