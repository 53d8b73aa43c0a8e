"""What applicants are told, in the programme's language (Bahasa Indonesia): one model per notice, which is also its
message on the notification queues (`kind` tells them apart). Each notice knows the channels it goes by and renders
its own text, so a new notice is a new class (and its place in `Code` or `Told`). Every rule value in a text (the
age range, a code's life) is passed in by the caller, from the settings; none is written here. And the limits the
API's refusals state."""

from __future__ import annotations

import datetime as dt
from abc import abstractmethod
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from functions.domain.membership import plain_title

Channel = Literal["email", "sms"]
EMAIL: tuple[Channel, ...] = ("email",)
EMAIL_AND_SMS: tuple[Channel, ...] = ("email", "sms")


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str


class TextRules(Protocol):
    """The rule values the texts state (`functions.settings.Settings` holds them all)."""

    @property
    def min_age(self) -> int: ...
    @property
    def max_age(self) -> int: ...
    @property
    def first_purchase_days(self) -> int: ...
    @property
    def email_code_ttl_seconds(self) -> int: ...
    @property
    def sign_in_code_ttl_seconds(self) -> int: ...
    @property
    def purchase_code_ttl_seconds(self) -> int: ...
    @property
    def payout_account_code_ttl_seconds(self) -> int: ...


_REASONS = {
    "NOT_FOUND": "NIK Anda tidak ditemukan di data kependudukan (Dukcapil).",
    "MISMATCH": "Nama atau tanggal lahir tidak sesuai dengan data kependudukan (Dukcapil).",
    "BARRED_OCCUPATION": "Pekerjaan Anda menurut data kependudukan tidak termasuk penerima program.",
    "AGE": "Usia Anda di luar batas usia program ({min_age}-{max_age} tahun).",
    "STUDENT": "Peserta didik pendidikan formal tidak termasuk penerima program.",
    "PAST_RECIPIENT": "Anda sudah pernah menerima Kartu Prakerja.",
    # The registry confirmed these details for an account that already holds the NIK: how to report "this was not me".
    "DUPLICATE_NIK": "NIK Anda sudah terdaftar pada akun lain. Jika akun itu bukan milik Anda, laporkan ke layanan "
    "pengaduan Kartu Prakerja atau Disnaker setempat dengan membawa KTP dan KK Anda.",
}
_CONTACTS = {"email": "alamat email", "phone": "nomor ponsel"}
_HELD = {
    "NOT_FOUND": "NIK Anda tidak lagi ditemukan di data kependudukan (Dukcapil).",
    "MISMATCH": "Data Anda tidak lagi sesuai dengan data kependudukan (Dukcapil).",
    "BARRED_OCCUPATION": "Pekerjaan Anda menurut data kependudukan kini tidak termasuk penerima program.",
    "STUDENT": "Anda kini tercatat sebagai peserta didik pendidikan formal.",
    "PAST_RECIPIENT": "Anda tercatat sebagai penerima yang tidak berhak atas insentif.",
}
# What the member can do about a payment the provider refused (never the account's number).
_TO_FIX = {
    "NOT_FOUND": "Rekening atau akun e-wallet tujuan tidak ditemukan. Periksa dan ganti rekening pembayaran Anda.",
    "NIK_MISMATCH": "Rekening tujuan tidak atas NIK Anda. Gunakan rekening atas nama Anda sendiri.",
    "NAME_MISMATCH": "Nama pemilik rekening tidak sesuai. Gunakan rekening atas nama Anda sendiri.",
    "NOT_KYC": "Akun e-wallet Anda belum terverifikasi (KYC/premium). Selesaikan verifikasinya di aplikasi "
    "penyedia, lalu simpan kembali rekening pembayaran Anda.",
    "BLOCKED": "Rekening tujuan diblokir. Hubungi penyedianya atau ganti rekening pembayaran Anda.",
}
_ACCOUNT_REJECTIONS = {
    "NOT_FOUND": "Rekening atau akun e-wallet tersebut tidak ditemukan.",
    "NIK_MISMATCH": "NIK pemilik rekening tidak sama dengan NIK Anda.",
    "NAME_MISMATCH": "Nama pemilik rekening tidak sama dengan nama Anda.",
    "NOT_KYC": "Akun tersebut belum terverifikasi (KYC/premium); selesaikan verifikasinya di penyedia akun.",
    "BLOCKED": "Akun tersebut diblokir oleh penyedianya.",
}


def rupiah(amount: int) -> str:
    """1000000 -> 'Rp1.000.000' (Indonesian thousands separators)."""
    return "Rp" + f"{amount:,}".replace(",", ".")


class _Notice(BaseModel):
    # Built on first use: the API's cold start makes one or two kinds of notice, not all of them.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    applicant_id: str  # whom it is for

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL


# --- one-time codes: on the code queue, ahead of any backlog of other notices; each sent by its own service --------


class CodeNotice(_Notice):
    """Asks for a code to be sent, at most once and only while it is current. Its text is rendered at delivery,
    with the code opened there (never on the queue in clear)."""

    def details(self, code: str) -> dict[str, Any]:
        return {"code": code}


class EmailCode(CodeNotice):
    """Asks for the applicant's current email code to be sent, if it has not been: any number of these for one code
    send it once, and a message older than the code sends the new one. It carries no code."""

    kind: Literal["email_code"] = "email_code"

    def render(self, code: str, rules: TextRules) -> Rendered:
        return Rendered(
            "Kode verifikasi Kartu Prakerja",
            f"Kode verifikasi Anda: {code}. Berlaku {rules.email_code_ttl_seconds // 3600} jam. Jangan berikan kode "
            "ini kepada siapa pun.",
        )


class SignInCode(CodeNotice):
    """A code to sign in again (a new access token), emailed to the verified email while it is still the current
    one (`code_id`); it travels sealed to the applicant. The member who did not ask is told what to do."""

    kind: Literal["sign_in_code"] = "sign_in_code"
    code_id: str
    sealed_code: str

    def render(self, code: str, rules: TextRules) -> Rendered:
        return Rendered(
            "Kode masuk Kartu Prakerja",
            f"Kode masuk akun Kartu Prakerja Anda: {code}. Berlaku {rules.sign_in_code_ttl_seconds // 60} menit. "
            "Jangan berikan kode ini kepada siapa pun. Jika Anda tidak memintanya, abaikan pesan ini.",
        )


class PurchaseCode(CodeNotice):
    """The member's consent to a purchase: the purchase's code goes to the member, who gives it to the partner's
    checkout. It names the partner asking (its display name, set by operators) and shows nothing a partner wrote
    but the catalogue title, reduced to letters, digits and basic punctuation (no link can ride on it)."""

    kind: Literal["purchase_code"] = "purchase_code"
    purchase_id: str

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS

    def details(self, code: str) -> dict[str, Any]:
        return {"purchase_id": self.purchase_id, "code": code}

    def render(self, code: str, rules: TextRules, *, partner_name: str, course_title: str, price: int) -> Rendered:
        return Rendered(
            "Kode persetujuan pembelian pelatihan Kartu Prakerja",
            f'Kode persetujuan Anda: {code} untuk pembelian pelatihan "{plain_title(course_title)}" oleh mitra '
            f"{partner_name} seharga {rupiah(price)}. Berlaku {rules.purchase_code_ttl_seconds // 60} menit. Berikan "
            f"kode ini hanya di halaman pembayaran {partner_name}; abaikan jika Anda tidak sedang membeli pelatihan.",
        )


class PayoutAccountCode(CodeNotice):
    """The member's current code to change its payout account: a change needs this code too, so whoever holds
    only the access token (an agent who registered the member) cannot redirect the incentives."""

    kind: Literal["payout_account_code"] = "payout_account_code"

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS

    def render(self, code: str, rules: TextRules) -> Rendered:
        return Rendered(
            "Kode perubahan rekening pembayaran Kartu Prakerja",
            f"Kode untuk mengubah rekening pembayaran insentif Anda: {code}. Berlaku "
            f"{rules.payout_account_code_ttl_seconds // 60} menit. Jika Anda tidak sedang mengubah rekening, abaikan "
            "pesan ini dan jangan berikan kode ini kepada siapa pun.",
        )


# --- everything else: delivered once by its id (the applicant's record notes it) -----------------------------------


class ToldNotice(_Notice):
    @property
    @abstractmethod
    def notification_id(self) -> str:
        """Says which happening it tells of: a redelivered or repeated notice with the same id is not sent again."""

    @abstractmethod
    def render(self, rules: TextRules) -> Rendered: ...

    @abstractmethod
    def details(self) -> dict[str, Any]:
        """What the outbox shows with the text."""


class NikResult(ToldNotice):
    """The NIK check's outcome; an `AGE` refusal states the programme's age range."""

    kind: Literal["nik_result"] = "nik_result"
    status: str
    reason: str | None = None

    @property
    def notification_id(self) -> str:
        return f"nik_result:{self.applicant_id}"

    def details(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason}

    def render(self, rules: TextRules) -> Rendered:
        if self.status == "ELIGIBLE":
            return Rendered(
                "NIK Anda terverifikasi",
                "NIK Anda terverifikasi dan Anda memenuhi syarat. Silakan bergabung dengan gelombang yang sedang "
                "dibuka.",
            )
        explanation = _REASONS.get(self.reason or "", "Data Anda tidak dapat diverifikasi.").format(
            min_age=rules.min_age, max_age=rules.max_age
        )
        return Rendered("Hasil verifikasi NIK", f"Mohon maaf, pendaftaran Anda tidak dapat dilanjutkan. {explanation}")


class ClaimReleased(ToldNotice):
    """To the registration whose NIK claim an operator released (once: its holder ends REJECTED): which
    registration (its id, nothing personal), and where to object or ask."""

    kind: Literal["claim_released"] = "claim_released"

    @property
    def notification_id(self) -> str:
        return f"claim_released:{self.applicant_id}"

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS  # a registration ended by an operator must not go unseen

    def details(self) -> dict[str, Any]:
        return {}

    def render(self, rules: TextRules) -> Rendered:
        return Rendered(
            "Pendaftaran Kartu Prakerja Anda dihentikan",
            f"Pendaftaran Kartu Prakerja Anda (nomor pendaftaran {self.applicant_id}) dihentikan karena pemilik NIK "
            "yang Anda daftarkan telah membuktikan identitasnya kepada pengelola program. Jika NIK tersebut milik "
            "Anda, ajukan keberatan melalui layanan pengaduan Kartu Prakerja atau Dinas Tenaga Kerja setempat dengan "
            "menyebutkan nomor pendaftaran ini.",
        )


class RegistrationAttempt(ToldNotice):
    """To the holder of an email or phone that another registration (`attempt_id`, never shown) named: that it was
    tried and refused, once per attempting registration. Nothing of the other registration (who, its NIK, its
    other contacts) is told."""

    kind: Literal["registration_attempt"] = "registration_attempt"
    attempt_id: str
    named: tuple[str, ...]  # which of the holder's contacts ("email", "phone") it named

    @property
    def notification_id(self) -> str:
        return f"registration_attempt:{self.attempt_id}"

    def channels(self) -> tuple[Channel, ...]:
        # Told where it was named: a phone another registration named hears of it on the phone too.
        return EMAIL_AND_SMS if "phone" in self.named else EMAIL

    def details(self) -> dict[str, Any]:
        return {"named": list(self.named)}

    def render(self, rules: TextRules) -> Rendered:
        what = " dan ".join(_CONTACTS[kind] for kind in self.named)
        return Rendered(
            "Percobaan pendaftaran Kartu Prakerja dengan data Anda",
            f"Seseorang mencoba mendaftar Kartu Prakerja dengan {what} Anda. Pendaftaran itu ditolak dan akun Anda "
            "tidak berubah. Jika itu bukan Anda, jangan berikan kode apa pun kepada siapa pun dan hubungi layanan "
            "pengaduan Kartu Prakerja.",
        )


class Acceptance(ToldNotice):
    """Never the card number: it is shown only on the official status page (scam sites and agents lived on results
    sent elsewhere), and this text says so."""

    kind: Literal["acceptance"] = "acceptance"
    wave: int

    @property
    def notification_id(self) -> str:
        return f"acceptance:{self.applicant_id}:{self.wave}"

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS  # the result matters enough to reach the phone too (never the card number)

    def details(self) -> dict[str, Any]:
        return {"wave": self.wave}

    def render(self, rules: TextRules) -> Rendered:
        return Rendered(
            f"Selamat! Anda diterima di Kartu Prakerja gelombang {self.wave}",
            f"Selamat, Anda lolos seleksi gelombang {self.wave}. Nomor Kartu Prakerja Anda hanya ada di halaman "
            "status akun Anda di situs resmi; jangan berikan kepada siapa pun. Masuk ke akun Anda untuk memilih "
            "pelatihan.",
        )


class NotSelected(ToldNotice):
    kind: Literal["not_selected"] = "not_selected"
    wave: int

    @property
    def notification_id(self) -> str:
        return f"not_selected:{self.applicant_id}:{self.wave}"

    def details(self) -> dict[str, Any]:
        return {"wave": self.wave, "next_wave": self.wave + 1}

    def render(self, rules: TextRules) -> Rendered:
        return Rendered(
            f"Hasil seleksi gelombang {self.wave}",
            f"Anda belum lolos seleksi gelombang {self.wave}. Anda otomatis diikutkan pada gelombang {self.wave + 1} "
            "tanpa perlu mendaftar ulang.",
        )


class MembershipRevoked(ToldNotice):
    """A revoked membership (revoked once, so one notice per member): why, and that the balance went back to the
    programme. Never the card number."""

    kind: Literal["membership_revoked"] = "membership_revoked"
    reason: str

    @property
    def notification_id(self) -> str:
        return f"membership_revoked:{self.applicant_id}"

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS  # the balance is gone: the member hears of it on the phone too

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason}

    def render(self, rules: TextRules) -> Rendered:
        if self.reason == "NO_PURCHASE_IN_TIME":
            why = f"Anda tidak membeli pelatihan pertama dalam {rules.first_purchase_days} hari setelah diterima."
        else:
            why = "pengelola program menemukan pelanggaran ketentuan program."
        return Rendered(
            "Kepesertaan Kartu Prakerja Anda dicabut",
            f"Kepesertaan Kartu Prakerja Anda dicabut karena {why} Saldo pelatihan Anda yang belum terpakai "
            "dikembalikan kepada negara.",
        )


class PayoutAccountChanged(ToldNotice):
    """Sent on every change (one notice per change: each has its own `check_id`): a change the member did not make
    is an account takeover, and this is how the member hears of it. Only the last 4 digits of the number."""

    kind: Literal["payout_account_changed"] = "payout_account_changed"
    check_id: str
    provider: str
    last4: str

    @property
    def notification_id(self) -> str:
        return f"payout_account_changed:{self.check_id}"

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS  # a change the member did not make is a takeover: it must not go unseen

    def details(self) -> dict[str, Any]:
        return {"provider": self.provider, "last4": self.last4}

    def render(self, rules: TextRules) -> Rendered:
        return Rendered(
            "Rekening pembayaran insentif Kartu Prakerja Anda diubah",
            f"Rekening pembayaran insentif Anda diubah ke {self.provider} dengan nomor berakhiran {self.last4}; kami "
            "sedang memeriksanya. Jika bukan Anda yang mengubahnya, segera ganti rekening di akun Anda dan hubungi "
            "layanan pengaduan Kartu Prakerja.",
        )


class PayoutAccountChecked(ToldNotice):
    """The provider's verdict on the account, one per change: verified, or why it cannot be paid into and what to
    do."""

    kind: Literal["payout_account_checked"] = "payout_account_checked"
    check_id: str
    provider: str
    last4: str
    status: str
    reason: str | None = None

    @property
    def notification_id(self) -> str:
        return f"payout_account_checked:{self.check_id}"

    def details(self) -> dict[str, Any]:
        return {"provider": self.provider, "last4": self.last4, "status": self.status, "reason": self.reason}

    def render(self, rules: TextRules) -> Rendered:
        account = f"{self.provider} berakhiran {self.last4}"
        if self.status == "VERIFIED":
            return Rendered(
                "Rekening pembayaran insentif terverifikasi",
                f"Rekening {account} terverifikasi. Insentif Kartu Prakerja Anda akan dibayarkan ke rekening ini.",
            )
        why = _ACCOUNT_REJECTIONS.get(self.reason or "", "Rekening tersebut tidak dapat diverifikasi.")
        return Rendered(
            "Rekening pembayaran insentif ditolak",
            f"Rekening {account} tidak dapat digunakan. {why} Silakan daftarkan rekening atas nama dan NIK Anda "
            "sendiri.",
        )


class IncentivePaid(ToldNotice):
    """A payment is paid once, so one notice per payment."""

    kind: Literal["incentive_paid"] = "incentive_paid"
    payment_id: str
    number: int
    amount: int

    @property
    def notification_id(self) -> str:
        return f"incentive_paid:{self.payment_id}"

    def details(self) -> dict[str, Any]:
        return {"number": self.number, "amount": self.amount}

    def render(self, rules: TextRules) -> Rendered:
        return Rendered(
            f"Insentif Kartu Prakerja ke-{self.number} telah dibayarkan",
            f"Insentif ke-{self.number} sebesar {rupiah(self.amount)} telah dikirim ke rekening pembayaran Anda.",
        )


class _IncentiveNotPaid(ToldNotice):
    payment_id: str
    number: int
    reason: str

    def channels(self) -> tuple[Channel, ...]:
        return EMAIL_AND_SMS  # money the member counted on is not coming: the phone hears of it too

    def details(self) -> dict[str, Any]:
        return {"number": self.number, "reason": self.reason}


class IncentiveHeld(_IncentiveNotPaid):
    """A payment held by the screening before it: why, in the registry's terms."""

    kind: Literal["incentive_held"] = "incentive_held"

    @property
    def notification_id(self) -> str:
        return f"incentive_held:{self.payment_id}"

    def render(self, rules: TextRules) -> Rendered:
        explanation = _HELD.get(self.reason, "Data Anda tidak lagi memenuhi syarat program.")
        return Rendered(
            f"Insentif Kartu Prakerja ke-{self.number} ditahan",
            f"Insentif ke-{self.number} tidak dapat dibayarkan. {explanation} Hubungi layanan Kartu Prakerja bila "
            "data tersebut keliru.",
        )


class IncentiveFailed(_IncentiveNotPaid):
    """A payment the provider refused: what to fix; it is sent again once the account is verified again. One
    notice per attempt: a payment that fails again after the account changed is told again."""

    kind: Literal["incentive_failed"] = "incentive_failed"
    attempt: int

    @property
    def notification_id(self) -> str:
        return f"incentive_failed:{self.payment_id}:{self.attempt}"

    def render(self, rules: TextRules) -> Rendered:
        fix = _TO_FIX.get(self.reason, "Periksa rekening pembayaran Anda.")
        return Rendered(
            f"Insentif Kartu Prakerja ke-{self.number} gagal dikirim",
            f"Insentif ke-{self.number} gagal dikirim. {fix} Insentif akan dikirim ulang setelah rekening Anda "
            "terverifikasi.",
        )


# What each queue's consumer reads: codes off the code queue, every other notice off the notification queue.
Code: TypeAlias = Annotated[EmailCode | SignInCode | PurchaseCode | PayoutAccountCode, Field(discriminator="kind")]
Told: TypeAlias = Annotated[
    NikResult
    | ClaimReleased
    | RegistrationAttempt
    | Acceptance
    | NotSelected
    | MembershipRevoked
    | PayoutAccountChanged
    | PayoutAccountChecked
    | IncentivePaid
    | IncentiveHeld
    | IncentiveFailed,
    Field(discriminator="kind"),
]
Notice: TypeAlias = Code | Told
TOLD: TypeAdapter[Told] = TypeAdapter(Told, config=ConfigDict(defer_build=True))  # read by the consumer only


# --- the limits the API's refusals state ----------------------------------------------------------------------------

_TIMES = {1: "once", 2: "twice", 3: "three times", 4: "four times", 5: "five times", 6: "six times"}
_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"), (1, "second"))


def _once_every(interval: dt.timedelta) -> str:
    """60 s -> 'once a minute', 300 s -> 'once every 5 minutes'."""
    seconds = max(1, int(interval.total_seconds()))
    size, unit = next((size, unit) for size, unit in _UNITS if seconds % size == 0)
    count = seconds // size
    return f"once {'an' if unit == 'hour' else 'a'} {unit}" if count == 1 else f"once every {count} {unit}s"


def resend_limit(interval: dt.timedelta, per_day: int) -> str:
    """The resend refusal's message: (60 s, 5) -> 'a new code can be sent once a minute and five times a day'."""
    return f"a new code can be sent {_once_every(interval)} and {_TIMES.get(per_day, f'{per_day} times')} a day"


def mailbox_limit(per_hour: int, per_day: int) -> str:
    """The refusal's message when a mailbox has had its code emails: (3, 10) -> 'this mailbox can be sent three
    times an hour and 10 times a day'."""
    hourly, daily = (_TIMES.get(count, f"{count} times") for count in (per_hour, per_day))
    return f"this mailbox can be sent a code {hourly} an hour and {daily} a day"
