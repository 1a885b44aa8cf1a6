"""Starts moto's server with DynamoDB item operations serialised.

moto's threaded server runs requests concurrently, and its DynamoDB backend checks a
condition and writes (or, for TransactWriteItems, checks every condition, writes, and rolls
back from a copy of the tables) without a lock, so two concurrent conditional writes can
both succeed. Real DynamoDB is atomic per item and per transaction, and RAVIS relies on
that (audit chain heads, optimistic versions, idempotency records). This launcher wraps
every DynamoDB item and transaction operation of moto's backend in one lock, so the
emulator keeps those guarantees; everything else (SQS long polls, S3) stays concurrent.

With RAVIS_AWS_CALL_LOG set to a file path, it also records every AWS request it serves,
one JSON line each: the caller's access key id, the service and region of its signature,
the operation and what it names (table, index, transaction items, queue, bucket, key,
prefix), and the status answered. The deploy-like tests give each function its own access
key and check every recorded call against that function's IAM policy in the template
(tests/deploy/). Request bodies are not logged, only the names they carry.

KMS `Sign` with `MessageType: DIGEST` is honoured: moto 5.2.5 ignores the message type and
hashes the digest again, so the signature would not verify over the original message as it
does in AWS. The KMS signer sends a digest for signing inputs over KMS's 4096-byte limit of
raw messages (shared/src/adapters/aws/kms.rs), so this launcher signs the digest as given.

Two of moto's DynamoDB costs that grow with the table are cut (the answers are unchanged):
TransactWriteItems snapshots only the items it names for its rollback instead of deep-copying
the table per item, and Query no longer sorts the whole table first. Every connection has
TCP_NODELAY (no delayed-ACK pause between an answer's headers and body).

Usage: python scripts/moto_server.py [moto_server options], e.g. -H 127.0.0.1 -p 5000.
"""

import copy
import functools
import io
import json
import os
import re
import sys
import threading
import time
from urllib.parse import parse_qs, unquote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
import moto.dynamodb.models as _ddb_models
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.kms.responses import KmsResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.server import main
from werkzeug.serving import WSGIRequestHandler

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


# ---------------------------------------------------------------- TransactWriteItems rollback
#
# moto 5.2.5's transact_write_items snapshots a whole table with copy.deepcopy once per
# transaction item naming it, to roll back on failure: the cost grows with the table's size,
# so a run that keeps writing slows down quadratically, and the copy holds the GIL (and the
# lock above), stalling every other request of the server: S3 and SQS too. (An end-to-end run
# of 1,000 screenings saw single requests wait over 10 s.) This keeps moto's transaction
# logic but snapshots only the items the transaction names, and puts those back on failure;
# under the lock nothing else writes meanwhile, so the rollback is the same.


class _NoTableCopy:
    """`copy` as moto's DynamoDB models module sees it: tables are not deep-copied."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_ddb_models.copy = _NoTableCopy
_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _stored(table, hash_key, range_key):
    if range_key is None:
        return table.items.get(hash_key)
    return table.items.get(hash_key, {}).get(range_key)


def _put_back(table, hash_key, range_key, item) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
    elif item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
    else:
        table.items[hash_key][range_key] = item


def _transact_write_items(self, transact_items):
    saved = {}
    for entry in transact_items if isinstance(transact_items, list) else []:
        op = next(iter(entry.values()), None) if isinstance(entry, dict) and entry else None
        table = self.tables.get(op.get("TableName")) if isinstance(op, dict) else None
        if table is None:
            continue
        attributes = op.get("Key") or op.get("Item") or {}
        try:
            hash_key = DynamoType(attributes[table.hash_key_attr])
            range_key = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
        except (KeyError, TypeError):
            continue
        slot = (table.name, hash_key, range_key)
        if slot not in saved:
            saved[slot] = (table, copy.deepcopy(_stored(table, hash_key, range_key)))
    try:
        return _moto_transact_write_items(self, transact_items)
    except BaseException:
        for (_, hash_key, range_key), (table, item) in saved.items():
            _put_back(table, hash_key, range_key, item)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

# ---------------------------------------------------------------- Query without sorting the table
#
# moto 5.2.5's Table.query starts from all_items(), every item of the table sorted by key,
# and filters it: each Query costs a sort of the whole table, and a run that keeps writing
# slows down with every item (the scoring worker queries an index for every screening).
# During a query, all_items() here gives the one partition a table query names, or every
# item unsorted for an index query: moto sorts the matches itself afterwards (by range key,
# or by the index's keys and the table's), so the answer is the same.


def _query(self, *args, **kwargs):
    index_name = kwargs.get("index_name", args[7] if len(args) > 7 else None)
    hash_key = kwargs.get("hash_key", args[0] if args else None)

    def unsorted_items():
        if index_name is None and hash_key is not None:
            found = self.items.get(hash_key)
            if found is None:
                return []
            return list(found.values()) if self.range_key_attr else [found]
        if self.range_key_attr:
            return [item for hash_set in self.items.values() for item in hash_set.values()]
        return list(self.items.values())

    self.all_items = unsorted_items  # the instance's, for this call (under the lock above)
    try:
        return _moto_query(self, *args, **kwargs)
    finally:
        del self.all_items


_moto_query = Table.query
Table.query = _query

for _name in SERIALISED:
    setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))


# ---------------------------------------------------------------- KMS Sign of a digest

_DIGEST_HASHES = {"ECDSA_SHA_256": hashes.SHA256, "ECDSA_SHA_384": hashes.SHA384, "ECDSA_SHA_512": hashes.SHA512}
_moto_kms_sign = KmsResponse.sign


def _kms_sign(self):
    if self._get_param("MessageType") != "DIGEST":
        return _moto_kms_sign(self)
    import base64

    algorithm = self._get_param("SigningAlgorithm")
    key = self.kms_backend.describe_key(self._get_param("KeyId"))
    private = getattr(key.private_key, "private_key", None)
    if algorithm not in _DIGEST_HASHES or not isinstance(private, ec.EllipticCurvePrivateKey):
        # Only what RAVIS uses (ECDSA keys) is emulated; anything else keeps moto's answer.
        return _moto_kms_sign(self)
    message = self._get_param("Message")  # moto's _get_param decodes the base64
    signature = private.sign(message, ec.ECDSA(utils.Prehashed(_DIGEST_HASHES[algorithm]())))
    return json.dumps(
        {"KeyId": key.arn, "Signature": base64.b64encode(signature).decode(), "SigningAlgorithm": algorithm}
    )


KmsResponse.sign = _kms_sign


# ---------------------------------------------------------------- call recorder

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[0-9]{8}/([^/]+)/([^/]+)/aws4_request")
_LOG_LOCK = threading.Lock()


def _json_summary(target, body):
    """What a JSON-protocol request (DynamoDB, SQS) names, without its data."""
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return {"unparsed": True}
    out = {}
    for field in ("TableName", "IndexName", "QueueUrl", "QueueName", "KeyId"):
        if field in doc:
            out[field] = doc[field]
    if "TransactItems" in doc:
        items = []
        for item in doc["TransactItems"]:
            for kind, spec in item.items():
                items.append({"kind": kind, "TableName": spec.get("TableName")})
        out["TransactItems"] = items
    if "RequestItems" in doc:
        out["RequestTables"] = sorted(doc["RequestItems"])
    if "Entries" in doc:
        out["Entries"] = len(doc["Entries"])
    return out


def _s3_summary(environ):
    path = unquote(environ.get("PATH_INFO", ""))
    bucket, _, key = path.lstrip("/").partition("/")
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    out = {"bucket": bucket, "key": key or None, "query": sorted(query)}
    if "prefix" in query:
        out["prefix"] = query["prefix"][0]
    for header in ("HTTP_IF_NONE_MATCH", "HTTP_IF_MATCH", "HTTP_X_AMZ_COPY_SOURCE"):
        if header in environ:
            out[header[5:].lower().replace("_", "-")] = environ[header]
    return out


def _recording(call):
    @functools.wraps(call)
    def wrapper(self, environ, start_response):
        log_path = os.environ.get("RAVIS_AWS_CALL_LOG")
        if not log_path:
            return call(self, environ, start_response)
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            # Unsigned: moto's own management API, or a presigned URL; not a function's call.
            return call(self, environ, start_response)
        access_key, region, service = match.groups()
        entry = {
            "time": time.time(),
            "access_key": access_key,
            "region": region,
            "service": service,
            "method": environ.get("REQUEST_METHOD"),
        }
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            entry["operation"] = target.rsplit(".", 1)[-1]
            entry.update(_json_summary(target, body))
        elif service == "s3":
            entry.update(_s3_summary(environ))
        else:
            entry["query_protocol"] = True
        status = {}

        def recording_start_response(code, headers, exc_info=None):
            status["code"] = int(code.split(" ", 1)[0])
            return start_response(code, headers, exc_info)

        result = call(self, environ, recording_start_response)
        entry["status"] = status.get("code")
        with _LOG_LOCK, open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(entry, sort_keys=True) + "\n")
        return result

    return wrapper


DomainDispatcherApplication.__call__ = _recording(DomainDispatcherApplication.__call__)

# TCP_NODELAY on every connection: werkzeug writes an answer's headers and body separately,
# and with Nagle's algorithm the body waits for the client's delayed ACK (40 ms on Linux) —
# a pause per request that dominated the emulated stack's latency.
WSGIRequestHandler.disable_nagle_algorithm = True

if __name__ == "__main__":
    main(sys.argv[1:])
