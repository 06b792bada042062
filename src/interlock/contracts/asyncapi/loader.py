"""Reading an AsyncAPI 2.x or 3.x document: every `$ref` followed (locally only), every problem named by file and JSON path."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit
from urllib.request import url2pathname

from jsonschema import Draft7Validator
from jsonschema.exceptions import SchemaError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from interlock.contracts.asyncapi.document import AsyncApiDocument, Channel, Loc, Message, validator_class
from interlock.documents import json_path, load_document
from interlock.errors import Problem, UsageError

_NOT_SCHEMA_DATA = {"examples", "example", "const", "enum", "default"}


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
