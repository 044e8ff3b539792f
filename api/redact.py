"""Server paths out of replies: a client learns file names, never where things live.

Library errors name files in full for the CLI's user, who owns the machine (the MLflow store,
a CSV, a temporary download). An API client does not, so its copy keeps only the last part.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import PurePosixPath

logger = logging.getLogger(__name__)

#: An absolute path of two or more parts, or a URI's path (sqlite:////a/b.db, file:///a/b):
#: the folders are dropped and the last part (group 1) kept.
_SERVER_PATH = re.compile(
    r"(?:\b[A-Za-z][\w+.-]*:/+|(?<![\w.~/-])/)"  # a URI scheme and its slashes, or a root
    r"(?:[^\s/'\"`,;()<>]+/)+"  # the folders
    r"([^\s/'\"`,;()<>]*)"  # the last part
)


def redact(text: str) -> str:
    """`text` with every server path cut to its last part: '/srv/x/mlflow.db' -> 'mlflow.db'."""
    return _SERVER_PATH.sub(r"\1", text)


def public_source(spec: str) -> str:
    """A price source as a client may see it: the kind and, for a file, its name only."""
    kind, _, rest = spec.partition(":")
    if not rest:
        return spec
    return f"{kind}:{PurePosixPath(rest.rstrip('/')).name}"


def public_params(params: Mapping[str, str]) -> dict[str, str]:
    """Run parameters without server paths (`data_source` is a csv:PATH for file data)."""
    return {
        key: public_source(value) if key == "data_source" else redact(value)
        for key, value in params.items()
    }
