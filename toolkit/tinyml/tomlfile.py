"""Reading a TOML file a user wrote (board profiles, fleet files) with one clear line for what went wrong."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import tomllib

from tinyml.errors import BAD_INPUT, TinymlError


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The table in `path`; a file that cannot be read or is not TOML is one line naming the file and `what` it
    should be ("board profile", "fleet file")."""
    try:
        return tomllib.loads(Path(path).read_text())
    except OSError as exc:
        raise TinymlError(f"{path}: cannot read the {what}: {exc.strerror}", BAD_INPUT) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TinymlError(f"{path}: the {what} is not valid TOML: {exc}", BAD_INPUT) from exc
