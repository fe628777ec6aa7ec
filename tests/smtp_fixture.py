"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives.

Tests import the fixture explicitly: `from .smtp_fixture import smtp_sink  # noqa: F401`.
"""
from __future__ import annotations

import pytest

from .sshd_fixture import free_port


@pytest.fixture
def smtp_sink():
    aiosmtpd = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd is not installed (test extra)")
    from aiosmtpd.handlers import Message

    received: list = []

    class Keep(Message):
        def handle_message(self, message):
            received.append(message)

    controller = aiosmtpd.Controller(Keep(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller, received
    finally:
        controller.stop()
