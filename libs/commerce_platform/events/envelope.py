"""The versioned event envelope on the wire: built from a catalog struct, encoded, decoded strictly."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

import msgspec

from commerce_platform.events.catalog import EVENT_TYPES, MESSAGE_ATTRIBUTE_FIELDS, EventData, event_type_of


class MalformedEvent(ValueError):
    """A message that is not a well-formed event of a known type and version: it goes to the
    dead-letter queue instead of being retried, because retrying cannot make it valid."""


class UnknownEventType(KeyError):
    """A publisher tried to record a payload struct that the catalog does not register."""


class Envelope(msgspec.Struct, kw_only=True, frozen=True):
    """What travels as the SNS/SQS message body. `data` stays a plain mapping here; `decode_event`
    converts it into the catalog struct that `type` and `version` name."""

    id: UUID
    type: str
    version: int
    # A timestamp without a zone is ambiguous across services, so the wire format requires one.
    occurred_at: Annotated[datetime, msgspec.Meta(tz=True)]
    source: str
    data: dict[str, Any]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Envelope)


def new_envelope(
    data: EventData, *, source: str, event_id: UUID | None = None, occurred_at: datetime | None = None
) -> Envelope:
    """Wrap a catalog struct; its type name and schema version come from `EVENT_TYPES`."""
    type_name = event_type_of(data)
    registered = EVENT_TYPES.get(type_name)
    if registered is None or type(data) is not registered[1]:
        raise UnknownEventType(f"{type_name} is not registered in commerce_platform.events.catalog.EVENT_TYPES")
    return Envelope(
        id=event_id or uuid4(),
        type=type_name,
        version=registered[2],
        occurred_at=occurred_at or datetime.now(UTC),
        source=source,
        data=msgspec.to_builtins(data),
    )


def encode_envelope(envelope: Envelope) -> bytes:
    return _encoder.encode(envelope)


def topic_of(event_type: str) -> str:
    """The SNS topic an event type is published to."""
    registered = EVENT_TYPES.get(event_type)
    if registered is None:
        raise UnknownEventType(event_type)
    return registered[0]


def filter_attributes(event_type: str, payload: bytes) -> dict[str, str]:
    """The payload fields `MESSAGE_ATTRIBUTE_FIELDS` names for `event_type`, as message attribute
    strings (booleans as "true"/"false"); empty for types without any. Read from the decoded struct,
    so a field an older publisher left out gets the struct's default, as consumers would see it."""
    fields = MESSAGE_ATTRIBUTE_FIELDS.get(event_type)
    if not fields:
        return {}
    _envelope, data = decode_event(payload)
    attributes: dict[str, str] = {}
    for name in fields:
        value = getattr(data, name)
        attributes[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return attributes


def decode_event(body: bytes | str) -> tuple[Envelope, EventData]:
    """Parse a message body into its envelope and typed payload, or raise `MalformedEvent`.

    Rejected: invalid JSON, a missing or mistyped envelope field, an unknown event type, a version
    this code was not written for, and a payload that does not match the type's struct. Unknown
    extra fields are ignored so a publisher can add fields before every consumer knows them.
    """
    envelope = decode_envelope(body)
    return envelope, decode_data(envelope)


def decode_envelope(body: bytes | str) -> Envelope:
    """The envelope alone, whatever its type and version, or `MalformedEvent`: a consumer learns
    the type before it decides whether the event is any of its business (see `decode_data`)."""
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise MalformedEvent(f"not an event envelope: {exc}") from exc


def decode_data(envelope: Envelope) -> EventData:
    """The typed payload of `envelope`, strictly (see `decode_event`), or `MalformedEvent`."""
    registered = EVENT_TYPES.get(envelope.type)
    if registered is None:
        raise MalformedEvent(f"unknown event type {envelope.type!r}")
    _topic, struct, version = registered
    if envelope.version != version:
        raise MalformedEvent(f"{envelope.type} version {envelope.version} is not supported (expected {version})")
    try:
        return msgspec.convert(envelope.data, struct)
    except msgspec.ValidationError as exc:
        raise MalformedEvent(f"{envelope.type} payload does not match its schema: {exc}") from exc
