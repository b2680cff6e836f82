"""The notification HTTP client against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from engine.errors import WebhookError
from engine.notifications.http import WebhookClient
from tests.support import free_port


class Server:
    def __init__(self) -> None:
        self.peers: list[tuple[str, int]] = []
        self.paths: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.bodies: list[bytes] = []
        self.methods: list[str] = []
        self.mode = "ok"
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(self.rfile.read(length))
                outer.methods.append(self.command)
                outer.peers.append(self.client_address)
                outer.paths.append(self.path)
                outer.headers.append(dict(self.headers))
                if outer.mode == "slow":
                    time.sleep(0.5)
                body = b"x" * 200_000 if outer.mode == "big" else b"fine"
                status = 302 if outer.mode == "redirect" else 200
                self.send_response(status)
                if outer.mode == "redirect":
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", str(len(body)))
                if outer.mode == "close":
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server()
    yield srv
    srv.stop()


def test_gets_reuse_one_connection_and_carry_the_headers(server: Server) -> None:
    client = WebhookClient(2.0, "callbridge-test")
    for i in range(5):
        reply = client.get(f"{server.url}/cb?id={i}&x=%20", {"webhook-id": f"msg_{i}"})
        assert (reply.status, reply.text) == (200, "fine")
    assert len(set(server.peers)) == 1
    assert server.paths[-1] == "/cb?id=4&x=%20"
    assert server.headers[-1]["webhook-id"] == "msg_4"
    assert server.headers[-1]["User-Agent"] == "callbridge-test"
    client.close()


def test_a_connection_the_receiver_closed_is_replaced(server: Server) -> None:
    client = WebhookClient(2.0, "t")
    server.mode = "close"
    assert client.get(server.url, {}).status == 200
    assert client.get(server.url, {}).status == 200
    assert len(set(server.peers)) == 2


def test_a_long_answer_is_cut_and_its_connection_not_reused(server: Server) -> None:
    client = WebhookClient(2.0, "t")
    server.mode = "big"
    assert len(client.get(server.url, {}).text) == 64 * 1024
    server.mode = "ok"
    assert client.get(server.url, {}).text == "fine"
    assert len(set(server.peers)) == 2


def test_redirects_are_not_followed(server: Server) -> None:
    server.mode = "redirect"
    assert WebhookClient(2.0, "t").get(server.url, {}).status == 302
    assert server.paths == ["/"]


def test_nobody_listening_is_a_connect_error() -> None:
    with pytest.raises(WebhookError) as err:
        WebhookClient(2.0, "t").get(f"http://127.0.0.1:{free_port()}/cb", {})
    assert err.value.kind == "ConnectError"
    assert "refused" in str(err.value)


def test_a_slow_receiver_is_a_read_timeout(server: Server) -> None:
    server.mode = "slow"
    with pytest.raises(WebhookError) as err:
        WebhookClient(0.1, "t").get(server.url, {})
    assert err.value.kind == "ReadTimeout"


def test_a_receiver_that_hangs_up_without_answering() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def rude() -> None:
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.close()

    threading.Thread(target=rude, daemon=True).start()
    with pytest.raises(WebhookError) as err:
        WebhookClient(2.0, "t").get(f"http://127.0.0.1:{listener.getsockname()[1]}/", {})
    listener.close()
    assert err.value.kind == "RemoteProtocolError"


def test_only_http_urls() -> None:
    with pytest.raises(WebhookError) as err:
        WebhookClient(2.0, "t").get("ftp://example.net/x", {})
    assert err.value.kind == "UnsupportedProtocol"


def test_a_post_carries_its_body_on_the_kept_connection(server: Server) -> None:
    client = WebhookClient(2.0, "t")
    assert client.get(server.url + "/cb?a=1", {}).status == 200
    body = b'{"id":1,"code":2}'
    reply = client.request("POST", server.url + "/cb?a=1", {"Content-Type": "x/y"}, body)
    assert reply.status == 200
    assert server.methods == ["GET", "POST"]
    assert server.bodies == [b"", body]
    assert server.paths == ["/cb?a=1", "/cb?a=1"]
    assert server.headers[1]["Content-Type"] == "x/y"
    assert server.headers[1]["Content-Length"] == str(len(body))
    assert len(set(server.peers)) == 1
    client.close()


def test_a_pinned_address_is_used_instead_of_resolving_the_host(server: Server) -> None:
    """The host name (which resolves nowhere) names the Host header; the connection
    goes to the given address, also when it has to be made again."""
    port = server.url.rsplit(":", 1)[1]
    url = f"http://callback.invalid:{port}/cb"
    client = WebhookClient(2.0, "t")
    with pytest.raises(WebhookError):  # not pinned: the name does not resolve
        client.get(url, {})
    server.mode = "close"  # each answer closes the connection: it is made anew
    for _ in range(2):
        assert client.request("GET", url, {}, address="127.0.0.1").status == 200
    assert [h["Host"] for h in server.headers] == [f"callback.invalid:{port}"] * 2
    assert len(set(server.peers)) == 2
    client.close()


def test_an_unsupported_url_is_not_echoed() -> None:
    with pytest.raises(WebhookError) as err:
        WebhookClient(2.0, "t").get("ftp://user:pw@example.net/x", {})
    assert "pw" not in str(err.value)
