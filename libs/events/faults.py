"""Telling an infrastructure fault (database or NATS unreachable, connection lost, server
restarting) from a handler's own failure: the first is waited out, only the second counts towards
parking an event in the dead-letter store."""

from __future__ import annotations

import asyncpg
import nats.errors
from sqlalchemy import exc as sqlalchemy_errors

# OSErrors that are about files, not about reaching a server.
_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

_CONNECTION_ERRORS = (
    asyncpg.PostgresConnectionError,  # class 08: the connection is gone or was refused
    asyncpg.InterfaceError,  # the client side of a closed or broken connection
    asyncpg.exceptions.OperatorInterventionError,  # 57P01-03: shutdown, crash, starting up
    asyncpg.exceptions.InsufficientResourcesError,  # 53: too many connections, disk full
    sqlalchemy_errors.DisconnectionError,
    sqlalchemy_errors.TimeoutError,  # no pooled connection became free
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
)


def is_infrastructure_error(error: BaseException | None) -> bool:
    """Whether `error`, or anything it was raised from, says a server could not be reached.

    A bare TimeoutError is not enough: a handler's own slow dependency must still end in the
    dead-letter store rather than hold its consumer back for ever.
    """
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, _CONNECTION_ERRORS):
            return True
        if isinstance(error, sqlalchemy_errors.DBAPIError) and error.connection_invalidated:
            return True
        if (
            isinstance(error, OSError)
            and not isinstance(error, TimeoutError)
            and not isinstance(error, _LOCAL_OS_ERRORS)
        ):
            return True  # refused, reset, unreachable, name resolution
        orig = getattr(error, "orig", None)  # SQLAlchemy keeps the driver's error here
        error = (
            orig
            if isinstance(orig, BaseException) and id(orig) not in seen
            else (error.__cause__ or error.__context__)
        )
    return False
