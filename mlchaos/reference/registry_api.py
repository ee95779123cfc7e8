"""HTTP API of the registry, and the timer that enforces fault leases by itself.

POST   /v1/models/{name}/promote   {"version", "actor", "reason", "lease_ttl_s"?}
POST   /v1/models/{name}/rollback  {"actor", "reason", "from_version"?}
POST   /v1/models/{name}/fallback  {"enabled", "actor", "reason"}: serve the fallback (or stop)
POST   /v1/models/{name}/restore   {"version", "actor", "reason"}: that version, fallback off
POST   /v1/models/{name}/canary    {"version", "actor", "reason", "lease_ttl_s"?}: roll it out
                                   beside production, at weight 0 (409 while one is out)
POST   /v1/models/{name}/canary/weight   {"version", "weight", "actor"}: its % of requests
POST   /v1/models/{name}/canary/promote  {"version", "actor", "reason"}: make it production
POST   /v1/models/{name}/canary/abort    {"actor", "reason", "version"?}: withdraw it
GET    /v1/models/{name}           aliases (and the canary) and versions
GET    /v1/models/{name}/audit     the audit log
GET    /v1/leases                  active fault leases
DELETE /v1/leases/{id}?actor=...   end a lease, undoing its promotion if it still holds
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mlchaos.errors import TargetError
from mlchaos.reference.registry import AuditEntry, Lease, Registry

__all__ = [
    "REAP_INTERVAL_S",
    "AbortRequest",
    "FallbackRequest",
    "PromoteRequest",
    "RestoreRequest",
    "RollbackRequest",
    "WeightRequest",
    "create_app",
    "reap_forever",
]

REAP_INTERVAL_S = 0.25
log = logging.getLogger("mlchaos.registry")


class PromoteRequest(BaseModel):
    version: str
    actor: str
    reason: str = ""
    lease_ttl_s: float | None = None


class RollbackRequest(BaseModel):
    actor: str
    reason: str = ""
    from_version: str | None = None


class FallbackRequest(BaseModel):
    enabled: bool = True
    actor: str
    reason: str = ""


class WeightRequest(BaseModel):
    version: str
    weight: float
    actor: str


class AbortRequest(BaseModel):
    actor: str
    reason: str = ""
    version: str | None = None


class RestoreRequest(BaseModel):
    version: str
    actor: str
    reason: str = ""


def reap_forever(registry: Registry, stop: threading.Event) -> None:
    """Undo expired leases until ``stop`` is set: the TTL holds even if the runner was killed."""
    while not stop.wait(REAP_INTERVAL_S):
        try:
            for entry in registry.expire_leases():
                log.warning(
                    "lease %s expired: %s -> %s",
                    entry.lease_id,
                    entry.from_version,
                    entry.to_version,
                )
        except Exception:  # keep reaping; one bad pass must not end lease enforcement
            log.exception("lease reaper pass failed")


def create_app(registry: Registry) -> FastAPI:
    stop = threading.Event()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reaper = threading.Thread(target=reap_forever, args=(registry, stop), daemon=True)
        reaper.start()
        yield
        stop.set()

    app = FastAPI(title="mlchaos model registry", lifespan=lifespan)

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models/{name}")
    def model(name: str) -> JSONResponse:
        try:
            aliases = registry.aliases(name)
        except TargetError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse(
            {
                "name": name,
                "production": aliases.production,
                "previous": aliases.previous,
                "history": list(aliases.history),
                "fallback": aliases.fallback,
                "canary": aliases.canary.model_dump() if aliases.canary else None,
                "versions": registry.versions(name),
            }
        )

    @app.post("/v1/models/{name}/promote")
    def promote(name: str, body: PromoteRequest) -> JSONResponse:
        return _granted(lambda: registry.promote(
            name, body.version, body.actor, body.reason, body.lease_ttl_s))  # fmt: skip

    @app.post("/v1/models/{name}/rollback")
    def rollback(name: str, body: RollbackRequest) -> JSONResponse:
        entry = registry.rollback(name, body.actor, body.reason, body.from_version)
        if entry is None:
            return JSONResponse({"audit": None, "detail": "nothing to roll back"}, status_code=200)
        return JSONResponse({"audit": entry.model_dump(mode="json")})

    @app.post("/v1/models/{name}/canary")
    def canary(name: str, body: PromoteRequest) -> JSONResponse:
        return _granted(lambda: registry.start_canary(
            name, body.version, body.actor, body.reason, body.lease_ttl_s))  # fmt: skip

    @app.post("/v1/models/{name}/canary/weight")
    def canary_weight(name: str, body: WeightRequest) -> JSONResponse:
        return _on_canary(lambda: registry.set_canary_weight(
            name, body.version, body.weight, body.actor), body.version, name)  # fmt: skip

    @app.post("/v1/models/{name}/canary/promote")
    def canary_promote(name: str, body: RestoreRequest) -> JSONResponse:
        return _on_canary(lambda: registry.promote_canary(
            name, body.version, body.actor, body.reason), body.version, name)  # fmt: skip

    @app.post("/v1/models/{name}/canary/abort")
    def canary_abort(name: str, body: AbortRequest) -> JSONResponse:
        try:
            entry = registry.abort_canary(name, body.actor, body.reason, body.version)
        except TargetError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse({"audit": entry.model_dump(mode="json") if entry else None})

    @app.post("/v1/models/{name}/fallback")
    def fallback(name: str, body: FallbackRequest) -> JSONResponse:
        try:
            entry = registry.set_fallback(name, body.enabled, body.actor, body.reason)
        except TargetError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse({"audit": entry.model_dump(mode="json") if entry else None})

    @app.post("/v1/models/{name}/restore")
    def restore(name: str, body: RestoreRequest) -> JSONResponse:
        try:
            entries = registry.restore(name, body.version, body.actor, body.reason)
        except TargetError as exc:
            return JSONResponse({"error": str(exc)}, status_code=409)
        return JSONResponse({"audit": [e.model_dump(mode="json") for e in entries]})

    @app.post("/v1/models/{name}/retrain")
    def retrain(name: str, body: RollbackRequest) -> JSONResponse:
        try:
            entry = registry.request_retrain(name, body.actor, body.reason)
        except TargetError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse({"audit": entry.model_dump(mode="json")})

    @app.get("/v1/models/{name}/audit")
    def audit(name: str) -> JSONResponse:
        return JSONResponse({"audit": [e.model_dump(mode="json") for e in registry.audit(name)]})

    @app.get("/v1/leases")
    def leases() -> JSONResponse:
        return JSONResponse({"leases": [le.model_dump(mode="json") for le in registry.leases()]})

    @app.delete("/v1/leases/{lease_id}")
    def release(lease_id: str, actor: str = "mlchaos") -> JSONResponse:
        try:
            entry = registry.release(lease_id, actor)
        except TargetError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        return JSONResponse({"audit": entry.model_dump(mode="json")})

    return app


def _granted(grant: Callable[[], tuple[AuditEntry, Lease | None]]) -> JSONResponse:
    """A promotion or a canary, with its lease if one was asked for; 409 when refused."""
    try:
        entry, lease = grant()
    except TargetError as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    return JSONResponse(
        {
            "audit": entry.model_dump(mode="json"),
            "lease": lease.model_dump(mode="json") if lease else None,
        }
    )


def _on_canary(act: Callable[[], AuditEntry | None], version: str, name: str) -> JSONResponse:
    """What was done to the canary; 409 when it is gone (aborted, withdrawn by its lease's
    end): whoever asked must stop rolling it out."""
    try:
        entry = act()
    except TargetError as exc:
        return JSONResponse({"error": str(exc)}, status_code=409)
    if entry is None:
        return JSONResponse({"error": f"{version} is no longer the canary of {name}"},
                            status_code=409)  # fmt: skip
    return JSONResponse({"audit": entry.model_dump(mode="json")})
