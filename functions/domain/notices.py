"""What applicants are told, in the programme's language (Bahasa Indonesia), and the limits the API's refusals
state. Every rule value in a text (the age range, the code's life, the resend limits) is passed in by the caller,
from the settings; none is written here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from functions.domain.membership import plain_title

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


@dataclass(frozen=True)
class Notice:
    subject: str
    text: str


def email_code(code: str, valid_hours: int) -> Notice:
    return Notice(
        "Kode verifikasi Kartu Prakerja",
        f"Kode verifikasi Anda: {code}. Berlaku {valid_hours} jam. Jangan berikan kode ini kepada siapa pun.",
    )


def sign_in_code(code: str, valid_minutes: int) -> Notice:
    """A code to sign in again (a new access token); the member who did not ask is told what to do."""
    return Notice(
        "Kode masuk Kartu Prakerja",
        f"Kode masuk akun Kartu Prakerja Anda: {code}. Berlaku {valid_minutes} menit. Jangan berikan kode ini kepada "
        "siapa pun. Jika Anda tidak memintanya, abaikan pesan ini.",
    )


def claim_released(applicant_id: str) -> Notice:
    """Told to the registration whose NIK claim an operator released: which registration (its id, nothing
    personal), and where to object or ask."""
    return Notice(
        "Pendaftaran Kartu Prakerja Anda dihentikan",
        f"Pendaftaran Kartu Prakerja Anda (nomor pendaftaran {applicant_id}) dihentikan karena pemilik NIK yang "
        "Anda daftarkan telah membuktikan identitasnya kepada pengelola program. Jika NIK tersebut milik Anda, "
        "ajukan keberatan melalui layanan pengaduan Kartu Prakerja atau Dinas Tenaga Kerja setempat dengan "
        "menyebutkan nomor pendaftaran ini.",
    )


_CONTACTS = {"email": "alamat email", "phone": "nomor ponsel"}


def registration_attempt(named: Sequence[str]) -> Notice:
    """To the holder of an email or phone that another registration named: that it was tried and refused. Nothing
    of the other registration (who, its NIK, its other contacts) is told."""
    what = " dan ".join(_CONTACTS[kind] for kind in named)
    return Notice(
        "Percobaan pendaftaran Kartu Prakerja dengan data Anda",
        f"Seseorang mencoba mendaftar Kartu Prakerja dengan {what} Anda. Pendaftaran itu ditolak dan akun Anda "
        "tidak berubah. Jika itu bukan Anda, jangan berikan kode apa pun kepada siapa pun dan hubungi layanan "
        "pengaduan Kartu Prakerja.",
    )


def rupiah(amount: int) -> str:
    """1000000 -> 'Rp1.000.000' (Indonesian thousands separators)."""
    return "Rp" + f"{amount:,}".replace(",", ".")


def purchase_code(code: str, partner_name: str, course_title: str, price: int, valid_minutes: int) -> Notice:
    """The member's consent to a purchase: the code goes to the member, who gives it to the partner's checkout.
    It names the partner asking (its display name, set by operators) and shows nothing a partner wrote but the
    catalogue title, reduced to letters, digits and basic punctuation (no link can ride on it)."""
    return Notice(
        "Kode persetujuan pembelian pelatihan Kartu Prakerja",
        f'Kode persetujuan Anda: {code} untuk pembelian pelatihan "{plain_title(course_title)}" oleh mitra '
        f"{partner_name} seharga {rupiah(price)}. Berlaku {valid_minutes} menit. Berikan kode ini hanya di halaman "
        f"pembayaran {partner_name}; abaikan jika Anda tidak sedang membeli pelatihan.",
    )


def nik_result(status: str, reason: str | None, *, min_age: int, max_age: int) -> Notice:
    """The NIK check's outcome; `min_age` and `max_age` are the programme's age range (an `AGE` refusal states it)."""
    if status == "ELIGIBLE":
        return Notice(
            "NIK Anda terverifikasi",
            "NIK Anda terverifikasi dan Anda memenuhi syarat. Silakan bergabung dengan gelombang yang sedang dibuka.",
        )
    explanation = _REASONS.get(reason or "", "Data Anda tidak dapat diverifikasi.").format(
        min_age=min_age, max_age=max_age
    )
    return Notice("Hasil verifikasi NIK", f"Mohon maaf, pendaftaran Anda tidak dapat dilanjutkan. {explanation}")


def acceptance(wave: int) -> Notice:
    """Never the card number: it is shown only on the official status page (scam sites and agents lived on results
    sent elsewhere), and this text says so."""
    return Notice(
        f"Selamat! Anda diterima di Kartu Prakerja gelombang {wave}",
        f"Selamat, Anda lolos seleksi gelombang {wave}. Nomor Kartu Prakerja Anda hanya ada di halaman status akun "
        "Anda di situs resmi; jangan berikan kepada siapa pun. Masuk ke akun Anda untuk memilih pelatihan.",
    )


def not_selected(wave: int) -> Notice:
    return Notice(
        f"Hasil seleksi gelombang {wave}",
        f"Anda belum lolos seleksi gelombang {wave}. Anda otomatis diikutkan pada gelombang {wave + 1} "
        "tanpa perlu mendaftar ulang.",
    )


def membership_revoked(reason: str, first_purchase_days: int) -> Notice:
    """A revoked membership: why, and that the balance went back to the programme. Never the card number."""
    if reason == "NO_PURCHASE_IN_TIME":
        why = f"Anda tidak membeli pelatihan pertama dalam {first_purchase_days} hari setelah diterima."
    else:
        why = "pengelola program menemukan pelanggaran ketentuan program."
    return Notice(
        "Kepesertaan Kartu Prakerja Anda dicabut",
        f"Kepesertaan Kartu Prakerja Anda dicabut karena {why} Saldo pelatihan Anda yang belum terpakai "
        "dikembalikan kepada negara.",
    )


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


def incentive_paid(number: int, amount: int) -> Notice:
    return Notice(
        f"Insentif Kartu Prakerja ke-{number} telah dibayarkan",
        f"Insentif ke-{number} sebesar Rp{amount:,} telah dikirim ke rekening pembayaran Anda.".replace(",", "."),
    )


def incentive_held(number: int, reason: str) -> Notice:
    """A payment held by the screening before it: why, in the registry's terms."""
    explanation = _HELD.get(reason, "Data Anda tidak lagi memenuhi syarat program.")
    return Notice(
        f"Insentif Kartu Prakerja ke-{number} ditahan",
        f"Insentif ke-{number} tidak dapat dibayarkan. {explanation} Hubungi layanan Kartu Prakerja bila data "
        "tersebut keliru.",
    )


def incentive_failed(number: int, reason: str) -> Notice:
    """A payment the provider refused: what to fix; it is sent again once the account is verified again."""
    fix = _TO_FIX.get(reason, "Periksa rekening pembayaran Anda.")
    return Notice(
        f"Insentif Kartu Prakerja ke-{number} gagal dikirim",
        f"Insentif ke-{number} gagal dikirim. {fix} Insentif akan dikirim ulang setelah rekening Anda terverifikasi.",
    )


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


_ACCOUNT_REJECTIONS = {
    "NOT_FOUND": "Rekening atau akun e-wallet tersebut tidak ditemukan.",
    "NIK_MISMATCH": "NIK pemilik rekening tidak sama dengan NIK Anda.",
    "NAME_MISMATCH": "Nama pemilik rekening tidak sama dengan nama Anda.",
    "NOT_KYC": "Akun tersebut belum terverifikasi (KYC/premium); selesaikan verifikasinya di penyedia akun.",
    "BLOCKED": "Akun tersebut diblokir oleh penyedianya.",
}


def payout_account_code(code: str, valid_minutes: int) -> Notice:
    """Sent by email and SMS when the member asks to change its payout account: a change needs this code too, so
    whoever holds only the access token (an agent who registered the member) cannot redirect the incentives."""
    return Notice(
        "Kode perubahan rekening pembayaran Kartu Prakerja",
        f"Kode untuk mengubah rekening pembayaran insentif Anda: {code}. Berlaku {valid_minutes} menit. Jika Anda "
        "tidak sedang mengubah rekening, abaikan pesan ini dan jangan berikan kode ini kepada siapa pun.",
    )


def payout_account_changed(provider: str, last4: str) -> Notice:
    """Sent by email and SMS on every change: a change the member did not make is an account takeover, and this
    is how the member hears of it. Only the last 4 digits of the number."""
    return Notice(
        "Rekening pembayaran insentif Kartu Prakerja Anda diubah",
        f"Rekening pembayaran insentif Anda diubah ke {provider} dengan nomor berakhiran {last4}; kami sedang "
        "memeriksanya. Jika bukan Anda yang mengubahnya, segera ganti rekening di akun Anda dan hubungi layanan "
        "pengaduan Kartu Prakerja.",
    )


def payout_account_checked(provider: str, last4: str, status: str, reason: str | None) -> Notice:
    """The provider's verdict on the account: verified, or why it cannot be paid into and what to do."""
    account = f"{provider} berakhiran {last4}"
    if status == "VERIFIED":
        return Notice(
            "Rekening pembayaran insentif terverifikasi",
            f"Rekening {account} terverifikasi. Insentif Kartu Prakerja Anda akan dibayarkan ke rekening ini.",
        )
    why = _ACCOUNT_REJECTIONS.get(reason or "", "Rekening tersebut tidak dapat diverifikasi.")
    return Notice(
        "Rekening pembayaran insentif ditolak",
        f"Rekening {account} tidak dapat digunakan. {why} Silakan daftarkan rekening atas nama dan NIK Anda sendiri.",
    )
