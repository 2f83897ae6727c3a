"""Snapshots: one render's exact inputs as JSON-able data, and back.

Rules:
1. Pure: values in, dicts (or JSON text) out, and the reverse. No file access; the CLI reads
   and writes the file.
2. One generic converter driven by the attrs field types of ``values.py`` and
   ``history.py``: a field added there is saved and loaded without touching this module.
   JSON has no sets, tuples or integer keys, so the field type decides: frozensets are saved
   as sorted lists, tuples as lists, ``Mapping[int, ...]`` keys as decimal strings.
3. Loading is strict. Unknown keys, wrong types (``True`` is not an integer here), a missing
   required field or another format version raise ``SnapshotError`` naming the field, e.g.
   ``snapshot view.memory.limits[0].limit: expected an integer, got 'max'``. A snapshot that
   loads renders exactly what the live values it was taken from render.

Format (version 1)::

    {"format": "lxcfs-py-snapshot", "version": 1, "source": "cgroup /x under /",
     "view": {...CgroupView...}, "host": {...HostSnapshot...}, "clock": {"boottime": 12.5},
     "options": {...RenderOptions...}, "history": {...ContainerHistory...}}
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union

import attrs

from lxcfs_model.errors import ParseError
from lxcfs_model.history import ContainerHistory
from lxcfs_model.rendering import RenderInputs
from lxcfs_model.values import CgroupView, Clock, HostSnapshot, RenderOptions

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "Snapshot",
    "SnapshotError",
    "from_jsonable",
    "snapshot_from_dict",
    "snapshot_from_json",
    "snapshot_to_dict",
    "snapshot_to_json",
    "to_jsonable",
]

FORMAT_NAME = "lxcfs-py-snapshot"
FORMAT_VERSION = 1

T = TypeVar("T")


class SnapshotError(ParseError):
    """A snapshot is malformed, of another format version, or not a snapshot at all."""


@attrs.frozen
class Snapshot:
    """Everything one render looks at, plus a note of where it was taken (``source``)."""

    view: CgroupView
    host: HostSnapshot
    clock: Clock
    options: RenderOptions = attrs.field(factory=RenderOptions)
    history: ContainerHistory = attrs.field(factory=ContainerHistory)
    source: str = ""

    @classmethod
    def of(cls, inputs: RenderInputs, source: str = "") -> Snapshot:
        return cls(inputs.view, inputs.host, inputs.clock, inputs.options, inputs.history, source)

    def inputs(self, options: RenderOptions | None = None) -> RenderInputs:
        """The render inputs; ``options`` replaces the saved options when given."""
        return RenderInputs(
            view=self.view,
            host=self.host,
            options=self.options if options is None else options,
            clock=self.clock,
            history=self.history,
        )


# ------------------------------------------------------------------------- snapshot files


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    data: dict[str, Any] = {"format": FORMAT_NAME, "version": FORMAT_VERSION}
    data.update(to_jsonable(snapshot, Snapshot))
    return data


def snapshot_from_dict(data: object) -> Snapshot:
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise SnapshotError(f'not an lxcfs-render snapshot (no "format": {FORMAT_NAME!r})')
    version = data.get("version")
    if version != FORMAT_VERSION:
        raise SnapshotError(
            f"snapshot format version {version!r} is not supported (this build reads "
            f"version {FORMAT_VERSION}); take the snapshot again with this lxcfs-render"
        )
    body = {key: value for key, value in data.items() if key not in ("format", "version")}
    return from_jsonable(body, Snapshot)


def snapshot_to_json(snapshot: Snapshot) -> str:
    """The snapshot as JSON text (ASCII only, so any byte a host file held survives)."""
    return json.dumps(snapshot_to_dict(snapshot), indent=1, sort_keys=True) + "\n"


def snapshot_from_json(text: str) -> Snapshot:
    try:
        data = json.loads(text)
    except ValueError as error:  # JSONDecodeError, or a number too long to convert
        raise SnapshotError(f"snapshot is not valid JSON: {error}") from None
    except RecursionError:
        raise SnapshotError("snapshot is not valid JSON: nested too deeply") from None
    return snapshot_from_dict(data)


# --------------------------------------------------------------------- generic conversion


def to_jsonable(value: Any, kind: Any) -> Any:
    """``value`` (of type ``kind``) as JSON-able data: dicts, lists, str, int, float, None."""
    if attrs.has(kind):
        hints = _field_types(kind)
        return {
            field.name: to_jsonable(getattr(value, field.name), hints[field.name])
            for field in attrs.fields(kind)
        }
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if value is None:
            return None
        for option in args:
            if option is not type(None) and _is_instance(value, option):
                return to_jsonable(value, option)
        raise TypeError(f"{value!r} matches none of {kind}")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return [to_jsonable(item, args[0]) for item in value]
        return [to_jsonable(item, item_kind) for item, item_kind in zip(value, args, strict=True)]
    if origin is frozenset:
        return [to_jsonable(item, args[0]) for item in sorted(value)]
    if origin in (Mapping, dict):
        key_kind, value_kind = args
        return {
            _key_to_json(key, key_kind): to_jsonable(item, value_kind)
            for key, item in sorted(value.items())
        }
    return value  # str, int, float, bool, None, Literal


def from_jsonable(data: Any, kind: type[T]) -> T:
    """The value of type ``kind`` that ``data`` describes; ``SnapshotError`` if it does not."""
    return typing.cast(T, _load(data, kind, "snapshot"))


def _load(data: Any, kind: Any, where: str) -> Any:
    if attrs.has(kind):
        return _load_attrs(data, kind, where)
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (Union, types.UnionType):
        if data is None and type(None) in args:
            return None
        options = [option for option in args if option is not type(None)]
        if len(options) == 1:
            return _load(data, options[0], where)
        for option in options:
            try:
                return _load(data, option, where)
            except SnapshotError:
                continue
        raise SnapshotError(f"{where}: {_show(data)} is none of {kind}")
    if origin is Literal:
        if not any(type(data) is type(arg) and data == arg for arg in args):
            raise SnapshotError(f"{where}: expected one of {list(args)}, got {_show(data)}")
        return data
    if origin is tuple:
        items = _expect(data, list, "a list", where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_load(item, args[0], f"{where}[{i}]") for i, item in enumerate(items))
        if len(items) != len(args):
            raise SnapshotError(f"{where}: expected {len(args)} items, got {len(items)}")
        return tuple(
            _load(item, item_kind, f"{where}[{i}]")
            for i, (item, item_kind) in enumerate(zip(items, args, strict=True))
        )
    if origin is frozenset:
        items = _expect(data, list, "a list", where)
        return frozenset(_load(item, args[0], f"{where}[{i}]") for i, item in enumerate(items))
    if origin in (Mapping, dict):
        key_kind, value_kind = args
        entries = _expect(data, dict, "an object", where)
        return {
            _key_from_json(key, key_kind, where): _load(item, value_kind, f"{where}[{key!r}]")
            for key, item in entries.items()
        }
    if kind is bool:
        return _expect(data, bool, "true or false", where)
    if kind is int:
        if type(data) is not int:
            raise SnapshotError(f"{where}: expected an integer, got {_show(data)}")
        return data
    if kind is float:
        if type(data) not in (int, float):
            raise SnapshotError(f"{where}: expected a number, got {_show(data)}")
        return float(data)
    if kind is str:
        return _expect(data, str, "a string", where)
    if kind is type(None):
        if data is not None:
            raise SnapshotError(f"{where}: expected null, got {_show(data)}")
        return None
    raise TypeError(f"snapshot converter does not know the type {kind!r} (at {where})")


def _load_attrs(data: Any, kind: type, where: str) -> Any:
    entries = _expect(data, dict, "an object", where)
    fields = {field.name: field for field in attrs.fields(kind)}
    unknown = sorted(set(entries) - set(fields))
    if unknown:
        raise SnapshotError(f"{where}: unknown field {unknown[0]!r} in {kind.__name__}")
    hints = _field_types(kind)
    arguments = {}
    for name, field in fields.items():
        if name in entries:
            arguments[name] = _load(entries[name], hints[name], f"{where}.{name}")
        elif field.default is attrs.NOTHING:
            raise SnapshotError(f"{where}: missing field {name!r} of {kind.__name__}")
    try:
        return kind(**arguments)
    except (TypeError, ValueError) as error:  # a validator refused the values
        raise SnapshotError(f"{where}: invalid {kind.__name__}: {error}") from None


@functools.cache
def _field_types(kind: type) -> dict[str, Any]:
    # Annotations are strings (``from __future__ import annotations``); resolve them once.
    return typing.get_type_hints(kind)


def _key_to_json(key: object, key_kind: Any) -> str:
    return str(key) if key_kind is int else typing.cast(str, key)


def _key_from_json(key: str, key_kind: Any, where: str) -> object:
    if key_kind is int:
        digits = key[1:] if key[:1] == "-" else key
        # isascii: "²" is a digit to str.isdigit but not to int(); 24 digits exceed any
        # 64-bit number and keep int() from its digit-count limit.
        if not (digits.isascii() and digits.isdigit() and len(digits) <= 24):
            raise SnapshotError(f"{where}: key {key!r} is not an integer")
        return int(key)
    return key


def _is_instance(value: object, kind: Any) -> bool:
    if attrs.has(kind):
        return isinstance(value, kind)
    origin = typing.get_origin(kind)
    if origin is Literal:
        return value in typing.get_args(kind)
    if origin is not None:
        return isinstance(value, origin if isinstance(origin, type) else object)
    return isinstance(value, kind)


def _expect(data: Any, kind: type[T], what: str, where: str) -> T:
    if not isinstance(data, kind):
        raise SnapshotError(f"{where}: expected {what}, got {_show(data)}")
    return data


def _show(data: object) -> str:
    text = repr(data)
    return text if len(text) <= 40 else text[:37] + "..."
