"""Fireflies GraphQL sandbox, mounted at ``/fireflies`` (endpoint ``POST /fireflies/graphql``).

Queries run with graphql-core against Fireflies' own SDL, so field selection, argument types and validation are
real. Errors come in the ``errors`` array with HTTP 200 and Fireflies' fields (``code``, ``friendly``,
``extensions{code,status,helpUrls}``): ``limit`` over 50 is ``invalid_arguments``, an unknown id is
``object_not_found``, a bad key is ``auth_failed``, the 60 requests/min quota is ``too_many_requests``. The HTTP
status of quota errors is 200 unless ``ctx.settings["fireflies"]["error_http_status"]`` says otherwise (the
reference leaves it open). A few transcripts are still processing: ``sentences`` null, empty summary.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

from graphql import GraphQLError, GraphQLSchema, build_schema, graphql_sync
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sandbox.context import ApiSpec, SandboxContext
from sandbox.fireflies import corpus as corpus

__all__ = ["FIREFLIES_API_KEY", "SDL_PATH", "build", "fireflies_schema"]

FIREFLIES_API_KEY = "sandbox-fireflies-api-key"
SDL_PATH = Path(__file__).with_name("schema.graphql")
_MAX_LIMIT = 50
_HELP = "https://docs.fireflies.ai/miscellaneous/error-codes"
_EXCLUSIVE = ("organizer_email", "participant_email", "user_id", "mine")


@lru_cache(maxsize=1)
def fireflies_schema() -> GraphQLSchema:
    """Fireflies' public SDL (a copy of the vendor's introspection dump) as an executable schema."""
    return build_schema(SDL_PATH.read_text(encoding="utf-8"))


def _fail(code: str, status: int, message: str, **metadata: Any) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code, "status": status, "helpUrls": [f"{_HELP}#{code}"]}
    if metadata:
        extensions["metadata"] = metadata
    return GraphQLError(message, extensions=extensions)


def _error_body(error: GraphQLError | dict[str, Any]) -> dict[str, Any]:
    """A formatted GraphQL error with Fireflies' top-level ``code`` and ``friendly``."""
    formatted = error.formatted if isinstance(error, GraphQLError) else error
    code = (formatted.get("extensions") or {}).get("code", "internal_error")
    return {
        "message": formatted["message"],
        "code": code,
        "friendly": code != "internal_error",
        **{k: v for k, v in formatted.items() if k != "message"},
    }


def _parse_datetime(value: Any, name: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise _fail("invalid_arguments", 400, f"Invalid date format for {name}", fields=[name]) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class _Fireflies:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.anchor = ctx.clock.now()
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.added: list[corpus.Meeting] = []
            self.finished: set[str] = set()
            self.auth_fail = False

    def all_meetings(self) -> list[corpus.Meeting]:
        """Newest first; meetings finished through the control API are no longer processing."""
        base = corpus.meetings(self.ctx.seed, self.ctx.scale, self.anchor)
        with self.lock:
            every = [replace(m, processing=False) if m.id in self.finished else m for m in (*base, *self.added)]
        return sorted(every, key=lambda m: (-m.date.timestamp(), m.id))

    # --- resolvers ---
    def transcript_object(self, m: corpus.Meeting) -> dict[str, Any]:
        seed = self.ctx.seed
        folks = corpus.jira.people(seed)
        emails = [corpus.email(seed, p) for p in m.attendees]
        organizer = corpus.email(seed, m.organizer)
        stamp = int(m.date.timestamp() * 1000)
        return {
            "id": m.id,
            "title": m.title,
            "organizer_email": organizer,
            "host_email": organizer,
            "user": {"user_id": f"u-{m.organizer:04d}", "name": folks[m.organizer][1], "email": organizer},
            "privacy": "link",
            "participants": [*emails, *m.guests],
            "date": float(stamp),
            "dateString": m.date.strftime("%Y-%m-%dT%H:%M:%S.") + f"{m.date.microsecond // 1000:03d}Z",
            "duration": m.minutes,
            "is_live": False,
            "meeting_info": {
                "silent_meeting": False,
                "fred_joined": True,
                "summary_status": "processing" if m.processing else "processed",
            },
            "transcript_url": f"https://app.fireflies.ai/view/{m.id}",
            "audio_url": None if m.processing else f"https://cdn.fireflies.ai/{m.id}/audio.mp3",
            "video_url": None,
            "meeting_link": f"https://meet.example.com/{m.id[-10:].lower()}",
            "calendar_id": f"cal-{m.id[-8:].lower()}",
            "cal_id": f"cal-{m.id[-8:].lower()}",
            "calendar_type": "google",
            "speakers": [{"id": float(n), "name": folks[p][1]} for n, p in enumerate(m.attendees)],
            "meeting_attendees": [
                {"displayName": folks[p][1], "email": e, "name": folks[p][1]}
                for p, e in zip(m.attendees, emails, strict=True)
            ],
            "meeting_attendance": [],
            "fireflies_users": [organizer],
            "workspace_users": emails,
            "channels": [],
            "shared_with": [],
            "sentences": lambda info, **_: None if m.processing else corpus.sentences(seed, m),
            "summary": lambda info, **_: corpus.summary(seed, m),
        }

    def resolve_transcripts(self, info: Any, **args: Any) -> list[dict[str, Any]]:
        limit, skip = args.get("limit", 50), args.get("skip", 0)
        if limit is not None and (limit > _MAX_LIMIT or limit < 0):
            raise _fail("invalid_arguments", 400, f"limit must be less than or equal to {_MAX_LIMIT}", fields=["limit"])
        if skip is not None and skip < 0:
            raise _fail("invalid_arguments", 400, "skip must be a positive number", fields=["skip"])
        used = [name for name in _EXCLUSIVE if args.get(name) is not None]
        if len(used) > 1:
            raise _fail(
                "invalid_arguments", 400, f"Only one of {', '.join(_EXCLUSIVE)} can be used at a time", fields=used
            )
        chosen = [m for m in self.all_meetings() if self._matches(m, args)]
        start = skip or 0
        return [self.transcript_object(m) for m in chosen[start : start + (limit if limit is not None else 50)]]

    def _matches(self, m: corpus.Meeting, args: dict[str, Any]) -> bool:
        seed = self.ctx.seed
        people = {corpus.email(seed, p) for p in m.attendees} | set(m.guests)
        organizer = corpus.email(seed, m.organizer)
        checks = [
            args.get("fromDate") is None or m.date >= _parse_datetime(args["fromDate"], "fromDate"),
            args.get("toDate") is None or m.date <= _parse_datetime(args["toDate"], "toDate"),
            args.get("title") is None or str(args["title"]).lower() in m.title.lower(),
            args.get("keyword") is None or str(args["keyword"]).lower() in m.title.lower(),
            args.get("organizer_email") is None or args["organizer_email"] == organizer,
            args.get("host_email") is None or args["host_email"] == organizer,
            args.get("participant_email") is None or args["participant_email"] in people,
            not args.get("mine") or m.organizer == 0,  # the key belongs to the first person of the corpus
            args.get("user_id") is None or args["user_id"] == f"u-{m.organizer:04d}",
            not args.get("organizers") or organizer in args["organizers"],
            not args.get("participants") or bool(people & set(args["participants"])),
        ]
        if args.get("date") is not None:
            checks.append(corpus.at_utc(args["date"]).date() == m.date.date())
        return all(checks)

    def resolve_transcript(self, info: Any, id: str) -> dict[str, Any]:
        found = next((m for m in self.all_meetings() if m.id == id), None)
        if found is None:
            raise _fail("object_not_found", 404, "Transcript not found")
        return self.transcript_object(found)

    # --- HTTP ---
    async def graphql(self, request: Request) -> Response:
        if self.auth_fail or request.headers.get("authorization") != f"Bearer {FIREFLIES_API_KEY}":
            error = _fail("auth_failed", 401, "Invalid API key. Please check your API key and try again.")
            return JSONResponse({"data": None, "errors": [_error_body(error)]})
        try:
            payload = json.loads(await request.body() or b"{}")
            query = payload["query"]
        except (json.JSONDecodeError, KeyError, TypeError):
            error = {
                "message": "POST body sent invalid JSON or no query.",
                "extensions": {"code": "BAD_REQUEST", "status": 400},
            }
            return JSONResponse({"errors": [_error_body(error)]}, status_code=400)
        root = {"transcripts": self.resolve_transcripts, "transcript": self.resolve_transcript}
        result = graphql_sync(
            fireflies_schema(),
            query,
            root_value=root,
            variable_values=payload.get("variables"),
            operation_name=payload.get("operationName"),
        )
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [_error_body(e) for e in result.errors]
            if result.data is None:  # parse/validation failure, as Apollo reports it
                for e in body["errors"]:
                    e.setdefault("extensions", {}).setdefault("code", "GRAPHQL_VALIDATION_FAILED")
                    e["code"] = e["extensions"]["code"]
                return JSONResponse(body, status_code=400)
        return JSONResponse(body)

    # --- control ---
    def control(self, action: str, body: dict[str, Any]) -> Any:
        if action == "reset":
            self.reset()
            return {"ok": True}
        if action == "add_transcript":
            with self.lock:
                index = corpus.meeting_count(self.ctx.scale) + len(self.added)
                meeting = corpus.new_meeting(self.ctx.seed, index, self.ctx.clock.now(), bool(body.get("processing")))
                self.added.append(meeting)
            return {"id": meeting.id, "date": int(meeting.date.timestamp() * 1000), "processing": meeting.processing}
        if action == "finish_processing":
            with self.lock:
                pending = [m for m in self.all_meetings() if m.processing]
                chosen = [m for m in pending if m.id == body["id"]] if body.get("id") else pending
                self.finished |= {m.id for m in chosen}
            return {"ids": [m.id for m in chosen]}
        if action == "auth":
            self.auth_fail = bool(body.get("fail", True))
            return {"fail": self.auth_fail}
        raise ValueError(f"unknown action {action!r}")


def build(ctx: SandboxContext) -> ApiSpec:
    fireflies = _Fireflies(ctx)
    app = Starlette(routes=[Route("/graphql", fireflies.graphql, methods=["POST"])])

    def rate_limited(retry_after: float) -> Response:
        at = ctx.clock.now() + timedelta(seconds=max(1.0, retry_after))
        message = f"Too many requests. Please retry after {at.strftime('%I:%M:%S %p')} (UTC)"
        error = _error_body(_fail("too_many_requests", 429, message))
        status = int(ctx.settings.get("fireflies", {}).get("error_http_status", 200))
        return JSONResponse({"data": None, "errors": [error]}, status_code=status)

    def server_error() -> Response:
        error = _error_body(_fail("internal_error", 500, "Internal server error"))
        return JSONResponse({"data": None, "errors": [error]}, status_code=500)

    return ApiSpec(
        name="fireflies",
        prefix="/fireflies",
        app=app,
        rate_limited=rate_limited,
        server_error=server_error,
        requests_per_second=1.0,  # Business/Enterprise: 60 requests per minute
        burst=60,
        latency_ms=400.0,
        env=lambda base_url: {"FIREFLIES_API_URL": f"{base_url}/graphql", "FIREFLIES_API_KEY": FIREFLIES_API_KEY},
        control=fireflies.control,
    )
