"""English and Turkish for the UI: the English text is the key, Turkish is looked up.

A missing Turkish entry falls back to English (tests/ui check every template key has one).
The chosen language is kept in the session.
"""

from __future__ import annotations

from flask import session

LANGS = ("en", "tr")

TR: dict[str, str] = {
    "Calls": "Aramalar",
    "Dashboard": "Gösterge paneli",
    "Users": "Kullanıcılar",
    "Sign in": "Giriş yap",
    "Sign out": "Çıkış yap",
    "Username": "Kullanıcı adı",
    "Password": "Parola",
    "Invalid username or password.": "Kullanıcı adı ya da parola geçersiz.",
    "Too many failed sign-ins; try again later.": (
        "Çok fazla başarısız giriş denemesi; daha sonra yeniden deneyin."
    ),
    "Account": "Hesap",
    "All accounts": "Tüm hesaplar",
    "Code": "Kod",
    "Any code": "Herhangi bir kod",
    "State": "Durum",
    "Any state": "Herhangi bir durum",
    "In progress": "Sürüyor",
    "Ended": "Bitti",
    "Number": "Numara",
    "Call id": "Arama no",
    "From": "Başlangıç",
    "To": "Bitiş",
    "Filter": "Süz",
    "Clear": "Temizle",
    "Export CSV": "CSV olarak indir",
    "Export JSON": "JSON olarak indir",
    "Newer": "Daha yeni",
    "Older": "Daha eski",
    "No calls match.": "Eşleşen arama yok.",
    "Caller": "Arayan",
    "Callee": "Aranan",
    "Created": "Oluşturuldu",
    "Attempt": "Deneme",
    "Cause": "Neden",
    "Total": "Toplam",
    "Counts by code": "Koda göre sayılar",
    "Call": "Arama",
    "Request as received": "Alındığı haliyle istek",
    "Timeline": "Zaman çizelgesi",
    "When": "Ne zaman",
    "Source": "Kaynak",
    "Event": "Olay",
    "Result": "Sonuç",
    "accepted": "kabul edildi",
    "rejected": "reddedildi",
    "Notifications": "Bildirimler",
    "Re-send": "Yeniden gönder",
    "Status": "Durum",
    "Latency": "Gecikme",
    "Response or error": "Yanıt ya da hata",
    "No attempts yet.": "Henüz deneme yok.",
    "Timers": "Zamanlayıcılar",
    "Kind": "Tür",
    "Due": "Zamanı",
    "Fired": "Çalıştı",
    "State diagram": "Durum diyagramı",
    "This call's path": "Bu aramanın yolu",
    "Durations": "Süreler",
    "Caller ringing": "Arayanın çalma süresi",
    "Callee ringing": "Arananın çalma süresi",
    "Talk": "Konuşma",
    "Hang up": "Kapat",
    "Hang up this call now?": "Bu arama şimdi kapatılsın mı?",
    "Call hung up.": "Arama kapatıldı.",
    "Notification re-sent.": "Bildirim yeniden gönderildi.",
    "Re-send failed": "Yeniden gönderim başarısız",
    "Not found": "Bulunamadı",
    "The page or call does not exist, or you may not see it.": (
        "Sayfa ya da arama yok veya görme yetkiniz yok."
    ),
    "The form expired or was not sent by this site; reload and try again.": (
        "Form süresi doldu ya da bu siteden gönderilmedi; sayfayı yenileyip yeniden deneyin."
    ),
    "Bad request": "Geçersiz istek",
    "Calls per hour by final code": "Nihai koda göre saatlik aramalar",
    "Answer rate": "Yanıtlanma oranı",
    "Average talk time": "Ortalama konuşma süresi",
    "Notification backlog": "Bekleyen bildirimler",
    "Notification failure rate": "Bildirim hata oranı",
    "Notification attempts per hour": "Saatlik bildirim denemeleri",
    "Last 24 hours": "Son 24 saat",
    "Last 7 days": "Son 7 gün",
    "delivered": "iletildi",
    "failed": "başarısız",
    "pending": "bekliyor",
    "queued": "sırada",
    "Operator": "Operatör",
    "Disabled": "Devre dışı",
    "Create user": "Kullanıcı oluştur",
    "Disable": "Devre dışı bırak",
    "Enable": "Etkinleştir",
    "User created.": "Kullanıcı oluşturuldu.",
    "You cannot disable yourself.": "Kendinizi devre dışı bırakamazsınız.",
    "You": "Siz",
    "No such account.": "Böyle bir hesap yok.",
    "No such code.": "Böyle bir kod yok.",
    "No such state.": "Böyle bir durum yok.",
    "Not a phone number.": "Telefon numarası değil.",
    "Not a call id.": "Arama numarası değil.",
    "Not a date (YYYY-MM-DD).": "Tarih değil (YYYY-AA-GG).",
    "Before the From date.": "Başlangıç tarihinden önce.",
    "Not a page of this list.": "Bu listenin bir sayfası değil.",
    "Correct the filter to see calls.": "Aramaları görmek için süzgeci düzeltin.",
    "Language": "Dil",
    "Time zone": "Saat dilimi",
    "Updating live": "Canlı güncelleniyor",
    "Full history": "Tüm geçmiş",
    "none": "yok",
    "by": "yapan",
    "Previous attempts": "Önceki denemeler",
    "Account users see only their account's calls.": (
        "Hesap kullanıcıları yalnızca kendi hesaplarının aramalarını görür."
    ),
}


def N_(text: str) -> str:
    """Mark ``text`` for translation where it is translated later (outside a request)."""
    return text


def current_lang() -> str:
    lang = session.get("lang")
    return lang if lang in LANGS else "en"


def translate(text: str, **values: object) -> str:
    """``text`` in the viewer's language, with ``{name}`` placeholders filled."""
    out = TR.get(text, text) if current_lang() == "tr" else text
    return out.format(**values) if values else out
