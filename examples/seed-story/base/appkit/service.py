"""A service with a worker pool and a socket listening on 127.0.0.1, served by a thread
of its own: what a test must stop, or it keeps running for the rest of the session."""

import socket
import threading
from concurrent.futures import ThreadPoolExecutor


class Service:
    def __init__(self) -> None:
        self.workers = ThreadPoolExecutor(4)
        ready = threading.Barrier(4)  # warm every worker: four tasks that wait for each other
        list(self.workers.map(lambda _: ready.wait(), range(4)))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.acceptor = threading.Thread(target=self._serve, daemon=True)
        self.acceptor.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:  # stopped
                return
            connection.close()

    def stop(self) -> None:
        self.workers.shutdown()
        self.listener.shutdown(socket.SHUT_RDWR)  # wakes the acceptor
        self.listener.close()
        self.acceptor.join()
