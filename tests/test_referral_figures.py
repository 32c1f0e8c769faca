"""Per-network figures come from requests opened with their members' keys (H1): a forgotten
member's requests drop out, and nothing links a figure back to a member."""

from __future__ import annotations

import datetime as dt

from bot.app import App
from bot.referrals.service import Referrals
from storage.models import Direction, Member, Referral, Relay
from storage.repositories import MemberRepo, ReferralRepo

START = dt.datetime(2026, 11, 2)


async def _ask(
    app: App, telegram_id: int, code: str, need: str, country: str, network: str
) -> int:
    async with app.sessions.begin() as session:
        member, _ = await MemberRepo(session).get_or_create(telegram_id)
        referral = await ReferralRepo(session).add(
            Referral(
                code=code,
                member_id=member.id,
                need=need,
                country=country,
                language="en",
                network_id=network,
                created_at=START + dt.timedelta(days=1),
            )
        )
        return referral.id


async def test_figures_per_network_from_members_keys(app: App) -> None:
    first = await _ask(app, 101, "R-FIG01", "legal-help", "KE", "aswa")
    await _ask(app, 102, "R-FIG02", "hiv", "UG", "aswa")
    await _ask(app, 103, "R-FIG03", "legal-help", "TH", "swing")
    async with app.sessions.begin() as session:
        session.add(
            Relay(
                referral_id=first,
                direction=Direction.TO_MEMBER,
                source_update_id=9001,
                created_at=START + dt.timedelta(days=1, hours=3),
            )
        )
    async with app.sessions() as session:
        figures = await ReferralRepo(session).figures(START, START + dt.timedelta(days=7), "aswa")
    assert sorted((f.need, f.country, f.network) for f in figures) == [
        ("hiv", "UG", "aswa"),
        ("legal-help", "KE", "aswa"),
    ]
    answered = [f for f in figures if f.first_answer_at is not None]
    assert len(answered) == 1
    assert answered[0].first_answer_at - answered[0].created_at == dt.timedelta(hours=3)
    async with app.sessions() as session:
        everyone = await ReferralRepo(session).figures(START, START + dt.timedelta(days=7))
        before = await ReferralRepo(session).figures(START - dt.timedelta(days=7), START)
    assert len(everyone) == 3 and before == []

    # The member of R-FIG02 uses /forget: their request is no longer counted anywhere.
    async with app.sessions.begin() as session:
        member = await MemberRepo(session).get(102)
        assert isinstance(member, Member)
        await Referrals(session, app).forget_member(member.id)
        await MemberRepo(session).delete(member)
    async with app.sessions() as session:
        figures = await ReferralRepo(session).figures(START, START + dt.timedelta(days=7), "aswa")
    assert [(f.need, f.country) for f in figures] == [("legal-help", "KE")]
