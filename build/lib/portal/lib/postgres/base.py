"""Django's PostgreSQL backend with a health check that costs no round trip.

With persistent connections and `CONN_HEALTH_CHECKS`, Django checks a reused connection at the start of every request
with `SELECT 1`: a fifth of the API hand-out's time on this machine class. This backend checks the same thing
locally instead: the connection is open, idle, and the server has sent nothing since the last statement. A server
that restarts, terminates the session or times it out sends a message and closes the socket, which makes the socket
readable; the connection is then discarded and Django opens a new one, as with `SELECT 1`.
"""

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False
        try:
            readable, _, _ = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
