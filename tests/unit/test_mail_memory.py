"""MemorySender: the in-memory sender that tests script failures with."""

from __future__ import annotations

import threading

import pytest

from worker.mail import (
    MemorySender,
    OutgoingEmail,
    PermanentSendError,
    Sender,
    TransientSendError,
    make_message_id,
)


def outgoing(to: str = "lead@example.org") -> OutgoingEmail:
    return OutgoingEmail("ana@example.com", to, "Hi", "Hello\n", None, make_message_id("x.test"))


def send_many(sender: MemorySender, count: int) -> None:
    for _ in range(count):
        sender.send(outgoing())


def test_accepted_messages_are_kept_in_order() -> None:
    """`sent` lists accepted messages in the order they were sent."""
    sender = MemorySender()
    first, second = outgoing(), outgoing("other@example.org")
    sender.send(first)
    sender.send(second)
    assert sender.sent == [first, second]
    assert sender.sent_to("OTHER@example.org") == [second]


def test_fail_next_raises_the_given_error_that_many_times() -> None:
    """The next sends raise the scripted error, then sending works again."""
    sender = MemorySender()
    sender.fail_next(TransientSendError("451 try again", 451), times=2)
    for _ in range(2):
        with pytest.raises(TransientSendError):
            sender.send(outgoing())
    sender.send(outgoing())
    assert len(sender.sent) == 1
    assert len(sender.attempts) == 3


def test_fail_for_refuses_one_address_until_cleared() -> None:
    """An address rule applies to every send to that address, case-insensitively."""
    sender = MemorySender()
    sender.fail_for("Gone@example.org", PermanentSendError("550 5.1.1 gone", 550, suppress=True))
    for _ in range(3):
        with pytest.raises(PermanentSendError):
            sender.send(outgoing("gone@EXAMPLE.org"))
    sender.send(outgoing("here@example.org"))
    sender.clear_failures()
    sender.send(outgoing("gone@example.org"))
    assert [email.to for email in sender.sent] == ["here@example.org", "gone@example.org"]


def test_concurrent_sends_are_all_recorded() -> None:
    """The list is safe to append to from many worker threads."""
    sender = MemorySender()
    threads = [threading.Thread(target=send_many, args=(sender, 100)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(sender.sent) == 800


def test_memory_sender_satisfies_the_sender_protocol() -> None:
    """It can stand in wherever a Sender is expected; check() can fake an outage."""
    sender = MemorySender()
    assert isinstance(sender, Sender)
    assert sender.check() is None
    sender.check_reason = "down for the test"
    assert sender.check() == "down for the test"
