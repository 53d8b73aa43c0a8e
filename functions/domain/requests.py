"""Request bodies: strict JSON parsing into pydantic models, and the first problem as the contract's error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from functions.domain.errors import ErrorCode, InvalidField

Model = TypeVar("Model", bound=BaseModel)

_PYDANTIC_CODES = {
    "missing": (ErrorCode.MISSING_FIELD, "{field} is required"),
    "extra_forbidden": (ErrorCode.UNKNOWN_FIELD, "{field} is not a field of this request"),
    "string_type": (ErrorCode.WRONG_TYPE, "{field} must be a string"),
    "bool_type": (ErrorCode.WRONG_TYPE, "{field} must be true or false"),
    "literal_error": (ErrorCode.INVALID_VALUE, "{field} is not one of the allowed values"),
    "enum": (ErrorCode.INVALID_VALUE, "{field} is not one of the allowed values"),
    "model_type": (ErrorCode.INVALID_BODY, "the body must be a JSON object"),
    "model_attributes_type": (ErrorCode.INVALID_BODY, "the body must be a JSON object"),
    "json_invalid": (ErrorCode.INVALID_JSON, "the body is not valid JSON"),
    "json_type": (ErrorCode.INVALID_JSON, "the body is not valid JSON"),
}


def first_problem(error: ValidationError) -> InvalidField:
    """The first problem pydantic found, as our error, with the field it names and without the value."""
    detail = error.errors(include_input=False, include_url=False)[0]
    loc = detail.get("loc") or ()
    field = str(loc[0]) if loc else (detail.get("ctx") or {}).get("field")
    kind = detail["type"]
    if kind in _PYDANTIC_CODES:
        code, template = _PYDANTIC_CODES[kind]
        return InvalidField(code, template.format(field=field or "body"), field)
    return InvalidField(kind, str((detail.get("ctx") or {}).get("reason") or detail["msg"]), field)


def parse_body(model: type[Model], body: bytes, context: Mapping[str, Any] | None = None) -> Model:
    """Validates a raw request body; raises `InvalidField` naming the first field at fault, never its value.
    `context`: what a model's checks take from the settings (pydantic's validation context)."""
    try:
        return model.model_validate_json(body, context=context)
    except ValidationError as error:
        raise first_problem(error) from None
