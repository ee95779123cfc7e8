"""``results.json``: written from the typed document, read back into it (see
`mlchaos.schema.results` for the contract and its compatibility rule)."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from mlchaos.errors import InputError
from mlchaos.rundir import RunDir
from mlchaos.schema.results import SCHEMA_VERSION, ResultsDocument

__all__ = ["SCHEMA_VERSION", "read_results", "write_results"]


def write_results(document: ResultsDocument, run_dir: Path) -> Path:
    path = RunDir(run_dir).results
    path.write_text(document.to_json())
    return path


def read_results(run_dir: Path) -> ResultsDocument:
    """A run's results, from any schema version mlchaos has written; bad input otherwise."""
    path = RunDir(run_dir).results
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise InputError(
            f"{path}: no results.json; is {run_dir} an mlchaos run directory?"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read: {exc}") from exc
    try:
        return ResultsDocument.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(document)"
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise InputError(
            f"{path}: {where}: {first['msg']}{more}; is it a results.json mlchaos wrote "
            f"(schema_version {SCHEMA_VERSION})?"
        ) from exc
