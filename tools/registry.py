"""The tool registry: the single source of truth from tool name to arguments, handler and schema."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from loguru import logger
from pydantic import BaseModel, ValidationError

from config.clinic import ClinicProfile
from tools.context import ToolContext, ToolMode
from validation.errors import InputError

if TYPE_CHECKING:
    from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
    from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

ToolResult = dict[str, Any]
Handler = Callable[[Any, ToolContext], Awaitable[ToolResult]]

# A field marked with this json_schema_extra gets the clinic's service ids as its enum.
SERVICE_ENUM = {"x-elo-enum": "services"}
# A field marked with this holds a person's name. What the model says is never taught to the log
# masker (it could make ordinary words masked): names are remembered from the call's metadata and
# from stored patients only (see config.logs).
PII_NAME = {"x-elo-pii": "name"}

_MAX_RAW_ARGUMENTS = 16_384
# No tool argument nests more than a few levels; far deeper text is an attack on the parser.
_MAX_NESTING = 64

DEFAULT_TIMEOUT_SECS = 15.0
"""How long a tool may run in a call before the model is told it failed (most answer in ms)."""


class LimitClass(StrEnum):
    """Which of a call's caps a tool counts against (``pipeline.limits.CallLimiter``).

    Every class but ``UNCAPPED`` also counts against the tool calls per minute and per call.
    """

    ORDINARY = "ordinary"
    SEARCH = "search"  # also the web searches per call
    BOOKING = "booking"  # also the bookings per call, per number per day, and unbound per hour
    CALLBACK = "callback"  # also the callbacks per call, per number per day, and unbound per hour
    # Never refused and not counted: refusing them after a tool flood would keep a patient on
    # the line, or on the calling list after they asked to be taken off.
    UNCAPPED = "uncapped"


class CallEnding(StrEnum):
    """How a tool ends the call it runs in (``pipeline.call.CallSession``)."""

    END = "end"  # after Elo's goodbye, the turn that answers the tool's result
    TRANSFER = "transfer"  # on success, once its result is through: the patient is with staff
    VOICEMAIL = "voicemail"  # once its result is through, unless Elo leaves a message


@dataclass(frozen=True)
class ToolSpec:
    """One tool the model can call.

    Attributes:
        name: The function name the model uses.
        description: Written for the model: when to call it and what it returns.
        args_model: Pydantic model validating the arguments (extra fields forbidden).
        handler: ``async (args, ctx) -> dict`` returning a JSON-ready result.
        confidential: Offered in patient calls only when the security setting allows it.
        blocking: The model must wait for the result before it goes on (declared ``BLOCKING`` to
            Gemini Live where the model accepts it): it speaks the answer or acts on it.
        writes: The tool changes something (a booking, a callback, the do-not-call list, the
            call itself): its outcome must reach the model even if the patient talks over it.
        limit: The caps it counts against in a call (see :class:`LimitClass`).
        ends_call: How it ends the call, if it does.
        timeout_secs: How long it may run in a call.
        written_status: For a tool that makes records the caps count (bookings, callbacks): the
            result ``status`` that says one was made (see :meth:`made_record`).
    """

    name: str
    description: str
    args_model: type[BaseModel]
    handler: Handler
    confidential: bool = False
    blocking: bool = True
    writes: bool = False
    limit: LimitClass = LimitClass.ORDINARY
    ends_call: CallEnding | None = None
    timeout_secs: float = DEFAULT_TIMEOUT_SECS
    written_status: str | None = None

    def made_record(self, result: Mapping[str, Any] | None) -> bool:
        """Whether this result of the tool reports a new record (a booking, a callback).

        A result marked ``already_booked`` returns a record made earlier: nothing new.

        Args:
            result: The tool's result, or None when it ended without one.
        """
        return (
            self.written_status is not None
            and isinstance(result, Mapping)
            and result.get("status") == self.written_status
            and not result.get("already_booked")
        )


@dataclass(frozen=True)
class ToolRun:
    """One run of a tool: the result for the model, and whether the handler raised."""

    result: ToolResult
    raised: bool = False


class ToolRegistry:
    """Holds the tools, produces their schemas and dispatches calls by name.

    Args:
        specs: The tools.
    """

    def __init__(self, specs: Iterable[ToolSpec]) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            if spec.name in self._specs:
                raise ValueError(f"tool {spec.name} registered twice")
            self._specs[spec.name] = spec

    @property
    def names(self) -> list[str]:
        """All tool names, offered or not."""
        return list(self._specs)

    def names_where(
        self,
        *,
        blocking: bool | None = None,
        writes: bool | None = None,
        limit: LimitClass | None = None,
    ) -> set[str]:
        """Names of the tools with these declaration attributes (None: any)."""
        return {
            spec.name
            for spec in self._specs.values()
            if (blocking is None or spec.blocking == blocking)
            and (writes is None or spec.writes == writes)
            and (limit is None or spec.limit == limit)
        }

    def ending(self, how: CallEnding) -> str:
        """The name of the tool that ends the call this way.

        Raises:
            LookupError: No registered tool ends the call this way.
        """
        for spec in self._specs.values():
            if spec.ends_call == how:
                return spec.name
        raise LookupError(f"no tool ends the call by {how}")

    def get(self, name: str) -> ToolSpec | None:
        """The tool with this name, if registered."""
        return self._specs.get(name)

    def offered(self, *, mode: ToolMode, expose_confidential: bool) -> list[ToolSpec]:
        """Tools offered in a mode: admins get all, calls get confidential ones only if allowed."""
        return [
            spec
            for spec in self._specs.values()
            if not spec.confidential or mode is ToolMode.ADMIN or expose_confidential
        ]

    def function_schemas(
        self, clinic: ClinicProfile, *, mode: ToolMode = ToolMode.CALL, expose_confidential: bool
    ) -> list[FunctionSchema]:
        """Pipecat schemas of the offered tools, with the clinic's catalogue as enums."""
        # Imported here so the admin CLI does not pay for importing Pipecat.
        from pipecat.adapters.llm.schemas.function_schema import FunctionSchema

        return [
            FunctionSchema(
                name=spec.name,
                description=spec.description,
                properties=_properties(spec.args_model, clinic),
                required=_required(spec.args_model),
            )
            for spec in self.offered(mode=mode, expose_confidential=expose_confidential)
        ]

    def tools_schema(
        self, clinic: ClinicProfile, *, mode: ToolMode = ToolMode.CALL, expose_confidential: bool
    ) -> ToolsSchema:
        """The offered tools as a Pipecat ``ToolsSchema``."""
        from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema

        return ToolsSchema(
            standard_tools=self.function_schemas(
                clinic, mode=mode, expose_confidential=expose_confidential
            )
        )

    async def call(
        self, name: str, arguments: Mapping[str, Any] | str | None, ctx: ToolContext
    ) -> ToolResult:
        """Validate arguments and run a tool; never raises for bad input or a failing handler.

        Args:
            name: The tool name.
            arguments: A mapping, a JSON object string, or None for no arguments.
            ctx: The tool context.

        Returns:
            The handler's result, or ``{"error": ..., "hint": ...}``.
        """
        return (await self.run(name, arguments, ctx)).result

    async def run(
        self, name: str, arguments: Mapping[str, Any] | str | None, ctx: ToolContext
    ) -> ToolRun:
        """:meth:`call`, also telling whether the handler raised (the call gate counts it)."""
        started = time.perf_counter()
        spec = self._specs.get(name)
        offered = {
            s.name
            for s in self.offered(
                mode=ctx.mode, expose_confidential=ctx.settings.security.expose_stats_to_model
            )
        }
        if spec is None or name not in offered:
            result = {
                "error": f"unknown tool {name[:60]!r}",
                "hint": f"Use one of: {', '.join(sorted(offered))}.",
            }
            logger.warning("tool call refused: unknown or not offered")
            return ToolRun(result)
        try:
            args = spec.args_model.model_validate(_as_mapping(arguments))
        except _BadArguments as exc:
            return ToolRun({"error": str(exc), "hint": _usage(spec)})
        except ValidationError as exc:
            return ToolRun({"error": _describe(exc), "hint": _usage(spec)})
        except RecursionError:
            # A mapping nested thousands of levels deep (e.g. a list of lists given as a name):
            # text cleaning and validation walk it recursively.
            return ToolRun({"error": "arguments are nested too deeply", "hint": _usage(spec)})
        raised = False
        try:
            result = await spec.handler(args, ctx)
        except InputError as exc:
            result = exc.to_result()
        except Exception as exc:  # a tool must never take the call down
            logger.exception("tool {} failed: {}", name, type(exc).__name__)
            raised = True
            result = {
                "error": f"{name} failed because of an internal problem",
                "hint": "Apologise, do not retry more than once, and offer a callback from staff.",
            }
        elapsed_ms = (time.perf_counter() - started) * 1000
        logger.info(
            "tool {} -> {} in {:.1f} ms", name, "error" if "error" in result else "ok", elapsed_ms
        )
        return ToolRun(result, raised)


class _BadArguments(ValueError):
    pass


def _as_mapping(arguments: Mapping[str, Any] | str | None) -> Mapping[str, Any]:
    if arguments is None:
        return {}
    if isinstance(arguments, str):
        if len(arguments) > _MAX_RAW_ARGUMENTS:
            raise _BadArguments("arguments are too large")
        # "[[[[...": a few thousand brackets fit the size limit; whether they exhaust Python's
        # parser depends on its version (3.13 takes 5,000 levels), so the depth is judged here.
        if _nesting(arguments) > _MAX_NESTING:
            raise _BadArguments("arguments are nested too deeply")
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            raise _BadArguments("arguments are not valid JSON") from None
        except RecursionError:
            raise _BadArguments("arguments are nested too deeply") from None
        except ValueError:
            # Python refuses to convert integers of more than 4300 digits (a denial-of-service
            # guard), which fit the size limit.
            raise _BadArguments("arguments have a number with too many digits") from None
    if not isinstance(arguments, Mapping):
        raise _BadArguments("arguments must be a JSON object")
    return arguments


def _nesting(text: str) -> int:
    """How deep JSON brackets nest in ``text``, ignoring brackets inside strings."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not an argument of this tool",
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "bool_type": "must be true or false",
    "string_too_long": "is too long",
    "string_too_short": "is too short",
}


def _describe(error: ValidationError) -> str:
    """Name each bad field without echoing its value (it may be personal data or huge)."""
    problems = []
    for item in error.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in item["loc"]) or "arguments"
        message = _MESSAGES.get(item["type"], item["msg"].removeprefix("Value error, "))
        if item["type"] in ("string_too_long", "string_too_short") and item.get("ctx"):
            limit = item["ctx"].get("max_length", item["ctx"].get("min_length"))
            message = f"{message} (limit {limit} characters)"
        problems.append(f"{field[:60]} {message}")
    return "invalid arguments: " + "; ".join(problems)


def _usage(spec: ToolSpec) -> str:
    schema = spec.args_model.model_json_schema()
    props = schema.get("properties", {})
    if not props:
        return f"Call {spec.name} with no arguments."
    required = set(schema.get("required", []))
    parts = [f"{name}{'' if name in required else ' (optional)'}" for name in props]
    return f"Call {spec.name} again with: {', '.join(parts)}."


def _required(model: type[BaseModel]) -> list[str]:
    return list(model.model_json_schema().get("required", []))


def _properties(model: type[BaseModel], clinic: ClinicProfile) -> dict[str, Any]:
    schema = model.model_json_schema()
    properties: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        clean = {
            key: value
            for key, value in prop.items()
            if key in ("type", "description", "enum", "maxLength", "minimum", "maximum", "items")
        }
        if prop.get("x-elo-enum") == "services":
            clean["enum"] = clinic.service_ids
        properties[name] = clean
    return properties
