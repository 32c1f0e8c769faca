"""Small repositories over one AsyncSession. They never commit: the update's transaction does.

One module per aggregate; import them from here.
"""

from storage.repositories.alerts import BroadcastRepo, SubscriptionRepo
from storage.repositories.baddates import REPORT_PREFIX, BadDateRepo
from storage.repositories.desk import DeskRepo
from storage.repositories.inbox import InboxRepo
from storage.repositories.keys import KeyRepo
from storage.repositories.leases import LeaseRepo
from storage.repositories.members import PSEUDONYM_ALPHABET, MemberRepo, new_public_id
from storage.repositories.referrals import (
    REFERRAL_PREFIX,
    GroupRepo,
    OutboxRepo,
    ReferralRepo,
    new_referral_code,
)
from storage.repositories.safety import SafetyRepo

__all__ = [
    "PSEUDONYM_ALPHABET",
    "REFERRAL_PREFIX",
    "REPORT_PREFIX",
    "BadDateRepo",
    "BroadcastRepo",
    "DeskRepo",
    "GroupRepo",
    "InboxRepo",
    "KeyRepo",
    "LeaseRepo",
    "MemberRepo",
    "OutboxRepo",
    "ReferralRepo",
    "SafetyRepo",
    "SubscriptionRepo",
    "new_public_id",
    "new_referral_code",
]
