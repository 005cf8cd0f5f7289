"""Connects to a loopback port: the module that owns `connect` in connect_loopback.py."""

import socket


def connect(port):
    """Connects to 127.0.0.1:port and sends b"hello"."""
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(("127.0.0.1", port))
        client.sendall(b"hello")
    finally:
        client.close()
