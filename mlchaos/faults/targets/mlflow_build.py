"""A broken build of the champion, registered in MLflow as a new version, so that it goes out
the way every version does: through the alias and the team's deploy step
(`mlchaos.faults.targets.mlflow`), and is read by the server's own metrics.

The copy is made as a training pipeline would make a version: a run in the champion's MLflow
experiment, whose artifacts hold the champion's files with its pickle replaced by a broken
build of it (`mlchaos.faults.builds`), registered from that run. MLflow refuses a local source
outside a run's artifacts, and a model server loads a version from where MLflow says it is.
The run's artifacts must be on a file system mlchaos can write (a local or mounted artifact
root, as ``mlflow server --default-artifact-root PATH``): an artifact store mlchaos cannot
write is a clear error before anything moves.

The lease (`mlchaos.faults.targets.mlflow`) carries the copy (``built``). Its end puts the
alias back and deploys, then deletes the version, the run and the files, so that neither a
revert, the keeper at the TTL, nor `mlchaos recover` leaves a trace of the copy behind.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from mlchaos.errors import MlchaosError, TargetError
from mlchaos.faults.builds import Buildable, build
from mlchaos.observe.mlflow import MlflowAliases

__all__ = [
    "BUILD_TAG",
    "MARKER",
    "PICKLES",
    "STRAY_AFTER_S",
    "champion_files",
    "make_copy",
    "remove_copy",
    "strays",
]

BUILD_TAG = "mlchaos.build"
"""Tags the copy's version and run: which build, of which version."""
MARKER = "MLCHAOS_BUILD.json"
"""Written into the copy's folder: only a folder that holds it is ever deleted."""
PICKLES = (".pkl", ".pickle", ".joblib")


def champion_files(aliases: MlflowAliases, model: str, alias: str) -> tuple[str, Path, Path]:
    """The version ``alias`` names, its artifact folder, and the one pickle in it that a server
    loads; `TargetError` when mlchaos cannot read them or there is not exactly one."""
    version = aliases.version_of(model, alias)
    folder = _local(aliases.download_uri(model, version), f"{model} version {version}'s artifacts")
    if not folder.is_dir():
        raise TargetError(f"{model} version {version}'s artifacts ({folder}) are not a folder "
                          "mlchaos can read")  # fmt: skip
    pickles = sorted(p for p in folder.iterdir() if p.suffix in PICKLES and p.is_file())
    if len(pickles) != 1:
        found = ", ".join(p.name for p in pickles) or "none"
        raise TargetError(f"{model} version {version}'s artifacts hold {found}: a broken build "
                          f"needs exactly one pickled model ({', '.join(PICKLES)})")  # fmt: skip
    return version, folder, pickles[0]


def make_copy(
    url: str, model: str, alias: str, variant: Buildable, delay_s: float
) -> dict[str, Any]:
    """Build and register the copy; what the lease keeps of it (``version``, ``run_id``,
    ``folder``, ``of``). Whatever is made before a failure is removed again."""
    aliases = MlflowAliases(url)
    champion, folder, pickle_file = champion_files(aliases, model, alias)
    run_id = str(aliases.model_version(model, champion).get("run_id") or "")
    experiment = aliases.experiment_of(run_id) if run_id else "0"
    tag = {BUILD_TAG: f"{variant} copy of version {champion}"}
    created = aliases.create_run(experiment, f"mlchaos-{variant}-build-of-{champion}", tag)
    built: dict[str, Any] = {"run_id": created["run_id"], "of": champion, "variant": variant}
    try:
        artifacts = _local(created["artifact_uri"], "the copy's run artifacts")
        copy = artifacts / "model"
        shutil.copytree(folder, copy)
        built["folder"] = str(copy)
        (copy / MARKER).write_text(json.dumps({"of": champion, "variant": variant}))
        (copy / pickle_file.name).write_bytes(build(pickle_file.read_bytes(), variant, delay_s))
        built["version"] = aliases.create_version(
            model, str(copy), f"mlchaos: a {variant} build of version {champion} (a game day "
            "fault; deleted when it ends)", tag, run_id=created["run_id"],
        )  # fmt: skip
    except BaseException:
        remove_copy(url, model, built)
        raise
    return built


def remove_copy(url: str, model: str, built: dict[str, Any]) -> list[str]:
    """Delete the copy's version, its run and its files, each if still there; what was done."""
    aliases, done = MlflowAliases(url), []
    version = built.get("version")
    if version is not None:
        tags = aliases.version_tags(model, version) if aliases.has_version(model, version) else {}
        if BUILD_TAG in tags and aliases.delete_version(model, version):  # never a team's
            done.append(f"version {version} deleted")
    folder = Path(built["folder"]) if built.get("folder") else None
    if folder is not None and (folder / MARKER).is_file():
        shutil.rmtree(folder)
        done.append("its files removed")
    if built.get("run_id"):
        try:
            aliases.delete_run(built["run_id"])
            done.append("its run deleted")
        except MlchaosError:
            pass  # already deleted, or gone with its experiment
    return done


STRAY_AFTER_S = 120.0
"""A build no lease names is a stray once this old: a younger one may be a run's, between its
registration and its lease."""


def strays(url: str, model: str, now_ms: int) -> list[dict[str, Any]]:
    """Builds mlchaos registered (tagged `BUILD_TAG`) that no lease MLflow carries names and
    no alias names, older than `STRAY_AFTER_S`: left by a runner killed between registering a
    copy and taking its lease. What `remove_copy` takes of each."""
    aliases = MlflowAliases(url)
    leased = (aliases.lease(model) or {}).get("built") or {}
    named = set(aliases.aliases(model).values())
    found = []
    for v in aliases.versions_since(model, 0):
        tags = {str(t["key"]): str(t.get("value", "")) for t in v.get("tags", [])}
        version = str(v["version"])
        old = now_ms - int(v.get("creation_timestamp", now_ms)) > STRAY_AFTER_S * 1000
        if BUILD_TAG in tags and old and version != leased.get("version") and version not in named:
            source = str(v.get("source", ""))
            local = source.startswith(("/", "file:"))
            folder = _local(source, "the copy's files") if local else None
            found.append({"version": version, "run_id": str(v.get("run_id", "")),
                          "folder": str(folder) if folder else None, "of": tags[BUILD_TAG]})
    return found


def _local(uri: str, what: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return Path(unquote(parsed.path))
    raise TargetError(f"{what} are at {uri}: mlchaos builds a copy only where it can write "
                      "the files (an MLflow artifact root on a local or mounted file system)")
