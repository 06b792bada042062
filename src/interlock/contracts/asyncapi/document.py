"""An AsyncAPI document as interlock uses it: its channels by id, the messages each carries, and validators for their schemas."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator, FormatChecker
from referencing import Registry

Loc = tuple[str | int, ...]


FORMAT_CHECKER = FormatChecker()
ASYNCAPI_FORMATS = ("application/vnd.aai.asyncapi", "application/vnd.aai.asyncapi+json", "application/vnd.aai.asyncapi+yaml")
JSON_SCHEMA_FORMATS = ("application/schema+json", "application/schema+yaml")
JSON_SCHEMA_DRAFTS: dict[str, type[Any]] = {
    "draft-04": Draft4Validator, "draft-06": Draft6Validator, "draft-07": Draft7Validator,
    "2019-09": Draft201909Validator, "2020-12": Draft202012Validator,
}


def json_pointer(parts: Loc) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class Message:
    """One message a channel may carry: where its payload and headers schemas are, and their formats."""

    name: str
    uri: str
    parts: Loc
    content_type: str
    payload: tuple[str, Loc] | None = None
    payload_format: str | None = None
    headers: tuple[str, Loc] | None = None
    headers_format: str | None = None

    def not_validated(self) -> list[dict[str, str]]:
        """The parts of this message whose schemaFormat is not JSON Schema (Avro, Protobuf, RAML...): recorded, never validated."""
        return [{"message": self.name, "section": section, "schema_format": str(fmt)}
                for section, fmt, where in (("payload", self.payload_format, self.payload), ("headers", self.headers_format, self.headers))
                if where is not None and validator_class(fmt) is None]


@dataclass(frozen=True)
class Channel:
    """A channel by its id (the key under `channels`); in 2.x the id is the address, in 3.x addresses may repeat or be unknown (None)."""

    id: str
    address: str | None
    operation: str
    messages: tuple[Message, ...]

    @property
    def label(self) -> str:
        """How results, scope and console name it: the id, and the address beside it where they differ."""
        if self.address == self.id:
            return self.id
        return f"{self.id} (address {self.address})" if self.address is not None else f"{self.id} (no address)"


@dataclass
class AsyncApiDocument:
    """A parsed AsyncAPI document: its channels and a registry to resolve its `$ref`s."""

    path: Path
    version: str
    channels: tuple[Channel, ...]
    registry: Registry

    @property
    def shared_addresses(self) -> set[str]:
        """Addresses that more than one channel of the document uses (a request/reply pair on `/`, say)."""
        addresses = [c.address for c in self.channels if c.address is not None]
        return {a for a in addresses if addresses.count(a) > 1}

    def on_address(self, channel: Channel) -> tuple[Channel, ...]:
        """The other channels on the same address: a message captured there may be theirs."""
        return tuple(c for c in self.channels if c is not channel and c.address is not None and c.address == channel.address)
    _validators: dict[tuple[str, Loc, str | None], Any] = field(default_factory=dict, repr=False)

    def validator(self, where: tuple[str, Loc], fmt: str | None) -> Any:
        key = (where[0], where[1], fmt)
        if key not in self._validators:
            cls = validator_class(fmt)
            assert cls is not None, f"no validator for schemaFormat {fmt!r}: callers check validator_class first"
            self._validators[key] = cls({"$ref": f"{where[0]}#{json_pointer(where[1])}"}, registry=self.registry, format_checker=FORMAT_CHECKER)
        return self._validators[key]


def validator_class(fmt: str | None) -> type[Any] | None:
    """The jsonschema validator for a schemaFormat (None: the AsyncAPI Schema Object, JSON Schema draft-07 based)."""
    if fmt is None:
        return Draft7Validator
    base, _, rest = str(fmt).partition(";")
    params = dict(p.strip().split("=", 1) for p in rest.split(";") if "=" in p)
    base = base.strip().lower()
    if base in ASYNCAPI_FORMATS:
        return Draft7Validator
    if base in JSON_SCHEMA_FORMATS:
        return JSON_SCHEMA_DRAFTS.get(params.get("version", "draft-07").strip())
    return None
