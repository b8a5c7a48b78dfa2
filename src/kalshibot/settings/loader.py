"""Load the YAML config and the secrets into :class:`Settings`, turning every mistake into one ConfigError.

The YAML dialect is PyYAML's safe subset with three corrections for config files: a key given twice is an error
(PyYAML silently keeps the last one: two ``risk:`` blocks would drop the first), ``12:30`` stays a string (YAML 1.1
reads it as the base-60 integer 750) and unquoted timestamps stay strings (the release-time parser wants the text
and its offset, not a naive datetime).

Error messages name the file, the field path (``risk.max_notional_per_market``, ``timing.release_times[0].time``),
the line when it can be found, and what was expected; an unknown key also lists the keys allowed there.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from kalshibot.errors import ConfigError
from kalshibot.settings.models import Settings
from kalshibot.settings.secrets import SECRET_VARIABLES, read_environment, resolve_secrets
from kalshibot.settings.types import FieldValueError

_DROP_TAGS = {"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:timestamp"}


class ConfigLoader(yaml.SafeLoader):
    """SafeLoader without base-60 numbers and implicit timestamps, refusing duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:
                continue  # unhashable keys are reported by the base class
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# a private copy of SafeLoader's resolvers minus int/float/timestamp, which are re-added below without base 60
ConfigLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in _DROP_TAGS] for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$"), list("-+0123456789")
)
ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"""^(?:[-+]?[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?
        |[-+]?\.[0-9_]+(?:[eE][-+]?[0-9]+)?
        |[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+
        |[-+]?\.(?:inf|Inf|INF)
        |\.(?:nan|NaN|NAN))$""",
        re.X,
    ),
    list("-+0123456789."),
)


def load_settings(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    env_file: str | None = ".env",
    require_secrets: bool = True,
) -> Settings:
    """Read ``path`` (YAML) and the secrets (``env``, default ``os.environ``, over ``env_file``).

    ``require_secrets=False`` skips the check that the credentials the environment needs are present (for
    commands that only read the config: status, replay). Raises ConfigError (exit 2) for every configuration
    problem and CredentialError (exit 3) for a key file that is named but unusable.
    """
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("no such file (start from config/bot.yaml or config/bot.example.yaml)", file=file) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", file=file) from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"not UTF-8 text ({e.reason} at byte {e.start})", file=file) from None
    except OSError as e:
        raise ConfigError(f"cannot read: {e.strerror or e}", file=file) from None
    return parse_settings_text(text, source=file, env=env, env_file=env_file, require_secrets=require_secrets)


def parse_settings_text(
    text: str,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    env_file: str | None = ".env",
    require_secrets: bool = True,
) -> Settings:
    """Like :func:`load_settings` for YAML text already in memory (``source`` names it in errors)."""
    try:
        root = yaml.compose(text, Loader=ConfigLoader)
        data = yaml.load(text, Loader=ConfigLoader)  # ConfigLoader is a SafeLoader
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "unknown position"
        problem = e.problem or e.context or "syntax error"
        raise ConfigError(f"invalid YAML at {where}: {problem}", file=source) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"invalid YAML: {e}", file=source) from None
    return parse_settings(data, source=source, env=env, env_file=env_file, require_secrets=require_secrets, _node=root)


def parse_settings(
    data: Mapping[str, Any] | None,
    *,
    source: str = "<config>",
    env: Mapping[str, str] | None = None,
    env_file: str | None = ".env",
    require_secrets: bool = True,
    _node: yaml.Node | None = None,
) -> Settings:
    """Validate a mapping (as loaded from YAML) into :class:`Settings` with the secrets attached."""
    if data is None:
        data = {}  # an empty file: every default (the embedded simulator)
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a mapping of settings at the top level, got {type(data).__name__}", file=source)
    if "secrets" in data:
        raise ConfigError(
            "secrets are never read from the config file; set " + ", ".join(SECRET_VARIABLES) + " in .env or the "
            "environment",
            file=source,
            field="secrets",
        )
    try:
        settings = Settings.model_validate(dict(data))
    except ValidationError as e:
        raise _config_error(e, source, _node) from None
    values = read_environment(env, env_file)
    why = (
        f"environment: {settings.environment} needs credentials"
        if settings.environment != "sim"
        else "sim_url points at an external simulator that needs one of its keys"
    )
    if settings.auth.mode == "legacy":
        why += " (auth.mode: legacy)"
    secrets = resolve_secrets(
        values,
        required=require_secrets and settings.credentials_required,
        auth_mode=settings.auth.mode,
        why=why,
    )
    return settings.model_copy(update={"secrets": secrets})


# ------------------------------------------------------------------------------------------- error formatting
def _config_error(exc: ValidationError, source: str, node: yaml.Node | None) -> ConfigError:
    lines: list[tuple[str, str]] = []
    for err in exc.errors(include_url=False):
        lines.append(_describe(err, node))
    field, message = lines[0]
    if len(lines) > 1:
        message += "".join(f"\n  also {f}: {m}" for f, m in lines[1:])
    return ConfigError(message, file=source, field=field)


# pydantic's own location segments for union members and validators ("function-after[...]"): not keys a user wrote
_VALIDATOR_SEGMENT = re.compile(
    r"^(function-(after|before|wrap|plain)|json-or-python|lax-or-strict|tagged-union|"
    r"union|chain|nullable|default|constrained-[a-z]+)\["
)


def _describe(err: ErrorDetails, node: yaml.Node | None) -> tuple[str, str]:
    # union members add segments such as "function-after[...]": they are not keys the user wrote
    loc: list[str | int] = [p for p in err["loc"] if isinstance(p, int) or not _VALIDATOR_SEGMENT.match(p)]
    kind = err["type"]
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldValueError):
        loc.extend(cause.field.split("."))
        message = cause.message
    elif kind == "extra_forbidden":
        key = str(loc[-1]) if loc else "?"
        allowed = _allowed_keys(loc[:-1])
        # a truncated name ("max_notional") is the commonest slip: prefer a key it starts, then the closest spelling
        hint = [a for a in allowed if a.startswith(key)][:1] or difflib.get_close_matches(key, allowed, n=1)
        message = f"unknown key {key!r}"
        if hint:
            message += f" (did you mean {hint[0]!r}?)"
        if allowed:
            message += "; allowed here: " + ", ".join(allowed)
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = err["msg"].removeprefix("Value error, ")
        if kind != "value_error" and "input" in err:
            shown = repr(err["input"])
            message += f", got {shown if len(shown) <= 60 else shown[:57] + '...'}"
    line = _line_of(node, loc)
    if line is not None:
        message += f" (line {line})"
    return _dotted(loc) or "(top level)", message


def _dotted(loc: Sequence[str | int]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else p)
    return out


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is not None:  # X | None, Optional[X], list[X], Annotated[X, ...]
        for arg in get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _allowed_keys(parent: Sequence[str | int]) -> list[str]:
    model: type[BaseModel] | None = Settings
    for p in parent:
        if isinstance(p, int) or model is None:
            continue
        info = model.model_fields.get(p)
        model = _model_in(info.annotation) if info is not None else None
    if model is None:
        return []
    return [name for name, info in model.model_fields.items() if not info.exclude]


def _line_of(node: yaml.Node | None, loc: Sequence[str | int]) -> int | None:
    """1-based line of the deepest YAML node along ``loc`` (the offending key, or its nearest parent)."""
    line: int | None = None
    for p in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(p, str):
            for k, v in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value == p:
                    line = k.start_mark.line + 1
                    node = v
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(p, int) and 0 <= p < len(node.value):
            node = node.value[p]
            line = node.start_mark.line + 1
        else:
            return line
    return line
