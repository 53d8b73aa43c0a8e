"""Synthetic Indonesians for local runs and tests: valid NIKs and KKs across real regencies, plausible names.

Everything is drawn from a seeded `random.Random`, so a population is reproducible from its seed.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import asdict, dataclass, replace
from typing import Any

from functions.domain.eligibility import IneligibleReason, NikReason
from functions.domain.identity import FEMALE_DAY_OFFSET, Region, all_regions
from functions.domain.lifecycle import Status
from functions.domain.payments import AccountRejection

GIVEN_NAMES_M = [
    "Budi",
    "Agus",
    "Andi",
    "Bambang",
    "Dedi",
    "Eko",
    "Fajar",
    "Hendra",
    "Irfan",
    "Joko",
    "Rizky",
    "Wahyu",
    "Yusuf",
    "Ahmad",
    "Dimas",
    "Gilang",
    "Hadi",
    "Kurniawan",
    "Made",
    "Putu",
    "Arif",
    "Bayu",
    "Teguh",
    "Rahmat",
]
GIVEN_NAMES_F = [
    "Siti",
    "Dewi",
    "Sri",
    "Ayu",
    "Fitri",
    "Indah",
    "Lestari",
    "Nur",
    "Putri",
    "Rina",
    "Wulan",
    "Yuni",
    "Ani",
    "Dian",
    "Eka",
    "Intan",
    "Kartika",
    "Maya",
    "Novi",
    "Ratna",
    "Sari",
    "Tri",
    "Wati",
    "Nyoman",
]
FAMILY_NAMES = [
    "Santoso",
    "Wijaya",
    "Pratama",
    "Saputra",
    "Hidayat",
    "Nugroho",
    "Setiawan",
    "Siregar",
    "Nasution",
    "Simanjuntak",
    "Lubis",
    "Harahap",
    "Gunawan",
    "Kusuma",
    "Halim",
    "Susanto",
    "Rahayu",
    "Purnomo",
    "Sinaga",
    "Tanjung",
    "Hutapea",
    "Wibowo",
    "Permana",
    "Firmansyah",
    "Syahputra",
    "O'Neil",
    "Al-Fatih",
]
MOBILE_PREFIXES = ["0811", "0812", "0813", "0821", "0822", "0852", "0853", "0857", "0858", "0878", "0896", "0899"]
EMAIL_DOMAINS = ["gmail.com", "yahoo.co.id", "outlook.com", "mail.id"]
EMPLOYMENT = ["laid_off", "furloughed", "job_seeker", "micro_business", "employed"]


@dataclass(frozen=True)
class Person:
    nik: str
    kk_number: str
    full_name: str
    birth_date: str
    gender: str
    email: str
    phone: str
    regency_code: str
    employment_status: str
    receives_social_aid: bool

    def registration(self) -> dict[str, Any]:
        """The `POST /registrations` body for this person."""
        return asdict(self)

    def but(self, **changes: Any) -> Person:
        return replace(self, **changes)


def nik_for(region: Region, district: int, birth: dt.date, gender: str, serial: int) -> str:
    day = birth.day + (FEMALE_DAY_OFFSET if gender == "F" else 0)
    return f"{region.regency_code}{district:02d}{day:02d}{birth.month:02d}{birth.year % 100:02d}{serial:04d}"


def kk_for(region: Region, district: int, issued: dt.date, serial: int) -> str:
    return f"{region.regency_code}{district:02d}{issued.day:02d}{issued.month:02d}{issued.year % 100:02d}{serial:04d}"


class PopulationGenerator:
    def __init__(self, seed: int = 2020, today: dt.date | None = None) -> None:
        self.random = random.Random(seed)
        self.today = today or dt.date.today()
        self.regions = all_regions()
        # A random start keeps two generators (two tests on one stack) from minting the same phones and emails.
        self._serial = self.random.randrange(10**7)

    def _next_serial(self) -> int:
        # Serials are unique within a generator, so NIKs, emails and phones never clash by accident.
        self._serial += 1
        return self._serial

    def birth_date(self, age_low: int = 18, age_high: int = 64) -> dt.date:
        # Ages are kept away from the edges by a day, so "age N" stays N whatever day the tests run.
        earliest = self.today.replace(year=self.today.year - age_high - 1) + dt.timedelta(days=2)
        latest = self.today.replace(year=self.today.year - age_low) - dt.timedelta(days=2)
        return earliest + dt.timedelta(days=self.random.randrange((latest - earliest).days))

    def family(self) -> str:
        region = self.random.choice(self.regions)
        issued = self.today - dt.timedelta(days=self.random.randrange(365, 365 * 15))
        return kk_for(region, self.random.randint(1, 30), issued, self._next_serial() % 9999 + 1)

    def person(
        self,
        *,
        kk_number: str | None = None,
        birth_date: dt.date | None = None,
        gender: str | None = None,
        employment_status: str | None = None,
        receives_social_aid: bool | None = None,
    ) -> Person:
        rng = self.random
        region = rng.choice(self.regions)
        gender = gender or rng.choice("MF")
        birth = birth_date or self.birth_date()
        serial = self._next_serial()
        given = rng.choice(GIVEN_NAMES_F if gender == "F" else GIVEN_NAMES_M)
        family_name = rng.choice(FAMILY_NAMES)
        handle = f"{given}.{family_name}".lower().replace("'", "").replace("-", "")
        return Person(
            nik=nik_for(region, rng.randint(1, 30), birth, gender, serial % 9999 + 1),
            kk_number=kk_number or self.family(),
            full_name=f"{given} {family_name}",
            birth_date=birth.isoformat(),
            gender=gender,
            email=f"{handle}{serial}@{rng.choice(EMAIL_DOMAINS)}",
            phone=f"{rng.choice(MOBILE_PREFIXES)}{serial % 10**8:08d}",
            regency_code=region.regency_code if rng.random() < 0.8 else rng.choice(self.regions).regency_code,
            employment_status=employment_status or rng.choice(EMPLOYMENT),
            receives_social_aid=rng.random() < 0.3 if receives_social_aid is None else receives_social_aid,
        )

    def people(self, count: int) -> list[Person]:
        return [self.person() for _ in range(count)]


def registry_row(person: Person, **overrides: Any) -> dict[str, Any]:
    """The civil registry's record of this person: by default it agrees with what the person will declare."""
    row: dict[str, Any] = {
        "nik": person.nik,
        "kk_number": person.kk_number,
        "full_name": person.full_name,
        "birth_date": person.birth_date,
        "gender": person.gender,
        "occupation": "PRIVATE_EMPLOYEE",
        "student": False,
        "past_recipient": False,
        "social_aid": person.receives_social_aid,
    }
    row.update(overrides)
    return row


@dataclass(frozen=True)
class Shares:
    """How a synthetic population behaves, as fractions of it (defaults shaped by the 2020 reports)."""

    not_in_registry: float = 0.03
    name_differs: float = 0.03
    birth_date_differs: float = 0.02
    barred_occupation: float = 0.04
    student: float = 0.05
    past_recipient: float = 0.02
    too_young: float = 0.02
    too_old: float = 0.01
    social_aid: float = 0.30
    in_large_family: float = 0.15  # shares a family card with two to three others
    never_verify_email: float = 0.25  # 2020 lost about a quarter of registrants here
    typo_first: float = 0.03  # first submission has a mistake (400), then corrected
    submits_twice: float = 0.02  # registers again once confirmed (ends REJECTED, a duplicate)


BARRED_EXAMPLES = [
    "ASN",
    "TNI",
    "POLRI",
    "DPRD",
    "VILLAGE_HEAD",
    "VILLAGE_OFFICIAL",
    "BUMN_DIRECTOR",
    "BUMD_COMMISSIONER",
]


@dataclass(frozen=True)
class Planned:
    """One synthetic applicant: who they are, what the registry says, how they behave, where they should end."""

    person: Person
    registry: dict[str, Any] | None
    verifies_email: bool
    typo_first: bool
    submits_twice: bool
    expected_status: str  # once verification has run: ELIGIBLE, INELIGIBLE, NIK_REJECTED or REGISTERED
    expected_reason: str | None


def plan_population(count: int, seed: int = 2020, shares: Shares | None = None) -> list[Planned]:
    """A reproducible population: every outcome in its share, several family cards shared, typos, duplicates."""
    shares = shares or Shares()
    people = PopulationGenerator(seed)
    rng = people.random
    family_cards: list[str] = []
    planned: list[Planned] = []
    for _ in range(count):
        kk = None
        if family_cards and rng.random() < shares.in_large_family:
            kk = rng.choice(family_cards[-20:])
        roll = rng.random()
        birth = None
        cuts = [
            ("too_young", shares.too_young),
            ("too_old", shares.too_old),
        ]
        age_roll = rng.random()
        if age_roll < cuts[0][1]:
            birth = people.birth_date(15, 17)
        elif age_roll < cuts[0][1] + cuts[1][1]:
            birth = people.birth_date(65, 75)
        person = people.person(kk_number=kk, birth_date=birth)
        if kk is None and rng.random() < shares.in_large_family:
            family_cards.append(person.kk_number)
        plain = registry_row(person, social_aid=rng.random() < shares.social_aid)
        bands = [
            ("not_in_registry", shares.not_in_registry),
            ("name_differs", shares.name_differs),
            ("birth_date_differs", shares.birth_date_differs),
            ("barred_occupation", shares.barred_occupation),
            ("student", shares.student),
            ("past_recipient", shares.past_recipient),
        ]
        edge = 0.0
        kind = "plain"
        for name, share in bands:
            edge += share
            if roll < edge:
                kind = name
                break
        registry, outcome = _registry_variant(kind, person, plain, birth is not None, rng)
        verifies = rng.random() >= shares.never_verify_email
        planned.append(
            Planned(
                person=person,
                registry=registry,
                verifies_email=verifies,
                typo_first=rng.random() < shares.typo_first,
                submits_twice=rng.random() < shares.submits_twice,
                expected_status=str(outcome[0] if verifies else Status.REGISTERED),
                expected_reason=str(outcome[1]) if verifies and outcome[1] else None,
            )
        )
    return planned


def _registry_variant(
    kind: str, person: Person, registry: dict[str, Any], out_of_age: bool, rng: random.Random
) -> tuple[dict[str, Any] | None, tuple[str, str | None]]:
    """The registry's record for one kind of applicant, and the outcome it leads to (in the rules' order)."""
    if kind == "not_in_registry":
        return None, (Status.NIK_REJECTED, NikReason.NOT_FOUND)
    if kind == "name_differs":
        return {**registry, "full_name": person.full_name + " Putra"}, (Status.NIK_REJECTED, NikReason.MISMATCH)
    if kind == "birth_date_differs":
        moved = dt.date.fromisoformat(person.birth_date) - dt.timedelta(days=400)
        return {**registry, "birth_date": moved.isoformat()}, (Status.NIK_REJECTED, NikReason.MISMATCH)
    if kind == "barred_occupation":
        barred = {**registry, "occupation": rng.choice(BARRED_EXAMPLES)}
        return barred, (Status.INELIGIBLE, IneligibleReason.BARRED_OCCUPATION)
    if out_of_age:
        return registry, (Status.INELIGIBLE, IneligibleReason.AGE)
    if kind == "student":
        return {**registry, "student": True}, (Status.INELIGIBLE, IneligibleReason.STUDENT)
    if kind == "past_recipient":
        return {**registry, "past_recipient": True}, (Status.INELIGIBLE, IneligibleReason.PAST_RECIPIENT)
    return registry, (Status.ELIGIBLE, None)


# --- after acceptance ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberShares:
    """How members behave once accepted, as fractions (2020 revoked about a quarter of waves 1-10 for not buying)."""

    never_buys: float = 0.12  # revoked on day 30
    cancels_first: float = 0.10  # the first training is cancelled after confirmation, and refunded
    buys_again_after_cancel: float = 0.5  # of those who cancelled: the others are revoked on day 30
    buys_two: float = 0.2  # of those who buy
    completes: float = 0.85  # each training kept
    reviews: float = 0.8  # each training completed
    # Of those who earn incentives: a first payout account the provider refuses (then a good one), and members who
    # become barred (a civil servant now, or a student) after the first incentive, so the next is HELD.
    name_mismatch: float = 0.08
    not_kyc: float = 0.06
    becomes_barred: float = 0.04


@dataclass(frozen=True)
class Training:
    """One training a member buys through a partner: confirmed with the member's code, then perhaps cancelled
    (refunded), or completed and perhaps reviewed."""

    course_id: str
    course_title: str
    price: int  # whole rupiah
    cancelled: bool = False
    completed: bool = False
    rating: int | None = None  # the member's review, if any
    minimum_hours: int = 1  # the course's, as its partner lists it

    @property
    def kept(self) -> bool:
        return not self.cancelled

    @property
    def listing_id(self) -> str:
        """The course at this price in its partner's catalogue: prices vary as the platforms' packages did, and a
        partner sells each package at the one price it lists. The price follows "rp", so that the id never reads
        as a six-digit code on its own (the leak checks look for the codes sent in every log)."""
        return f"{self.course_id}-rp{self.price}"


@dataclass(frozen=True)
class MemberPlan:
    """What one member does with the card: which partner sells to it, and the trainings in the order bought."""

    partner: int  # an index into the run's partners
    trainings: tuple[Training, ...]
    first_account_refused: AccountRejection | None = None  # the first payout account's verdict; then a good one
    becomes_barred: dict[str, Any] | None = None  # the registry's change after the first incentive, if any

    @property
    def earns_incentives(self) -> bool:
        """Reviews a training, which it completed: the first incentive's condition besides a verified account."""
        return self.reviewed

    @property
    def purchased(self) -> bool:
        return bool(self.trainings)

    @property
    def completed(self) -> bool:
        return any(t.completed for t in self.trainings)

    @property
    def reviewed(self) -> bool:
        return any(t.rating is not None for t in self.trainings)

    @property
    def keeps_a_training(self) -> bool:
        """Holds a confirmed training at the deadline: the membership survives it."""
        return any(t.kept for t in self.trainings)

    def spent(self) -> int:
        return sum(t.price for t in self.trainings if t.kept)


# Each with its minimum hours, as its partner lists it: a completion is reported no sooner after the purchase.
COURSES = [
    ("digital-marketing", "Pemasaran Digital untuk UMKM", 6),
    ("barista", "Menjadi Barista Profesional", 4),
    ("excel", "Microsoft Excel untuk Administrasi Perkantoran", 5),
    ("tailoring", "Menjahit Busana Muslim", 8),
    ("english", "Bahasa Inggris untuk Pelayanan Hotel", 6),
    ("web-dev", "Dasar Pemrograman Web", 8),
    ("bookkeeping", "Pembukuan Sederhana untuk Usaha Kecil", 3),
    ("photography", "Fotografi Produk dengan Ponsel", 2),
]
# How the registry's record of a member changes when the member becomes barred after acceptance.
BARRED_LATER: list[dict[str, Any]] = [{"occupation": "ASN"}, {"student": True}]
# Prices vary as the platforms' did, in steps of Rp500; a second training is paid from what the first left.
PRICE_STEP = 500


def plan_member(seed: int, member: int, balance: int, partners: int, shares: MemberShares | None = None) -> MemberPlan:
    """One member's behaviour, reproducible from the run's seed and the member's place in the population, whoever
    the draw turns out to accept; `balance` is what acceptance granted."""
    shares = shares or MemberShares()
    rng = random.Random(f"{seed}/member/{member}")
    partner = rng.randrange(partners)
    # A stream of its own, so that the trainings planned stay what they were before payout accounts were planned.
    payouts = random.Random(f"{seed}/payout/{member}")
    refusal_roll, barred_roll = payouts.random(), payouts.random()
    refused = (
        AccountRejection.NAME_MISMATCH
        if refusal_roll < shares.name_mismatch
        else AccountRejection.NOT_KYC
        if refusal_roll < shares.name_mismatch + shares.not_kyc
        else None
    )
    barred = payouts.choice(BARRED_LATER) if barred_roll < shares.becomes_barred else None

    def plan(trainings: list[Training]) -> MemberPlan:
        return MemberPlan(partner, tuple(trainings), refused, barred)

    if rng.random() < shares.never_buys:
        return plan([])
    trainings: list[Training] = []
    left = balance

    def buy(cancelled: bool, share_of_what_is_left: float) -> None:
        nonlocal left
        course_id, title, hours = rng.choice(COURSES)
        price = max(PRICE_STEP, int(left * share_of_what_is_left) // PRICE_STEP * PRICE_STEP)
        if cancelled:
            trainings.append(Training(course_id, title, price, cancelled=True, minimum_hours=hours))
            return
        completed = rng.random() < shares.completes
        rating = rng.randint(1, 5) if completed and rng.random() < shares.reviews else None
        trainings.append(Training(course_id, title, price, completed=completed, rating=rating, minimum_hours=hours))
        left -= price

    if rng.random() < shares.cancels_first:
        buy(cancelled=True, share_of_what_is_left=rng.uniform(0.1, 0.9))
        if rng.random() >= shares.buys_again_after_cancel:
            return plan(trainings)
    buy(cancelled=False, share_of_what_is_left=rng.uniform(0.1, 0.6))
    if rng.random() < shares.buys_two:
        buy(cancelled=False, share_of_what_is_left=rng.uniform(0.2, 1.0))
    return plan(trainings)
