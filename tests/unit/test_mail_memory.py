"""MemoryMailer: the in-memory mailer that tests script failures with."""

from __future__ import annotations

import threading

import pytest

from worker.mail import (
    Mailer,
    MemoryMailer,
    OutgoingEmail,
    PermanentSendError,
    TransientSendError,
    make_message_id,
)


def outgoing(to: str = "lead@example.org") -> OutgoingEmail:
    return OutgoingEmail("ana@example.com", to, "Hi", "Hello\n", None, make_message_id("x.test"))


def send_many(mailer: MemoryMailer, count: int) -> None:
    for _ in range(count):
        mailer.send(outgoing())


def test_accepted_messages_are_kept_in_order() -> None:
    """`sent` lists accepted messages in the order they were sent."""
    mailer = MemoryMailer()
    first, second = outgoing(), outgoing("other@example.org")
    mailer.send(first)
    mailer.send(second)
    assert mailer.sent == [first, second]
    assert mailer.sent_to("OTHER@example.org") == [second]


def test_fail_next_raises_the_given_error_that_many_times() -> None:
    """The next sends raise the scripted error, then sending works again."""
    mailer = MemoryMailer()
    mailer.fail_next(TransientSendError("451 try again", 451), times=2)
    for _ in range(2):
        with pytest.raises(TransientSendError):
            mailer.send(outgoing())
    mailer.send(outgoing())
    assert len(mailer.sent) == 1
    assert len(mailer.attempts) == 3


def test_fail_for_refuses_one_address_until_cleared() -> None:
    """An address rule applies to every send to that address, case-insensitively."""
    mailer = MemoryMailer()
    mailer.fail_for("Gone@example.org", PermanentSendError("550 5.1.1 gone", 550, suppress=True))
    for _ in range(3):
        with pytest.raises(PermanentSendError):
            mailer.send(outgoing("gone@EXAMPLE.org"))
    mailer.send(outgoing("here@example.org"))
    mailer.clear_failures()
    mailer.send(outgoing("gone@example.org"))
    assert [email.to for email in mailer.sent] == ["here@example.org", "gone@example.org"]


def test_concurrent_sends_are_all_recorded() -> None:
    """The list is safe to append to from many worker threads."""
    mailer = MemoryMailer()
    threads = [threading.Thread(target=send_many, args=(mailer, 100)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mailer.sent) == 800


def test_memory_mailer_satisfies_the_mailer_protocol() -> None:
    """It can stand in wherever a Mailer is expected; check() can fake an outage."""
    mailer = MemoryMailer()
    assert isinstance(mailer, Mailer)
    assert mailer.check() is None
    mailer.check_reason = "down for the test"
    assert mailer.check() == "down for the test"
