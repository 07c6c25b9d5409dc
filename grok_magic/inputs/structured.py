"""Structured answers: `--json` / a JSON schema / a pydantic model as `response_format`, and the
answer parsed and checked against it."""

from __future__ import annotations

from collections.abc import Mapping

from grok_magic.errors import InputError
from grok_magic.xai.messages import json_schema_format
from grok_magic.xai.response import Response


def structured_format(
    schema_name: str | None, want_json: bool, namespace: Mapping
) -> tuple[dict | None, object]:
    """(response_format, validator): `schema_name` names a JSON-schema dict or a pydantic model
    class in `namespace`; `want_json` asks for any JSON object; neither gives (None, None)."""
    if schema_name:
        if schema_name not in namespace:
            raise InputError(
                f"--schema names {schema_name!r}, which is not a variable here",
                hint="Define it as a JSON-schema dict or a pydantic model class first.",
            )
        target = namespace[schema_name]
        if isinstance(target, type) and hasattr(target, "model_json_schema"):
            return json_schema_format(target.model_json_schema(), target.__name__), target
        if isinstance(target, Mapping):
            return json_schema_format(target, schema_name), dict(target)
        raise InputError(
            f"--schema {schema_name} is a {type(target).__name__}",
            hint="Pass a JSON-schema dict or a pydantic model class.",
        )
    if want_json:
        return {"type": "json_object"}, None
    return None, None


def parse_structured(response: Response, validator) -> object:
    """The answer as JSON, checked by `validator` (a JSON schema dict or a pydantic model)."""
    try:
        value = response.json()
    except ValueError as err:
        raise InputError(
            f"the answer is not valid JSON ({err})",
            hint="The text is kept in _grok.text; try again or simplify the schema.",
        ) from None
    if validator is None:
        return value
    if isinstance(validator, dict):
        try:
            import jsonschema
        except ImportError:
            return value
        try:
            jsonschema.validate(value, validator)
        except jsonschema.ValidationError as err:
            raise InputError(
                f"the answer does not match the schema: {err.message}",
                hint="The text is kept in _grok.text.",
            ) from None
        return value
    try:
        return validator.model_validate(value)
    except Exception as err:  # noqa: BLE001 - pydantic's ValidationError, without importing it
        raise InputError(
            f"the answer does not match {validator.__name__}: {str(err).splitlines()[0]}",
            hint="The text is kept in _grok.text.",
        ) from None
