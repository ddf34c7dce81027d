"""Direct TCP links between Dask workers, for the deltas of distributed training's rounds.

Dask's worker-to-worker RPC moves a message through the event loops of both
processes, in Python, a chunk at a time; inside a training run, on cores the event
loops share with the training threads, that costs 3-4x what moving the bytes costs
(docs/distributed.md, "Where the time goes").  A *link* is a plain TCP connection from
one worker to one peer for one attempt at an epoch: a thread of the sender writes
each message with ``sendall``, and a thread of the receiver reads it with
``recv_into`` straight into the arrays it files for the training thread.  The
messages, their keys and their arrays are those of Dask's RPC, which stays the way
to a peer a link cannot reach (:func:`hsmcy.distributed._open_links`).

Wire format (little-endian), after the TCP connection is made:

* handshake, once: ``magic (4 bytes), secret (16 bytes), n (uint64)``, then ``n``
  bytes of JSON naming the sender: ``run_id``, ``epoch``, ``attempt``, ``sender``;
* messages, until the sender closes the link: ``round (int64), part (int32),
  entries (int32)``, then per entry ``copy (int32), rows (int64), width (int32)``
  followed by ``rows`` int32 row ids and ``rows x width`` uint16 (bfloat16) values.

Security: a worker's listener serves a connection only after it presents that
worker's secret (16 random bytes per process), which peers obtain through Dask's own
comm (the ``hsmcy_link`` handler; links are used only between ``tcp://`` workers, so
a cluster configured for TLS keeps all its traffic on TLS).  Headers are checked
before anything is allocated, a connection that breaks a rule is closed, and the
training thread checks every delta before it averages it, as it checks Dask's.
"""
from __future__ import annotations

import hmac
import json
import secrets
import socket
import struct
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_MAGIC = b"HSML"
_HANDSHAKE = struct.Struct("<4s16sQ")     # magic, secret, length of the JSON that follows
_MESSAGE = struct.Struct("<qii")          # round, part, entries
_ENTRY = struct.Struct("<iqi")            # copy, rows, width
_MAX_ORIGIN_BYTES = 4096
_MAX_ENTRIES = 1 << 16                    # copies in one message
_MAX_WIDTH = 1 << 16                      # vector_size
_MAX_ENTRY_BYTES = 1 << 36                # 64 GiB: a bound on what a header may ask to allocate
HANDSHAKE_SECONDS = 30.0


def _read_exact(connection, size):
    """``size`` bytes from ``connection``; ``None`` if it closed before the first byte."""
    buffer = bytearray(size)
    if size and not _read_into(connection, memoryview(buffer), eof_ok=True):
        return None
    return bytes(buffer)


def _read_into(connection, view, eof_ok=False):
    """Fill ``view`` (a byte memoryview); False if the peer closed first and ``eof_ok``."""
    filled = 0
    while filled < len(view):
        count = connection.recv_into(view[filled:], len(view) - filled, socket.MSG_WAITALL)
        if count == 0:
            if eof_ok and filled == 0:
                return False
            raise ConnectionError("the link closed in the middle of a message")
        filled += count
    return True


def _keep_alive(connection):
    """TCP keep-alive probes after a minute of silence (where the platform has the options)."""
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6)):
            if hasattr(socket, option):
                connection.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)
    except OSError:
        pass


class Listener:
    """This worker process's end for incoming links: accepts them and files their messages.

    ``deliver(key, payload)`` is called from a link's reader thread for every message,
    with ``key = (run_id, epoch, attempt, round, sender, part)`` and ``payload`` a list
    of ``(copy, ids, delta)`` in new arrays.
    """

    def __init__(self, host, deliver):
        self.host = host
        self.secret = secrets.token_bytes(16)
        self.deliver = deliver
        self.socket = socket.create_server((host, 0), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.port = self.socket.getsockname()[1]
        threading.Thread(target=self._accept, name="hsmcy-links-accept", daemon=True).start()

    def _accept(self):
        while True:
            try:
                connection, _ = self.socket.accept()
            except OSError:   # closed
                return
            _keep_alive(connection)   # a sender's machine that vanishes without a word ends the reader too
            threading.Thread(target=self._serve, args=(connection,), name="hsmcy-link-reader", daemon=True).start()

    def _serve(self, connection):
        """Read one link until its sender closes it; any broken rule closes it (nothing is filed
        from a message that did not arrive whole)."""
        with connection:
            try:
                connection.settimeout(HANDSHAKE_SECONDS)
                hello = _read_exact(connection, _HANDSHAKE.size)
                if hello is None:
                    return
                magic, secret, length = _HANDSHAKE.unpack(hello)
                if magic != _MAGIC or not hmac.compare_digest(secret, self.secret) or length > _MAX_ORIGIN_BYTES:
                    return
                origin = json.loads(_read_exact(connection, length) or b"null")
                run_id, epoch, attempt, sender = (str(origin["run_id"]), int(origin["epoch"]),
                                                  int(origin["attempt"]), int(origin["sender"]))
                connection.settimeout(None)   # a link idles while its sender trains
                while True:
                    header = _read_exact(connection, _MESSAGE.size)
                    if header is None:   # the sender closed the link: the epoch is over for it
                        return
                    round_index, part, entries = _MESSAGE.unpack(header)
                    if not 0 <= entries <= _MAX_ENTRIES:
                        return
                    payload = []
                    for _ in range(entries):
                        copy, rows, width = _ENTRY.unpack(_read_exact(connection, _ENTRY.size) or b"")
                        if not (0 <= rows and 0 < width <= _MAX_WIDTH and rows * (4 + 2 * width) <= _MAX_ENTRY_BYTES):
                            return
                        ids = np.empty(rows, dtype=np.int32)
                        delta = np.empty((rows, width), dtype=np.uint16)
                        if rows:
                            _read_into(connection, memoryview(ids).cast("B"))
                            _read_into(connection, memoryview(delta).cast("B"))
                        payload.append((copy, ids, delta))
                    self.deliver((run_id, epoch, attempt, round_index, sender, part), payload)
            except (OSError, ValueError, TypeError, KeyError, struct.error, MemoryError):
                return   # a broken or foreign connection; its sender, if it is ours, fails its send

    def close(self):
        self.socket.close()


_LISTENER: Listener | None = None
_LISTENER_LOCK = threading.Lock()


def listener(host, deliver):
    """This process's :class:`Listener` (made on first use, on ``host``)."""
    global _LISTENER
    with _LISTENER_LOCK:
        if _LISTENER is None or _LISTENER.host != host:
            if _LISTENER is not None:
                _LISTENER.close()
            _LISTENER = Listener(host, deliver)
        return _LISTENER


class Link:
    """A link to one peer for one attempt at an epoch; messages are written in order by a
    thread of its own, so the training thread goes on while they travel."""

    def __init__(self, host, port, secret, origin, connect_seconds, send_seconds):
        self.socket = socket.create_connection((host, port), timeout=connect_seconds)
        try:
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.socket.settimeout(send_seconds)
            hello = json.dumps(origin).encode()
            self.socket.sendall(_HANDSHAKE.pack(_MAGIC, secret, len(hello)) + hello)
        except BaseException:
            self.socket.close()
            raise
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hsmcy-link-writer")

    def send(self, round_index, part, payload):
        """Start writing a message; returns a ``concurrent.futures.Future``, done when the
        kernel holds all of it (the arrays may then be written again)."""
        return self.writer.submit(self._write, round_index, part, payload)

    def _write(self, round_index, part, payload):
        self.socket.sendall(_MESSAGE.pack(round_index, part, len(payload)))
        for copy, ids, delta in payload:
            ids = np.ascontiguousarray(ids, dtype=np.int32)
            delta = np.ascontiguousarray(delta, dtype=np.uint16)
            self.socket.sendall(_ENTRY.pack(copy, len(ids), delta.shape[1]))
            if len(ids):   # (a memoryview of an empty array cannot be cast to bytes)
                self.socket.sendall(memoryview(ids).cast("B"))
                self.socket.sendall(memoryview(delta).cast("B"))

    def close(self):
        """Close the link once the writes started are done (the peer reads them to the end)."""
        self.writer.shutdown(wait=True)
        self.socket.close()

    def abort(self):
        """Close the link now: a write blocked on a peer that stopped reading fails at once."""
        try:
            self.socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.writer.shutdown(wait=False, cancel_futures=True)
        self.socket.close()
