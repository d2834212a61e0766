"""The one mail pipeline (portal/accounts/mail.py): templates with a text and an HTML part, one message per
recipient, a Celery task that retries SMTP errors, no 500 when SMTP is down, members' notice opt-outs; and resending
an invitation."""

import smtplib

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.urls import reverse
from django.utils import timezone

from portal.accounts.mail import MailRetry, mail_deliver, mail_send
from portal.accounts.models import AuditEvent, Invitation, Membership, Notice, NoticeOptOut, OutboundMail
from portal.accounts.tasks import mail_deliver_task


class BrokenBackend(BaseEmailBackend):
    """An SMTP server that is down."""

    calls = 0

    def send_messages(self, messages):
        BrokenBackend.calls += 1
        raise smtplib.SMTPServerDisconnected("connection unexpectedly closed")


class FlakyBackend(BaseEmailBackend):
    """Fails `failures_left` times, then delivers to the locmem outbox."""

    failures_left = 0
    calls = 0

    def send_messages(self, messages):
        FlakyBackend.calls += 1
        if FlakyBackend.failures_left > 0:
            FlakyBackend.failures_left -= 1
            raise ConnectionRefusedError("smtp down")
        mail.outbox.extend(messages)
        return len(messages)


def test_one_message_per_recipient_with_a_text_and_an_html_part(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        queued = mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team,
                           recipients=["alice@example.com", "BOB@example.com", "alice@example.com"],
                           subject="[Org Portal] test", context={"leaver": world.member, "team": world.team})
    assert queued == 2
    assert sorted(m.to for m in mail.outbox) == [["alice@example.com"], ["bob@example.com"]]
    for message in mail.outbox:
        assert "no longer belongs to the team Acme" in message.body
        (html, mimetype), = message.alternatives
        assert mimetype == "text/html" and "<html" in html and "no longer belongs to the team Acme" in html
    assert not OutboundMail.objects.exists()  # sent rows are deleted


def test_nothing_is_sent_before_the_transaction_commits(world):
    mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team, recipients=["a@example.com"],
              subject="s", context={"leaver": world.member, "team": world.team})
    assert mail.outbox == []  # the test's transaction never commits
    queued = OutboundMail.objects.get()
    assert "no longer belongs" not in queued.sealed_body  # the body is sealed (it may hold an invitation link)


def test_the_task_retries_smtp_errors_then_sends(world, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.accounts.test_mail.FlakyBackend"
    FlakyBackend.failures_left, FlakyBackend.calls = 2, 0
    assert mail_deliver_task.autoretry_for and mail_deliver_task.retry_backoff
    with django_capture_on_commit_callbacks(execute=True):
        mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team,
                  recipients=["alice@example.com"], subject="s", context={"leaver": world.member, "team": world.team})
    # The first attempt failed (the publishing caller saw nothing); the worker's retries run the same service.
    row = OutboundMail.objects.get()
    assert row.status == "queued" and row.last_error == "ConnectionRefusedError" and mail.outbox == []
    with pytest.raises(MailRetry):
        mail_deliver(mail_id=row.pk)  # retry 1: still down → retried again with backoff
    assert mail_deliver(mail_id=row.pk) is True  # retry 2: sent
    assert FlakyBackend.calls == 3 and len(mail.outbox) == 1 and not OutboundMail.objects.exists()


def test_the_task_gives_up_after_its_retries_and_records_it(world, settings, django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.accounts.test_mail.BrokenBackend"
    BrokenBackend.calls = 0
    with django_capture_on_commit_callbacks(execute=True):
        mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team,
                  recipients=["alice@example.com"], subject="s", context={"leaver": world.member, "team": world.team})
    row = OutboundMail.objects.get()
    assert row.status == "queued" and BrokenBackend.calls == 1
    assert mail_deliver(mail_id=row.pk, final=True) is False  # the last retry records instead of raising
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == 2 and row.last_error == "SMTPServerDisconnected"


def test_smtp_down_during_an_invitation_still_redirects_and_saves(world, client, settings,
                                                                  django_capture_on_commit_callbacks):
    settings.EMAIL_BACKEND = "tests.accounts.test_mail.BrokenBackend"
    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:member_invite", args=[world.team.code]),
                               {"email": "erin@example.com", "role": "member"})
    assert response.status_code == 302
    assert Invitation.objects.filter(team=world.team, email="erin@example.com").exists()
    assert OutboundMail.objects.get(recipient="erin@example.com").last_error == "SMTPServerDisconnected"


def test_opted_out_members_get_no_notice_but_security_notices_always_go_out(world,
                                                                            django_capture_on_commit_callbacks):
    carol = Membership.objects.get(team=world.team, user=world.member)
    NoticeOptOut.objects.create(membership=carol, kind=Notice.OFFBOARDING)
    NoticeOptOut.objects.create(membership=carol, kind=Notice.KEY_UNAVAILABLE)  # ignored: mandatory
    context = {"leaver": world.admin, "team": world.team, "affected": [], "health_url": "x"}
    with django_capture_on_commit_callbacks(execute=True):
        assert mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team, subject="s",
                         recipients=["carol@example.com", "alice@example.com"], context=context) == 1
        assert mail_send(template="ops_key_unavailable", kind=Notice.KEY_UNAVAILABLE, team=world.team, subject="k",
                         recipients=["carol@example.com"], context=context) == 1
    assert sorted((m.subject, m.to[0]) for m in mail.outbox) == [("k", "carol@example.com"),
                                                                  ("s", "alice@example.com")]


def test_notice_preferences_page_saves_opt_outs_and_marks_security_notices(world, client):
    client.force_login(world.member)
    url = reverse("accounts:notices", args=[world.team.code])
    page = client.get(url).content.decode()
    assert "always sent" in page and Notice.KEY_UNAVAILABLE.label in page
    response = client.post(url, {"on": [Notice.NEEDS_REAUTH, Notice.KEY_UNAVAILABLE]})
    assert response.status_code == 302
    off = set(NoticeOptOut.objects.filter(membership__user=world.member).values_list("kind", flat=True))
    assert Notice.SCRATCH_EXPIRY in off and Notice.NEEDS_REAUTH not in off and Notice.KEY_UNAVAILABLE not in off
    assert AuditEvent.objects.filter(kind="member.notices_changed").count() == 1


def test_an_admin_resends_an_invitation_with_a_fresh_expiry(world, client, django_capture_on_commit_callbacks):
    invitation = Invitation.objects.create(team=world.team, email="erin@example.com", role="member",
                                           invited_by=world.admin,
                                           expires_at=timezone.now() - timezone.timedelta(days=1))
    client.force_login(world.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("accounts:invitation_resend", args=[world.team.code, invitation.code]))
    assert response.status_code == 302
    invitation.refresh_from_db()
    assert invitation.state == "pending" and invitation.expires_at > timezone.now() + timezone.timedelta(days=6)
    assert mail.outbox[-1].to == ["erin@example.com"] and "/invitations/" in mail.outbox[-1].body
    assert AuditEvent.objects.filter(kind="invitation.resent", subject="erin@example.com").exists()
    client.force_login(world.member)  # a plain member may not
    assert client.post(reverse("accounts:invitation_resend", args=[world.team.code, invitation.code])).status_code \
        == 403


def test_celery_retries_the_task_until_sent_or_gives_up_on_the_last_attempt(world, settings, retries_in_place):
    """Through Celery itself (eager apply without propagation runs the retries in place, without the backoff)."""
    context = {"leaver": world.member, "team": world.team}
    settings.EMAIL_BACKEND = "tests.accounts.test_mail.FlakyBackend"
    FlakyBackend.failures_left, FlakyBackend.calls = 2, 0
    mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team, recipients=["a@example.com"],
              subject="s", context=context)  # not committed: nothing published; the test drives the task
    row = OutboundMail.objects.get()
    assert mail_deliver_task.apply(args=[row.pk], throw=False).result is True
    assert FlakyBackend.calls == 3 and len(mail.outbox) == 1

    settings.EMAIL_BACKEND = "tests.accounts.test_mail.BrokenBackend"
    BrokenBackend.calls = 0
    mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team, recipients=["b@example.com"],
              subject="s", context=context)
    row = OutboundMail.objects.get()
    assert mail_deliver_task.apply(args=[row.pk], throw=False).result is False
    row.refresh_from_db()
    assert BrokenBackend.calls == mail_deliver_task.max_retries + 1 == row.attempts and row.status == "failed"


@pytest.fixture
def retries_in_place():
    """Eager tasks without propagation: Celery runs each retry at once (no backoff wait), as a worker would later."""
    from celery import current_app

    old = current_app.conf.task_eager_propagates
    current_app.conf.task_eager_propagates = False
    yield
    current_app.conf.task_eager_propagates = old


def test_the_sweep_sends_a_message_whose_task_was_lost_and_forgets_old_failures(world, settings, monkeypatch):
    """The broker refused the task when the message was queued: the row stays queued. The beat sweep publishes it
    again once it is older than the retry window; given-up rows (sealed bodies with invitation links) go after
    PORTAL_MAIL_FAILED_KEEP_DAYS."""
    from datetime import timedelta

    from portal.accounts.mail import _publish, mail_sweep
    from portal.accounts.tasks import mail_sweep_task

    assert settings.CELERY_BEAT_SCHEDULE["mail-sweep"]["task"] == mail_sweep_task.name

    class DownBroker:
        def delay(self, *args):
            raise ConnectionError("broker down")

    with monkeypatch.context() as broken:
        broken.setattr("portal.lib.tasks.task", lambda name: DownBroker())
        mail_send(template="member_offboarded", kind=Notice.OFFBOARDING, team=world.team,
                  recipients=["a@example.com"], subject="lost", context={"leaver": world.member, "team": world.team})
        _publish(list(OutboundMail.objects.values_list("pk", flat=True)))  # what on_commit does: refused
    lost = OutboundMail.objects.get()
    old_failure = OutboundMail.objects.create(kind="x", recipient="b@example.com", subject="s", sealed_body="-",
                                              status=OutboundMail.Status.FAILED)
    assert mail_sweep() == (0, 0) and mail.outbox == []  # too young: its own task may still be retrying

    OutboundMail.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.PORTAL_MAIL_SWEEP_EVERY + 60))
    OutboundMail.objects.filter(pk=old_failure.pk).update(
        created_at=timezone.now() - timedelta(days=settings.PORTAL_MAIL_FAILED_KEEP_DAYS + 1))
    assert mail_sweep_task.apply().get() == [1, 1]
    assert [m.subject for m in mail.outbox] == ["lost"] and not OutboundMail.objects.exists()
