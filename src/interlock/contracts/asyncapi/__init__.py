"""AsyncAPI contracts: every channel of every service's AsyncAPI document, checked on the real broker.

Channels are identified by their id, the key under `channels` (in 2.x that
key is also the address; in 3.x addresses may repeat, as a request/reply pair
on `/` has them, or be null). For each channel interlock subscribes on the
environment's broker at the channel's address FIRST, triggers the producer as
`[contracts.asyncapi.channels."<channel id>"]` says (an address may key it
when no other channel of the document has that address), captures what it
publishes within the timeout (`brokers.capture_messages`) and validates
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

from interlock.contracts.asyncapi.capture_run import SETTLE_SECONDS, TriggerFailed, configured_trigger, interface_id, verify_channel
from interlock.contracts.asyncapi.compare import MAX_MISMATCHES, check_captured, message_mismatches
from interlock.contracts.asyncapi.document import (
    ASYNCAPI_FORMATS,
    FORMAT_CHECKER,
    JSON_SCHEMA_DRAFTS,
    JSON_SCHEMA_FORMATS,
    AsyncApiDocument,
    Channel,
    Loc,
    Message,
    json_pointer,
    validator_class,
)
from interlock.contracts.asyncapi.kind import KIND, AsyncApiKind, documents, settings, verify
from interlock.contracts.asyncapi.loader import load_asyncapi
from interlock.contracts.asyncapi.records import record

__all__ = [
    "ASYNCAPI_FORMATS", "FORMAT_CHECKER", "JSON_SCHEMA_DRAFTS", "JSON_SCHEMA_FORMATS", "KIND", "MAX_MISMATCHES", "SETTLE_SECONDS", "AsyncApiDocument",
    "AsyncApiKind", "Channel", "Loc", "Message", "TriggerFailed", "check_captured", "configured_trigger", "documents", "interface_id",
    "json_pointer", "load_asyncapi", "message_mismatches", "record", "settings", "validator_class", "verify", "verify_channel",
]
