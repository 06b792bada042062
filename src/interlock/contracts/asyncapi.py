"""AsyncAPI contracts: every channel of every service's AsyncAPI document, checked on the real broker.

Channels are identified by their id, the key under `channels` (in 2.x that
key is also the address; in 3.x addresses may repeat, as a request/reply pair
on `/` has them, or be null). For each channel interlock subscribes on the
environment's broker at the channel's address FIRST, triggers the producer as
`[contracts.asyncapi.channels."<channel id>"]` says (an address may key it
when no other channel of the document has that address), captures what it
publishes within the timeout (`actions.capture_messages`) and validates
payload and headers against the channel's message schemas with jsonschema,
`$ref`s resolved by referencing over the whole document and local files.

Verdicts, one item per channel, id `<service>:publish <channel id>` (the
scope matrix's interface id), its description naming the address beside the
id: `pass`; `fail` for a schema violation (each one a mismatch with its JSON
path, `$.payload...` or `$.headers...`) or for no message within the timeout;
`error` when the trigger or the broker failed, the channel has no address, or
the schema cannot be applied; `not_executed` when no trigger is configured.
On an address several channels share, a captured message that matches another
of them (and not this channel) is that channel's: left out, neither a pass nor
a mismatch. A payload or headers schema whose `schemaFormat` is not JSON
Schema (Avro, Protobuf, RAML...) is never read: it is listed in the item's
`not_validated` (message, section, format) and its `$ref`s are neither
followed nor refused. A malformed document is a UsageError naming the file
and the JSON path; a remote `$ref` interlock needs is refused there (interlock
never fetches); an AsyncAPI version other than 2.x/3.x is an "unsupported version".

Which messages a channel must carry: in 2.x the application's outgoing
messages are under `subscribe` (the `publish` operation's messages are used
when a channel has only that one); in 3.x the messages of the `send`
operations on the channel (all the channel's messages when an operation lists
none), else of its `receive` operations, else all the channel's messages. A
`receive` operation's `reply` is sent by the application: its reply channel
counts as sent on (a `send` operation's reply as received). Operations and
replies name their channel by `$ref` to `#/channels/<id>` and their messages
by `$ref` to that channel's messages (or to the Message Object one of them
refers to); anything else is refused with its JSON path. With several
candidate messages (`oneOf`, several operations) a captured message must match
one of them. Channels are verified one after another: two captures on the
same address at once would see each other's messages.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

from jsonschema import Draft4Validator, Draft6Validator, Draft7Validator, Draft201909Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.exceptions import Unresolvable
from referencing.jsonschema import DRAFT7

from interlock.config import key_lines
from interlock.contracts.actions import ActionFailed, Captured, NoMessage, capture_messages, perform
from interlock.documents import json_path, load_document
from interlock.errors import ConfigError, Problem, UsageError
from interlock.events import Notice, Progress
from interlock.probes import redact_url
from interlock.runtime import RunContext

Loc = tuple[str | int, ...]

SETTLE_SECONDS = 0.25
"""After the first message, how long more messages of the same burst are collected (all are validated)."""
MAX_MISMATCHES = 50
FORMAT_CHECKER = FormatChecker()
ASYNCAPI_FORMATS = ("application/vnd.aai.asyncapi", "application/vnd.aai.asyncapi+json", "application/vnd.aai.asyncapi+yaml")
JSON_SCHEMA_FORMATS = ("application/schema+json", "application/schema+yaml")
JSON_SCHEMA_DRAFTS: dict[str, type[Any]] = {
    "draft-04": Draft4Validator, "draft-06": Draft6Validator, "draft-07": Draft7Validator,
    "2019-09": Draft201909Validator, "2020-12": Draft202012Validator,
}
_NOT_SCHEMA_DATA = {"examples", "example", "const", "enum", "default"}


class TriggerFailed(ActionFailed):
    """The configured trigger did not succeed (the broker was fine)."""


# --- paths ---------------------------------------------------------------------


def json_pointer(parts: Loc) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _pointer_parts(fragment: str) -> Loc | None:
    if fragment == "":
        return ()
    if not fragment.startswith("/"):
        return None  # a plain-name anchor: not a location in the document
    return tuple(unquote(p).replace("~1", "/").replace("~0", "~") for p in fragment[1:].split("/"))


def _walk(data: Any, parts: Loc) -> tuple[bool, Loc, Any]:
    """Follow `parts` into `data`; list indices become ints. (found, normalised parts, node)."""
    node = data
    done: list[str | int] = []
    for part in parts:
        if isinstance(node, dict) and str(part) in node:
            node = node[str(part)]
            done.append(str(part))
        elif isinstance(node, list) and str(part).isdigit() and int(part) < len(node):
            node = node[int(part)]
            done.append(int(part))
        else:
            return False, tuple(done), None
    return True, tuple(done), node


# --- the document --------------------------------------------------------------


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


class _Loader:
    """Reads one AsyncAPI document (and local files it refers to); every problem names file and JSON path."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        self.base = path.resolve().as_uri()
        self.files: dict[str, Any] = {self.base: data}

    def malformed(self, uri: str, parts: Loc, message: str) -> UsageError:
        return UsageError(Problem(self.file_of(uri), f"malformed AsyncAPI document: {message}", key=json_path(parts)))

    def file_of(self, uri: str) -> str:
        return str(self.path) if uri == self.base else url2pathname(urlsplit(uri).path)

    def load(self, uri: str, where: tuple[str, Loc]) -> Any:
        if uri not in self.files:
            if urlsplit(uri).scheme != "file":
                raise self.malformed(*where, f"$ref to {uri} is remote and interlock needs what it points to; interlock never fetches: "
                                             "save the document next to this one and refer to the local copy")
            try:
                self.files[uri] = load_document(Path(url2pathname(urlsplit(uri).path)))
            except UsageError as exc:  # the referring document is the one to fix: name it, and the $ref
                raise self.malformed(*where, f"$ref to {exc.problems[0]}") from None
        return self.files[uri]

    def follow(self, uri: str, parts: Loc, node: Any) -> tuple[str, Loc, Any]:
        """Follow `$ref`s (within the document or to local files) to the object they name."""
        seen: set[str] = set()
        while isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str):
                raise self.malformed(uri, (*parts, "$ref"), "$ref must be a string")
            target = urljoin(uri, ref)
            if target in seen:
                raise self.malformed(uri, (*parts, "$ref"), f"$ref {ref!r} is circular; point it at the object itself, not at another $ref back to it")
            seen.add(target)
            doc_uri, fragment = urldefrag(target)
            wanted = _pointer_parts(fragment)
            data = self.load(doc_uri, (uri, (*parts, "$ref")))
            found, normal, target_node = _walk(data, wanted) if wanted is not None else (False, (), None)
            if not found:
                raise self.malformed(uri, (*parts, "$ref"), f"$ref {ref!r} does not resolve to anything; fix it to point at an existing object (like #/components/messages/Name)")
            uri, parts, node = doc_uri, normal, target_node
        return uri, parts, node

    def check_refs(self, node: Any, parts: Loc = ()) -> None:
        """Every `$ref` interlock may need resolves (schemas included), so a typo is an input error, not a run-time one.

        A schema of a format interlock does not validate (`schemaFormat` Avro, Protobuf, RAML...) is never read,
        so its references are neither followed nor refused."""
        if isinstance(node, dict):
            if "$ref" in node:
                self.follow(self.base, parts, {"$ref": node["$ref"]})
            if "$id" in node:
                return  # refs below resolve against another base: left to the validator
            fmt = node.get("schemaFormat")
            foreign = {"schema", "payload"} if isinstance(fmt, str) and validator_class(fmt) is None else set()
            for key, value in node.items():
                if key not in _NOT_SCHEMA_DATA and not str(key).startswith("x-") and key != "$ref" and key not in foreign:
                    self.check_refs(value, (*parts, key))
        elif isinstance(node, list):
            for index, value in enumerate(node):
                self.check_refs(value, (*parts, index))

    def check_schema(self, cls: type[Any], uri: str, parts: Loc, node: Any, what: str) -> None:
        """A schema is a schema of its draft (checked where it is written, `$ref`s followed)."""
        if not isinstance(node, (dict, bool)):
            raise self.malformed(uri, parts, f"the {what} must be an object")
        try:
            cls.check_schema(node)
        except SchemaError as exc:
            raise self.malformed(uri, (*parts, *exc.path), f"invalid {what}: {exc.message}; fix it to a valid {cls.__name__.removesuffix('Validator')} schema") from None

    def check_component_schemas(self, data: dict[str, Any], major: int) -> None:
        schemas = (data.get("components") or {}).get("schemas") if isinstance(data.get("components"), dict) else None
        for name, node in self.mapping(self.base, ("components", "schemas"), schemas or {}, "components.schemas").items():
            parts: Loc = ("components", "schemas", name)
            if major >= 3 and isinstance(node, dict) and "schemaFormat" in node and "schema" in node:
                cls = validator_class(node["schemaFormat"])
                if cls is not None:
                    self.check_schema(cls, *self.follow(self.base, (*parts, "schema"), node["schema"]), f"schema {name}")
            else:
                self.check_schema(Draft7Validator, *self.follow(self.base, parts, node), f"schema {name}")

    def mapping(self, uri: str, parts: Loc, node: Any, what: str) -> dict[str, Any]:
        if not isinstance(node, dict):
            raise self.malformed(uri, parts, f"{what} must be an object, not {type(node).__name__}")
        return node

    # -- messages --

    def message_candidates(self, uri: str, parts: Loc, node: Any, default_type: str, major: int) -> list[Message]:
        uri, parts, node = self.follow(uri, parts, node)
        self.mapping(uri, parts, node, "a message")
        if "oneOf" in node:
            options = node["oneOf"]
            if not isinstance(options, list) or not options:
                raise self.malformed(uri, (*parts, "oneOf"), "oneOf must be a non-empty list of messages")
            return [m for i, sub in enumerate(options) for m in self.message_candidates(uri, (*parts, "oneOf", i), sub, default_type, major)]
        return [self.message(uri, parts, node, default_type, major)]

    def message(self, uri: str, parts: Loc, node: dict[str, Any], default_type: str, major: int) -> Message:
        fields: dict[str, tuple[str, Loc, Any]] = {}
        traits = node.get("traits", [])
        if not isinstance(traits, list):
            raise self.malformed(uri, (*parts, "traits"), "traits must be a list")
        for index, trait in enumerate(traits):
            t_uri, t_parts, t_node = self.follow(uri, (*parts, "traits", index), trait)
            for key, entry in self.mapping(t_uri, t_parts, t_node, "a message trait").items():
                fields[key] = (t_uri, (*t_parts, key), entry)
        for key, entry in node.items():
            if key != "traits":
                fields[key] = (uri, (*parts, key), entry)  # the message prevails over its traits

        def value(key: str) -> Any:
            return fields[key][2] if key in fields else None

        key_name = parts[-1] if len(parts) >= 2 and parts[-2] == "messages" and isinstance(parts[-1], str) else None
        name = value("name") or value("messageId") or key_name or value("title") or json_path(parts)
        content_type = value("contentType") or default_type
        if not isinstance(content_type, str):
            raise self.malformed(*fields["contentType"][:2], "contentType must be a string")
        found: dict[str, tuple[tuple[str, Loc] | None, str | None]] = {}
        for section in ("payload", "headers"):
            if section not in fields:
                found[section] = (None, None)
                continue
            s_uri, s_parts, s_node = fields[section]
            fmt = None
            if major == 2 and section == "payload":
                fmt = value("schemaFormat")
            if major >= 3:
                f_uri, f_parts, f_node = self.follow(s_uri, s_parts, s_node)
                if isinstance(f_node, dict) and "schemaFormat" in f_node and "schema" in f_node:
                    s_uri, s_parts, s_node, fmt = f_uri, (*f_parts, "schema"), f_node["schema"], f_node["schemaFormat"]
            if fmt is not None and not isinstance(fmt, str):
                raise self.malformed(s_uri, s_parts, "schemaFormat must be a string")
            cls = validator_class(fmt)
            if cls is not None:
                self.check_schema(cls, *self.follow(s_uri, s_parts, s_node), f"{section} schema")
            found[section] = ((s_uri, s_parts), fmt)
        return Message(str(name), uri, parts, content_type, found["payload"][0], found["payload"][1], found["headers"][0], found["headers"][1])

    # -- channels --

    def channels_v2(self, data: dict[str, Any], default_type: str) -> list[Channel]:
        if "channels" not in data:
            raise self.malformed(self.base, ("channels",), "AsyncAPI 2.x requires `channels`")
        channels = self.mapping(self.base, ("channels",), data["channels"], "channels")
        out = []
        for key, item in channels.items():
            uri, parts, node = self.follow(self.base, ("channels", key), item)
            self.mapping(uri, parts, node, "a channel")
            operation = "subscribe" if "subscribe" in node else "publish" if "publish" in node else "-"
            messages: list[Message] = []
            if operation != "-":
                o_uri, o_parts, o_node = self.follow(uri, (*parts, operation), node[operation])
                self.mapping(o_uri, o_parts, o_node, f"the {operation} operation")
                if "message" in o_node:
                    messages = self.message_candidates(o_uri, (*o_parts, "message"), o_node["message"], default_type, 2)
            out.append(Channel(str(key), str(key), operation, tuple(messages)))
        return out

    def channel_id(self, uri: str, parts: Loc, node: Any, channels: dict[str, Any], what: str) -> str:
        """The id of the channel a 3.x operation or reply names: its `channel` must be a $ref to #/channels/<id>."""
        ref = node.get("$ref") if isinstance(node, dict) else None
        target = _pointer_parts(urldefrag(urljoin(uri, ref))[1]) if isinstance(ref, str) else None
        if ref is None or urldefrag(urljoin(uri, ref))[0] != self.base or target is None or len(target) != 2 or target[0] != "channels" or target[1] not in channels:
            raise self.malformed(uri, parts, f"{what} must be a $ref to one of #/channels/<id> ({', '.join(map(str, channels)) or 'none declared'})")
        return str(target[1])

    def listed_messages(self, uri: str, parts: Loc, listed: Any, channel: str, own: dict[str, Any], targets: set[tuple[str, Loc]],
                        default_type: str, what: str) -> list[Message]:
        """The messages an operation or reply lists: each a $ref to a message of its channel (#/channels/<id>/messages/<name>),
        or to the same Message Object one of the channel's messages refers to."""
        if not isinstance(listed, list):
            raise self.malformed(uri, (*parts, "messages"), "messages must be a list of $refs")
        found: list[Message] = []
        for index, ref in enumerate(listed):
            at = (*parts, "messages", index)
            if not isinstance(ref, dict) or not isinstance(ref.get("$ref"), str):
                raise self.malformed(uri, at, "each of messages must be a $ref to a message of the channel")
            pointer = _pointer_parts(urldefrag(urljoin(uri, ref["$ref"]))[1]) or ()
            in_channels = urldefrag(urljoin(uri, ref["$ref"]))[0] == self.base and len(pointer) == 4 and pointer[0] == "channels" and pointer[2] == "messages"
            if (in_channels and pointer[1] != channel) or (not in_channels and self.follow(uri, at, ref)[:2] not in targets):
                raise self.malformed(uri, (*at, "$ref"), f"{what} lists {ref['$ref']!r}, which is not a message of its channel {channel!r}; "
                                                         f"refer to one of #/channels/{channel}/messages/<name> ({', '.join(map(str, own)) or 'none declared'})")
            found += self.message_candidates(uri, at, ref, default_type, 3)
        return found

    def channels_v3(self, data: dict[str, Any], default_type: str) -> list[Channel]:
        """Channels by id; each operation (and each reply) names its channel and messages through ids, as AsyncAPI 3 says.

        A `receive` operation's reply is sent by the application: the reply channel gets a `send` use; a `send`
        operation's reply is received by it."""
        channels = self.mapping(self.base, ("channels",), data.get("channels", {}), "channels")
        operations = self.mapping(self.base, ("operations",), data.get("operations", {}), "operations")
        resolved: dict[str, tuple[str, Loc, dict[str, Any]]] = {}
        for key, item in channels.items():
            uri, parts, node = self.follow(self.base, ("channels", key), item)
            resolved[str(key)] = (uri, parts, self.mapping(uri, parts, node, "a channel"))
        own = {key: self.mapping(uri, (*parts, "messages"), node.get("messages", {}), "messages") for key, (uri, parts, node) in resolved.items()}
        targets = {key: {self.follow(uri, (*parts, "messages", m_key), m)[:2] for m_key, m in own[key].items()} for key, (uri, parts, _) in resolved.items()}
        uses: dict[str, dict[str, list[Message | None]]] = {}  # channel id -> action -> messages (None: all of the channel's)
        for op_id, op in operations.items():
            uri, parts, node = self.follow(self.base, ("operations", op_id), op)
            self.mapping(uri, parts, node, "an operation")
            action = node.get("action")
            if action not in ("send", "receive"):
                raise self.malformed(uri, (*parts, "action"), f"action must be `send` or `receive`, not {action!r}")
            channel = self.channel_id(uri, (*parts, "channel"), node.get("channel"), channels, "channel")
            listed = self.listed_messages(uri, parts, node["messages"], channel, own[channel], targets[channel], default_type, f"operation {op_id!r}") if "messages" in node else [None]
            uses.setdefault(channel, {}).setdefault(action, []).extend(listed)
            if "reply" not in node:
                continue
            r_uri, r_parts, reply = self.follow(uri, (*parts, "reply"), node["reply"])
            self.mapping(r_uri, r_parts, reply, "a reply")
            if "channel" not in reply:
                continue  # a reply to a runtime address (`address.location`): no channel to verify
            reply_channel = self.channel_id(r_uri, (*r_parts, "channel"), reply["channel"], channels, "the reply's channel")
            replied = (self.listed_messages(r_uri, r_parts, reply["messages"], reply_channel, own[reply_channel], targets[reply_channel], default_type, f"the reply of operation {op_id!r}")
                       if "messages" in reply else [None])
            uses.setdefault(reply_channel, {}).setdefault("receive" if action == "send" else "send", []).extend(replied)
        out = []
        for key, (uri, parts, node) in resolved.items():
            address = node.get("address")
            if address is not None and not isinstance(address, str):
                raise self.malformed(uri, (*parts, "address"), "address must be a string or null")
            all_messages = [m for m_key, m in own[key].items() for m in self.message_candidates(uri, (*parts, "messages", m_key), m, default_type, 3)]
            ops = uses.get(key, {})
            operation = "send" if "send" in ops else "receive" if "receive" in ops else "-"
            messages: list[Message] = []
            for message in ops.get(operation, [None]):
                messages += all_messages if message is None else [message]
            unique = {(m.uri, m.parts): m for m in messages}
            out.append(Channel(key, address, operation, tuple(unique.values())))
        return out


def load_asyncapi(path: Path) -> AsyncApiDocument:
    """Parse and check an AsyncAPI 2.x or 3.x document; UsageError (file, JSON path) when malformed."""
    data = load_document(path)
    loader = _Loader(path, data)
    if not isinstance(data, dict):
        raise loader.malformed(loader.base, (), "the document must be an object")
    version = data.get("asyncapi")
    if not isinstance(version, str) or not re.match(r"^\d+\.\d+", version):
        what = "the `asyncapi` version key is missing" if version is None else f"`asyncapi` must be a version string like 3.0.0, not {version!r}"
        raise loader.malformed(loader.base, ("asyncapi",), f"{what}; interlock reads AsyncAPI 2.x and 3.x documents")
    if not re.match(r"^[23]\.", version):
        raise UsageError(Problem(str(path), f"unsupported version: asyncapi {version!r}; interlock reads AsyncAPI 2.x and 3.x documents: convert it to 3.0", key="$.asyncapi"))
    default_type = data.get("defaultContentType") or "application/json"
    if not isinstance(default_type, str):
        raise loader.malformed(loader.base, ("defaultContentType",), "defaultContentType must be a string")
    loader.check_refs(data)
    major = int(version[0])
    loader.check_component_schemas(data, major)
    channels = loader.channels_v2(data, default_type) if major == 2 else loader.channels_v3(data, default_type)

    def retrieve(uri: str) -> Resource[Any]:
        return DRAFT7.create_resource(loader.load(uri, (loader.base, ())))

    registry: Registry = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    registry = registry.with_resources((uri, DRAFT7.create_resource(content)) for uri, content in loader.files.items())
    return AsyncApiDocument(path, version, tuple(channels), registry)


# --- validating a captured message ---------------------------------------------


def _small(value: Any) -> Any:
    """A JSON-safe value for the results artifact, long ones shortened."""
    text = json.dumps(value, default=str)
    if len(text) <= 300:
        return json.loads(text)
    return text[:297] + "..."


def _violations(document: AsyncApiDocument, where: tuple[str, Loc], fmt: str | None, instance: Any, section: str, kind: str) -> list[dict[str, Any]]:
    out = []
    errors = sorted(document.validator(where, fmt).iter_errors(instance), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    for error in errors:
        path = "$." + section + error.json_path[1:]
        expected, actual = _small({error.validator: error.validator_value}), _small(error.instance)
        if error.validator == "required" and isinstance(error.validator_value, list):
            missing = next((p for p in error.validator_value if error.message == f"{p!r} is a required property"), None)
            if missing is not None:  # point at the absent property itself
                path, expected, actual = path + json_path((str(missing),))[1:], {"required": missing}, None
        out.append({"type": kind, "path": path, "expected": expected, "actual": actual, "message": error.message})
    return out


def _decode(body: bytes, content_type: str) -> tuple[Any, str | None]:
    """The payload as data: JSON for JSON content types (and by default), text for text/*."""
    base = content_type.split(";")[0].strip().lower()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"payload is not UTF-8 text ({content_type}): {exc}"
    if base.startswith("text/"):
        return text, None
    try:
        return json.loads(text), None
    except ValueError as exc:
        return None, f"payload is not valid JSON ({content_type}): {exc}"


def message_mismatches(document: AsyncApiDocument, message: Message, captured: Captured) -> list[dict[str, Any]]:
    """Every way `captured` breaks `message`'s payload and headers schemas (empty: it conforms)."""
    found: list[dict[str, Any]] = []
    if message.payload is not None and validator_class(message.payload_format) is not None:
        value, problem = _decode(captured.body, message.content_type)
        if problem:
            found.append({"type": "PayloadMismatch", "path": "$.payload", "expected": message.content_type, "actual": _small(captured.body.decode("utf-8", "replace")), "message": problem})
        else:
            found += _violations(document, message.payload, message.payload_format, value, "payload", "PayloadMismatch")
    if message.headers is not None and validator_class(message.headers_format) is not None:
        found += _violations(document, message.headers, message.headers_format, captured.headers, "headers", "HeaderMismatch")
    return found[:MAX_MISMATCHES]


def check_captured(document: AsyncApiDocument, channel: Channel, captured: Captured) -> list[dict[str, Any]]:
    """The mismatches of one captured message against the channel's messages: none when it matches one of them."""
    if not channel.messages:
        return []
    results = [(m, message_mismatches(document, m, captured)) for m in channel.messages]
    for _, found in results:
        if not found:
            return []
    closest, found = min(results, key=lambda r: len(r[1]))
    if len(results) == 1:
        return found
    prefix = f"matches none of the channel's {len(results)} messages; closest is {closest.name}: "
    return [{**m, "message": prefix + m["message"]} for m in found]


# --- running it ----------------------------------------------------------------



def documents(ctx: RunContext) -> list[tuple[str, str, AsyncApiDocument]]:
    """(service, document path as configured, parsed document) for each service with an `asyncapi`."""
    found = []
    for name, service in ctx.config.services.items():
        if service.asyncapi:
            found.append((name, service.asyncapi, load_asyncapi(ctx.loaded.resolve(service.asyncapi))))
    return found


def _check_config(ctx: RunContext, docs: list[tuple[str, str, AsyncApiDocument]]) -> None:
    """Every configured channel is a channel id of a document (or the address of exactly one channel) and names a broker of this environment."""
    asyncapi = ctx.config.contracts.asyncapi
    try:
        lines = key_lines(ctx.loaded.path.read_text("utf-8"))
    except OSError:
        lines = {}
    problems = []
    for name, source in asyncapi.channels.items():
        loc = ("contracts", "asyncapi", "channels", name)
        ids = [c for _, _, d in docs for c in d.channels if c.id == name]
        shared = [(d, c) for _, _, d in docs for c in d.channels if c.address == name and name in d.shared_addresses]
        if not ids and shared:
            which = ", ".join(sorted(c.id for _, c in shared))
            problems.append(Problem(str(ctx.loaded.path), f"address {name!r} is shared by channels {which}; name the channel by its id, e.g. "
                                                          f"[contracts.asyncapi.channels.{shared[0][1].id}]", lines.get(loc), ".".join(loc)))
        elif not ids and not any(c.address == name for _, _, d in docs for c in d.channels):
            known = ", ".join(sorted(c.label for _, _, d in docs for c in d.channels)) or "none"
            problems.append(Problem(str(ctx.loaded.path), f"no AsyncAPI document of [services] declares channel {name!r}; declared: {known}", lines.get(loc), ".".join(loc)))
        if source.broker not in ctx.env.brokers:
            at = (*loc, "broker")
            problems.append(Problem(str(ctx.loaded.path), f"broker {source.broker!r} is not defined in environment {ctx.env_name!r}", lines.get(at, lines.get(loc)), ".".join(at)))
    if problems:
        raise ConfigError(problems)


def _source(ctx: RunContext, document: AsyncApiDocument, channel: Channel) -> Any:
    """The configured trigger of a channel: keyed by its id, or by its address when no other channel of the document has it."""
    channels = ctx.config.contracts.asyncapi.channels
    if channel.id in channels:
        return channels[channel.id]
    if channel.address is not None and channel.address not in document.shared_addresses:
        return channels.get(channel.address)
    return None


def _trigger_text(ctx: RunContext, action: Any) -> str:
    if action.http is not None:
        return f"HTTP {action.http.method} {redact_url(ctx.expand(action.http.url))}"
    if action.command is not None:
        return "command " + " ".join(ctx.expand(a) for a in action.command)
    return f"SQL on store {action.store}"


def interface_id(service: str, channel: Channel) -> str:
    """The scope matrix's id of a channel: `<service>:publish <channel id>`."""
    return f"{service}:publish {channel.id}"


def verify_channel(ctx: RunContext, service: str, document: AsyncApiDocument, channel: Channel) -> dict[str, Any]:
    """Subscribe on the channel's address, trigger, capture, validate: the verdict of one channel.

    On an address other channels share, a captured message that matches one of theirs (and none of this
    channel's) is theirs: it is left out, neither a pass nor a mismatch."""
    names = ("message " + " | ".join(m.name for m in channel.messages)) if channel.messages else "no message schema"
    operation = f"{channel.operation} operation" if channel.operation != "-" else "no operation"
    not_validated = [part for m in channel.messages for part in m.not_validated()]
    unchecked = "; not validated: " + ", ".join(f"{p['message']} {p['section']} ({p['schema_format']})" for p in not_validated) if not_validated else ""
    item: dict[str, Any] = {
        "id": interface_id(service, channel), "description": f"{service} publishes on {channel.label}: {names} ({operation}){unchecked}",
        "provider_states": [], "status": "pass", "duration_ms": 0.0, "mismatches": [],
    }
    if not_validated:
        item["not_validated"] = not_validated

    def verdict(status: str, kind: str, message: str, path: str | None = None) -> dict[str, Any]:
        item.update(status=status, mismatches=[{"type": kind, "path": path, "message": message}])
        return item

    source = _source(ctx, document, channel)
    if source is None:
        return verdict("not_executed", "Unexercised", "no trigger configured: unexercised")
    if channel.address is None:
        return verdict("error", "NoAddress", f"channel {channel.id} has no address (null: unknown until run time), so interlock cannot subscribe to it; give the channel its address")
    broker = ctx.expand_all(ctx.env.brokers[source.broker].model_dump())
    action = ctx.expand_all(source.trigger.model_dump(by_alias=True, exclude_none=True))
    stores = ctx.stores()
    env, cwd = ctx.base_env(), str(ctx.loaded.root)
    siblings = document.on_address(channel)

    def trigger() -> None:
        try:
            perform(action, stores, env=env, cwd=cwd)
        except ActionFailed as exc:
            raise TriggerFailed(str(exc)) from None

    start = time.perf_counter()
    try:
        captured = capture_messages(broker, channel.address, trigger, source.timeout, settle=SETTLE_SECONDS)
        found, mine = [], 0
        for index, message in enumerate(captured, 1):
            mismatches = check_captured(document, channel, message)
            if not mismatches:
                mine += 1
                continue
            if any(s.messages and not check_captured(document, s, message) for s in siblings):
                continue  # a message of another channel on this address
            for mismatch in mismatches:
                if len(captured) > 1:
                    mismatch = {**mismatch, "message": f"message {index} of {len(captured)}: {mismatch['message']}"}
                found.append(mismatch)
        item.update(status="fail" if found else "pass", mismatches=found[:MAX_MISMATCHES])
        if not found and not mine:
            others = ", ".join(s.id for s in siblings)
            verdict("fail", "NoMessage", f"only messages of {others} on address {channel.address} within {source.timeout:g}s, none of {channel.id}")
    except NoMessage:
        verdict("fail", "NoMessage", f"no message on {channel.label} within {source.timeout:g}s")
    except TriggerFailed as exc:
        verdict("error", "TriggerFailed", f"trigger failed: {exc}")
    except ActionFailed as exc:
        verdict("error", "BrokerError", f"broker {source.broker!r} ({broker['kind']}): {exc}")
    except Unresolvable as exc:
        verdict("error", "SchemaError", f"a $ref of the schema cannot be resolved: {exc}")
    except Exception as exc:  # noqa: BLE001 - one channel's surprise must not hide the others' verdicts
        verdict("error", "InternalError", f"{type(exc).__name__}: {exc}")
    item["duration_ms"] = round((time.perf_counter() - start) * 1000, 3)
    return item


def _record(service: str, source: str, document: AsyncApiDocument, items: list[dict[str, Any]]) -> dict[str, Any]:
    statuses = {i["status"] for i in items}
    overall = "not_executed" if not items or statuses == {"not_executed"} else "pass" if statuses == {"pass"} else "fail"
    return {
        "id": f"asyncapi:{source}->{service}", "kind": "asyncapi", "consumer": f"asyncapi:{source}", "provider": service,
        "source": source, "specification": f"AsyncAPI {document.version}", "status": overall,
        "duration_ms": round(sum(i["duration_ms"] for i in items), 3),
        "reason": None if items else "the AsyncAPI document declares no channels: nothing was verified", "interactions": items,
    }


def settings(ctx: RunContext) -> dict[str, Any] | None:
    """What contract-validation-config.json records of the AsyncAPI checks."""
    asyncapi = ctx.config.contracts.asyncapi
    if asyncapi is None:
        return None
    docs = documents(ctx)
    _check_config(ctx, docs)
    channels = {}
    for name, source in asyncapi.channels.items():
        broker = ctx.env.brokers[source.broker]
        channels[name] = {
            "broker": source.broker, "broker_kind": broker.kind, "broker_url": redact_url(ctx.expand(broker.url)),
            "exchange": broker.exchange, "timeout": source.timeout, "trigger": _trigger_text(ctx, source.trigger),
        }
    return {
        "validator": "jsonschema (AsyncAPI Schema Object as JSON Schema draft-07; JSON Schema schemaFormats by their draft) with referencing for $refs",
        "format_checks": sorted(FORMAT_CHECKER.checkers),
        "capture": "subscribe on the broker first, then trigger the producer, then capture within the channel's timeout",
        "settle_seconds": SETTLE_SECONDS,
        "documents": [
            {"service": service, "path": source, "asyncapi": doc.version, "channels": [c.id for c in doc.channels],
             "addresses": {c.id: c.address for c in doc.channels},
             "not_validated": [{"channel": c.id, **part} for c in doc.channels for m in c.messages for part in m.not_validated()]}
            for service, source, doc in docs
        ],
        "channels": channels,
        "unexercised": sorted(interface_id(service, c) for service, _, doc in docs for c in doc.channels if _source(ctx, doc, c) is None),
    }


def verify(ctx: RunContext) -> list[dict[str, Any]]:
    """One record per AsyncAPI document; channels one after another (captures on one topic must not overlap)."""
    if ctx.config.contracts.asyncapi is None:
        return []
    docs = documents(ctx)
    _check_config(ctx, docs)
    if not docs:
        return [{
            "id": "asyncapi:*", "kind": "asyncapi", "consumer": "asyncapi:-", "provider": "-", "source": "interlock.toml [contracts.asyncapi]",
            "specification": None, "status": "not_executed", "duration_ms": 0.0,
            "reason": "[contracts.asyncapi] is configured but no service declares an `asyncapi` document", "interactions": [],
        }]
    total = sum(len(d.channels) for _, _, d in docs)
    done = 0
    ctx.emit(Progress("2.2", 0, total, "asyncapi channels verified"))
    records = []
    for service, source, document in docs:
        items = []
        for channel in document.channels:
            ctx.emit(Notice("2.2", f"asyncapi {service}: capturing channel {channel.label}"))
            for part in (p for m in channel.messages for p in m.not_validated()):
                ctx.emit(Notice("2.2", f"asyncapi {service}: {channel.id} message {part['message']} {part['section']} is {part['schema_format']}: recorded as not validated"))
            items.append(verify_channel(ctx, service, document, channel))
            done += 1
            ctx.emit(Progress("2.2", done, total, "asyncapi channels verified"))
        records.append(_record(service, source, document, items))
    return records
