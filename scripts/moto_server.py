"""Starts moto's server with DynamoDB item operations serialised.

moto's threaded server runs requests concurrently, and its DynamoDB backend checks a
condition and writes (or, for TransactWriteItems, checks every condition, writes, and rolls
back from a copy of the tables) without a lock, so two concurrent conditional writes can
both succeed. Real DynamoDB is atomic per item and per transaction, and RAVIS relies on
that (audit chain heads, optimistic versions, idempotency records). This launcher wraps
every DynamoDB item and transaction operation of moto's backend in one lock, so the
emulator keeps those guarantees; everything else (SQS long polls, S3) stays concurrent.

Usage: python scripts/moto_server.py [moto_server options], e.g. -H 127.0.0.1 -p 5000.
"""

import functools
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

# The operations that read or write items: reads too, so no read sees half a transaction.
SERIALISED = (
    "put_item",
    "get_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_LOCK = threading.RLock()


def _serialised(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return wrapper


for _name in SERIALISED:
    setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    main(sys.argv[1:])
