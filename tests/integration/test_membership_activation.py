"""Publication activates each accepted applicant's membership, in the acceptance's own transaction: the member,
ACTIVE with the training balance and its deadline, one GRANT entry, counted once however often a chunk is applied."""

from __future__ import annotations

import datetime as dt
from typing import Any

from devstack.registry import RegistryServer
from functions.domain.lifecycle import FunnelStage
from functions.domain.membership import LedgerKind, MembershipState
from functions.services import selection
from functions.settings import settings
from functions.store import applicants, funnel, members
from tests.integration.conftest import run_consumers
from tests.integration.test_waves import QUOTA, client, current, drawn, fresh_client, tick

__all__ = ["client", "fresh_client"]  # the fixture, shared with the wave tests


def test_publication_activates_each_accepted_member_once(client: Any, registry_service: RegistryServer) -> None:
    # Given a wave of 7 drawn for a quota of 4
    answers, wave = drawn(client, registry_service, 7, seed=77)
    # When it is published, and published again
    tick(dt.datetime.fromisoformat(wave["publish_at"]))
    run_consumers("publish_consumer", "notification_consumer")
    selection.publish(1)
    run_consumers("publish_consumer")
    # Then each accepted applicant is an ACTIVE member holding the balance, its card, and one GRANT entry
    balance = settings().training_balance
    accepted = [a for a in (applicants.find(x["applicant_id"]) for x in answers) if a and a.status == "ACCEPTED"]
    assert len(accepted) == QUOTA
    for applicant in accepted:
        member = members.find(applicant.applicant_id)
        assert member is not None and applicant.accepted_at is not None
        assert member.state is MembershipState.ACTIVE and member.card_number == applicant.card_number
        assert member.balance == balance and member.totals.identity_holds()
        assert member.first_purchase_deadline == applicant.accepted_at + dt.timedelta(
            days=settings().first_purchase_days
        )
        assert members.entries(applicant.applicant_id) == [("grant", LedgerKind.GRANT, balance, member.accepted_at)]
        assert members.find_by_card(applicant.card_number or "") == member
    # The others are no members; the programme's totals and the funnel count each member once
    for answer in answers:
        if answer["applicant_id"] not in {a.applicant_id for a in accepted}:
            assert members.find(answer["applicant_id"]) is None
    assert members.ledger_totals()[LedgerKind.GRANT] == QUOTA * balance
    counted = funnel.funnel_totals([FunnelStage.ACCEPTED, FunnelStage.ACTIVATED])
    assert counted == {FunnelStage.ACCEPTED: QUOTA, FunnelStage.ACTIVATED: QUOTA}
    # The wave's cohort lists exactly its members, across the shards
    cohort = [m.applicant_id for shard in range(members.COHORT_SHARDS) for m in members.cohort(1, shard)[0]]
    assert sorted(cohort) == sorted(a.applicant_id for a in accepted)
    assert current(client)["number"] == 2
