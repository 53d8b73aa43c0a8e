"""What applicants are told, in the programme's language (Bahasa Indonesia)."""

from __future__ import annotations

from dataclasses import dataclass

_REASONS = {
    "NOT_FOUND": "NIK Anda tidak ditemukan di data kependudukan (Dukcapil).",
    "MISMATCH": "Nama atau tanggal lahir tidak sesuai dengan data kependudukan (Dukcapil).",
    "BARRED_OCCUPATION": "Pekerjaan Anda menurut data kependudukan tidak termasuk penerima program.",
    "AGE": "Usia Anda di luar batas usia program (18-64 tahun).",
    "STUDENT": "Peserta didik pendidikan formal tidak termasuk penerima program.",
    "PAST_RECIPIENT": "Anda sudah pernah menerima Kartu Prakerja.",
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


def nik_result(status: str, reason: str | None) -> Notice:
    if status == "ELIGIBLE":
        return Notice(
            "NIK Anda terverifikasi",
            "NIK Anda terverifikasi dan Anda memenuhi syarat. Silakan bergabung dengan gelombang yang sedang dibuka.",
        )
    explanation = _REASONS.get(reason or "", "Data Anda tidak dapat diverifikasi.")
    return Notice("Hasil verifikasi NIK", f"Mohon maaf, pendaftaran Anda tidak dapat dilanjutkan. {explanation}")


def acceptance(wave: int, card_number: str) -> Notice:
    return Notice(
        f"Selamat! Anda diterima di Kartu Prakerja gelombang {wave}",
        f"Selamat, Anda lolos seleksi gelombang {wave}. Nomor Kartu Prakerja Anda: {card_number}. "
        "Masuk ke akun Anda untuk memilih pelatihan.",
    )


def not_selected(wave: int) -> Notice:
    return Notice(
        f"Hasil seleksi gelombang {wave}",
        f"Anda belum lolos seleksi gelombang {wave}. Anda otomatis diikutkan pada gelombang {wave + 1} "
        "tanpa perlu mendaftar ulang.",
    )
