"""A TCP relay on loopback that a test can turn into a bad network: it forwards every connection
to one upstream address until told to `blackhole` (nothing moves either way and new connections
go nowhere: what a dead route looks like to both ends), `cut` (every open connection is reset
at once, as by a restarted middlebox) or `restore` (traffic flows again, including what the
blackhole held back).

Each connection has two pump threads, one per direction; a pump that has read a chunk while
the relay is blackholed keeps it until the relay is restored or the connection is cut, as a
stalled path would."""
import socket
import struct
import threading


class Relay:
    def __init__(self, upstream_host, upstream_port, listen_host="127.0.0.1"):
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Condition()
        self._flowing = True
        self._closed = False
        self._conns = set()  # of _Conn
        self.accepted = 0
        self._listener = socket.create_server((listen_host, 0))
        self.port = self._listener.getsockname()[1]
        self.address = f"{listen_host}:{self.port}"
        threading.Thread(target=self._accept_loop, name="relay-accept", daemon=True).start()

    # Control.
    def blackhole(self):
        with self._lock:
            self._flowing = False

    def restore(self):
        with self._lock:
            self._flowing = True
            self._lock.notify_all()

    def cut(self):
        """Resets every open connection (both sides see ECONNRESET); new ones still pass."""
        with self._lock:
            conns, self._conns = self._conns, set()
            self._lock.notify_all()
        for conn in conns:
            conn.reset()
        return len(conns)

    def open_connections(self):
        with self._lock:
            return len(self._conns)

    def close(self):
        with self._lock:
            self._closed = True
            self._flowing = True
            self._lock.notify_all()
        try:
            self._listener.close()
        except OSError:
            pass
        self.cut()

    # Internals.
    def _wait_flowing(self, conn):
        """False when the connection was cut (or the relay closed) while waiting."""
        with self._lock:
            while not self._flowing and not self._closed and conn in self._conns:
                self._lock.wait(0.5)
            return not self._closed and conn in self._conns

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            conn = _Conn(client)
            with self._lock:
                if self._closed:
                    client.close()
                    return
                self._conns.add(conn)
                self.accepted += 1
            threading.Thread(target=self._connect, args=(conn,), name="relay-conn", daemon=True).start()

    def _connect(self, conn):
        # A blackholed path does not even carry the handshake: wait before dialling upstream.
        if not self._wait_flowing(conn):
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
            upstream.settimeout(None)
        except OSError:
            self._drop(conn)
            return
        with self._lock:
            if conn not in self._conns:
                _reset(upstream)
                return
            conn.upstream = upstream
        threading.Thread(target=self._pump, args=(conn, conn.client, upstream), name="relay-up",
                         daemon=True).start()
        threading.Thread(target=self._pump, args=(conn, upstream, conn.client), name="relay-down",
                         daemon=True).start()

    def _pump(self, conn, src, dst):
        while True:
            try:
                chunk = src.recv(65536)
            except OSError:
                chunk = None
            if not self._wait_flowing(conn):
                return
            if not chunk:
                if chunk is None:
                    self._drop(conn)
                    return
                # EOF: pass the half-close on; the pair goes once both directions ended.
                try:
                    dst.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                with self._lock:
                    conn.ended += 1
                    done = conn.ended == 2
                if done:
                    self._drop(conn)
                return
            try:
                dst.sendall(chunk)
            except OSError:
                self._drop(conn)
                return

    def _drop(self, conn):
        with self._lock:
            if conn not in self._conns:
                return
            self._conns.discard(conn)
            self._lock.notify_all()
        conn.reset()


class _Conn:
    def __init__(self, client):
        self.client = client
        self.upstream = None
        self.ended = 0

    def reset(self):
        for s in (self.client, self.upstream):
            _reset(s)


def _reset(s):
    """Closes a socket with RST rather than FIN (SO_LINGER 0)."""
    if s is None:
        return
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.shutdown(socket.SHUT_RD)  # wakes a pump blocked reading it; sends nothing
    except OSError:
        pass
    try:
        s.close()
    except OSError:
        pass
