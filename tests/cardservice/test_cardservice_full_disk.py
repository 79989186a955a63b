"""The card service on a full disk: a clear refusal, still serving, nothing lost.

The state directory is a real tmpfs of 1 MiB (mounted by the test, as root);
a filler file takes the rest of it, so SQLite really gets "disk full".
"""

from __future__ import annotations

import pytest

from cardservice.service import ServiceConfig
from kiosk.cardservice_errors import CardServiceProblem
from sim.siths_pki import SithsHolder
from tests.harness.cardservice import CardServiceHarness
from tests.harness.small_disk import fill

HOLDER = SithsHolder()


def start_logins_until_refused(client) -> None:
    for _ in range(200):  # each login writes; the disk is full within a few
        client.start_login(HOLDER.card_number)


def test_full_disk_refuses_cleanly_and_loses_nothing(small_disk, dev_pki, smtp_sink):
    harness = CardServiceHarness(small_disk / "state", dev_pki, smtp_sink, ServiceConfig())
    try:
        harness.register(HOLDER)
        client = harness.client(retries=0)
        first = client.start_login(HOLDER.card_number)
        filler = fill(small_disk)
        with pytest.raises(CardServiceProblem) as refused:
            start_logins_until_refused(client)
        assert refused.value.code == "storage-unavailable"
        assert refused.value.status == 503
        assert client.health() == "ok"  # still answering
        assert client.poll_login(first.order_ref).order_ref == first.order_ref  # still readable
        filler.unlink()
        assert client.start_login(HOLDER.card_number).order_ref  # back by itself
        assert harness.store.card(HOLDER.card_number) is not None
    finally:
        harness.stop()
