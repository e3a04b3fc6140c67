"""The spec compiled into schemas, and the walk that checks a request body against them.

Generic: nothing here knows Batch AI beyond the Swagger keywords the package docstring lists. The
prose rules (``_rules``) are handed to the compiler, which hangs each on the definition it belongs
to; the walk runs it once that object's shape is right. The messages of every refusal, with
secrets redacted, are made here too, so the rules word theirs the same way.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Mapping

from batchai_kit.local.arm.errors import ArmError

_INT32 = (-(2**31), 2**31 - 1)

Rule = Callable[[dict, str], None]


class RequestInvalid(ArmError):
    """A request the service refuses before doing anything: 400 with the ARM error body."""

    def __init__(self, code: str, message: str, target: str | None = None, status: int = 400):
        super().__init__(status, code, message, target)


# ----------------------------------------------------------------------------------------------
# The spec, compiled


class _Schema:
    """One node of a body schema: what a value at this place must be."""

    __slots__ = (
        "enum",
        "format",
        "items",
        "max_length",
        "maximum",
        "min_length",
        "minimum",
        "name",
        "pattern",
        "properties",
        "required",
        "rule",
        "type",
        "values",
    )

    def __init__(self, name: str | None = None, rule: Rule | None = None):
        self.name = name                      # the spec definition
        self.rule = rule                      # its prose rule, run once the object's shape is right
        self.type: str | None = None
        self.format: str | None = None
        self.properties: dict[str, _Schema] = {}
        self.required: tuple[str, ...] = ()
        self.items: _Schema | None = None     # arrays
        self.values: _Schema | None = None    # maps (additionalProperties)
        self.enum: dict[str, str] | None = None  # lower-case -> as the spec spells it
        self.minimum: float | None = None
        self.maximum: float | None = None
        self.min_length: int | None = None
        self.max_length: int | None = None
        self.pattern: re.Pattern | None = None


class _Parameter:
    """A path or query parameter as the spec declares it."""

    __slots__ = (
        "default",
        "description",
        "location",
        "max_length",
        "maximum",
        "min_length",
        "minimum",
        "name",
        "pattern",
        "required",
        "type",
    )

    def __init__(self, node: Mapping[str, Any]):
        self.name: str = node["name"]
        self.location: str = node["in"]
        self.required: bool = bool(node.get("required"))
        self.type: str | None = node.get("type")
        self.default = node.get("default")
        self.minimum = node.get("minimum")
        self.maximum = node.get("maximum")
        self.min_length = node.get("minLength")
        self.max_length = node.get("maxLength")
        self.pattern = _compile_pattern(node["pattern"]) if "pattern" in node else None
        self.description: str = node.get("description", "")


class _Operation:
    __slots__ = ("body", "body_required", "operation_id", "path_params", "query_params")

    def __init__(self, operation_id: str):
        self.operation_id = operation_id
        self.path_params: list[_Parameter] = []
        self.query_params: list[_Parameter] = []
        self.body: _Schema | None = None
        self.body_required = False


def _compile_pattern(text: str) -> re.Pattern:
    # Swagger patterns are .NET regexes: "$" is the end of the string, not "before a final \n".
    if text.endswith("$") and not text.endswith("\\$"):
        text = text[:-1] + r"\Z"
    return re.compile(text)


class _Compiler:
    def __init__(self, spec: Mapping[str, Any], rules: Mapping[str, Rule]):
        self._spec = spec
        self._rules = rules
        self._definitions: dict[str, _Schema] = {}

    def operations(self) -> dict[str, _Operation]:
        operations = {}
        for path_item in self._spec["paths"].values():
            shared = path_item.get("parameters", [])
            for method, node in path_item.items():
                if method == "parameters":
                    continue
                operation = _Operation(node["operationId"])
                for declared in [*shared, *node.get("parameters", [])]:
                    parameter = self._resolve(declared)
                    if parameter["in"] == "body":
                        operation.body = self.schema(parameter["schema"])
                        operation.body_required = bool(parameter.get("required"))
                    elif parameter["in"] == "path":
                        operation.path_params.append(_Parameter(parameter))
                    elif parameter["in"] == "query":
                        operation.query_params.append(_Parameter(parameter))
                operations[operation.operation_id] = operation
        return operations

    def _resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        while "$ref" in node:
            _, section, name = node["$ref"].split("/")
            node = self._spec[section][name]
        return node

    def schema(self, node: Mapping[str, Any]) -> _Schema:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in self._definitions:
                # registered first: cycles end
                schema = self._definitions[name] = _Schema(name, self._rules.get(name))
                self._fill(schema, self._spec["definitions"][name])
            return self._definitions[name]
        schema = _Schema()
        self._fill(schema, node)
        return schema

    def _fill(self, schema: _Schema, node: Mapping[str, Any]) -> None:
        required: list[str] = []
        for part in node.get("allOf", ()):
            base = self.schema(part)
            schema.properties.update(base.properties)
            required.extend(base.required)
            schema.type = schema.type or base.type
        for name, member in node.get("properties", {}).items():
            if member.get("readOnly") is True:
                continue  # what the service reports; a client sending it is ignored
            child = self.schema(member)
            schema.properties[name] = child
            if member.get("x-ms-client-flatten") and child.required:
                required.append(name)
        required.extend(n for n in node.get("required", ()) if n in schema.properties)
        schema.required = tuple(dict.fromkeys(required))
        schema.type = node.get("type") or schema.type or ("object" if schema.properties else None)
        schema.format = node.get("format")
        if "items" in node:
            schema.items = self.schema(node["items"])
        if isinstance(node.get("additionalProperties"), dict):
            schema.values = self.schema(node["additionalProperties"])
            schema.type = schema.type or "object"
        if "enum" in node:
            schema.enum = {str(v).lower(): str(v) for v in node["enum"]}
        schema.minimum = node.get("minimum")
        schema.maximum = node.get("maximum")
        schema.min_length = node.get("minLength")
        schema.max_length = node.get("maxLength")
        if "pattern" in node:
            schema.pattern = _compile_pattern(node["pattern"])



# ----------------------------------------------------------------------------------------------
# Bodies: the schema walk


_SECRETS = frozenset({"adminuserpassword", "accountkey", "password", "instrumentationkey"})
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _join(path: str, name: str) -> str:
    if not _IDENTIFIER.match(name):
        return f"{path}['{name}']"
    return f"{path}.{name}" if path else name


def _show(value: Any, path: str) -> str:
    leaf = path.rsplit(".", 1)[-1].lower()
    if leaf in _SECRETS or (leaf == "value" and ".secrets[" in path):
        return "<redacted>"
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 120 else text[:117] + "..."


def _invalid(path: str, value: Any, rule: str) -> RequestInvalid:
    return RequestInvalid(
        "InvalidPropertyValue",
        f"The specified value {_show(value, path)} for property {path} is invalid: {rule}.",
        target=path)


def _missing(path: str, hint: str = "") -> RequestInvalid:
    return RequestInvalid(
        "MissingRequiredProperty",
        f"The required property {path} is missing{': ' + hint if hint else ''}.", target=path)


def _not_convertible(path: str, value: Any, type_name: str) -> RequestInvalid:
    if isinstance(value, (dict, list)):
        shown = "an object" if isinstance(value, dict) else "an array"
    else:
        shown = _show(json.dumps(value), path)
    return RequestInvalid(
        "InvalidRequestContent",
        "The request content was invalid and could not be deserialized: "
        f"'Error converting value {shown} to type '{type_name}'. Path '{path}'.'",
        target=path or None)


def _is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _check(schema: _Schema, value: Any, path: str) -> None:
    kind = schema.type
    if kind == "object":
        if not isinstance(value, dict):
            raise _not_convertible(path, value, schema.name or "Object")
        for name in schema.required:
            member = value.get(name)
            if member is None:
                raise _missing(_join(path, name))
            if member == "":
                raise _invalid(_join(path, name), member, "it must not be empty")
        for name, member_schema in schema.properties.items():
            member = value.get(name)
            if member is not None:
                _check(member_schema, member, _join(path, name))
        if schema.values is not None:
            for key, member in value.items():
                if member is not None:
                    _check(schema.values, member, _join(path, key))
        if schema.rule is not None:
            schema.rule(value, path)
    elif kind == "array":
        if not isinstance(value, list):
            raise _not_convertible(path, value, "Array")
        if schema.items is not None:
            for index, item in enumerate(value):
                if item is not None:
                    _check(schema.items, item, f"{path}[{index}]")
    elif kind == "string":
        if not isinstance(value, str):
            raise _not_convertible(path, value, "String")
        _check_string(schema, value, path)
    elif kind == "integer":
        if not _is_integer(value):
            raise _not_convertible(path, value, "Int32" if schema.format == "int32" else "Int64")
        if schema.format == "int32" and not _INT32[0] <= value <= _INT32[1]:
            raise _not_convertible(path, value, "Int32")
        _check_range(schema, value, path)
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _not_convertible(path, value, "Double")
        _check_range(schema, value, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise _not_convertible(path, value, "Boolean")


def _known(schema: _Schema, value: Any) -> Any:
    """``value`` as the service keeps it: members its schema does not declare (unknown ones, and
    the readOnly ones a client sent) left out, at every depth; a free-form object kept whole."""
    if schema.type == "object" and isinstance(value, dict) and (schema.properties or schema.values):
        return {name: _known(schema.properties[name], member) if name in schema.properties
                else _known(schema.values, member)  # type: ignore[arg-type]
                for name, member in value.items()
                if name in schema.properties or schema.values is not None}
    if schema.type == "array" and isinstance(value, list) and schema.items is not None:
        return [_known(schema.items, item) for item in value]
    return value


def _check_string(schema: _Schema, value: str, path: str) -> None:
    if schema.enum is not None and value.lower() not in schema.enum:
        raise _invalid(path, value, "it must be one of " + ", ".join(schema.enum.values())
                       + " (any case)")
    if schema.min_length is not None and len(value) < schema.min_length:
        raise _invalid(path, value, f"it must be at least {schema.min_length} characters long")
    if schema.max_length is not None and len(value) > schema.max_length:
        raise _invalid(path, value, f"it must be at most {schema.max_length} characters long")
    if schema.pattern is not None and not schema.pattern.search(value):
        raise _invalid(path, value, f"it must match {schema.pattern.pattern}")
    if schema.format == "duration" and _duration_seconds(value) is None:
        raise _invalid(path, value, "it must be a duration such as P7D, PT2H30M or 7.00:00:00")


def _check_range(schema: _Schema, value: float, path: str) -> None:
    if schema.minimum is not None and value < schema.minimum:
        raise _invalid(path, value, f"it must be at least {schema.minimum}")
    if schema.maximum is not None and value > schema.maximum:
        raise _invalid(path, value, f"it must be at most {schema.maximum}")


_ISO_DURATION = re.compile(
    r"P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?\Z")
_TIMESPAN = re.compile(
    r"(?:(?P<days>\d+)\.)?(?P<hours>\d{1,2}):(?P<minutes>\d{1,2})"
    r"(?::(?P<seconds>\d{1,2}(?:\.\d+)?))?\Z")
_SECONDS = {"weeks": 604800, "days": 86400, "hours": 3600, "minutes": 60, "seconds": 1}


def _duration_seconds(text: str) -> float | None:
    """Seconds in an ISO 8601 duration (P1DT2H) or a .NET TimeSpan (1.02:00:00); None if neither."""
    match = _ISO_DURATION.match(text) or _TIMESPAN.match(text)
    if match is None or text in ("P", "PT") or text.endswith("T"):
        return None
    return sum(float(v) * _SECONDS[k] for k, v in match.groupdict().items() if v)
