"""A few psycopg AsyncConnections shared by one sink's batches (up to 50 at once on one event loop).

Why not psycopg_pool: its background workers connect and reconnect on their own schedule, outside
the sink's deadline, and it is one more dependency. Here a connection is opened inside the attempt
that needs it (so the deadline bounds that too), kept for the next one, and dropped after any
error: its state is then unknown, and a new connection costs one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from psycopg import AsyncConnection


class Connections:
    def __init__(self, connect: Callable[[], Awaitable[AsyncConnection]], size: int) -> None:
        self._connect = connect
        self._slots = asyncio.Semaphore(size)  # at most `size` connections, busy or idle
        self._idle: list[AsyncConnection] = []
        self._closed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside one transaction: committed when the block ends, rolled back on an error."""
        async with self._slots:
            connection = self._idle.pop() if self._idle else await self._connect()
            try:
                async with connection.transaction():
                    yield connection
            except BaseException:
                if connection.broken:  # the server went away or restarted: the idle ones are dead too
                    self._drop_idle()
                _finish(connection)
                raise
            if self._closed:
                _finish(connection)
            else:
                self._idle.append(connection)

    def close(self) -> None:
        """Close the idle connections now, the busy ones when their transaction ends."""
        self._closed = True
        self._drop_idle()

    def _drop_idle(self) -> None:
        while self._idle:
            _finish(self._idle.pop())


def _finish(connection: AsyncConnection) -> None:
    # The port's close() is synchronous; AsyncConnection.close() awaits nothing, it only finishes
    # the libpq connection, which is this call.
    connection.pgconn.finish()
