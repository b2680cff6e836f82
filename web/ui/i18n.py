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
    "Response body": "Yanıt gövdesi",
    "Error": "Hata",
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
    # Causes (Q.850) and codes in words.
    "No cause": "Neden yok",
    "Unallocated number": "Atanmamış numara",
    "Normal clearing": "Normal kapanış",
    "User busy": "Kullanıcı meşgul",
    "No user responding": "Kullanıcı yanıt vermiyor",
    "No answer": "Cevap yok",
    "Subscriber absent": "Abone erişilemez",
    "Call rejected": "Arama reddedildi",
    "Destination out of order": "Hedef hizmet dışı",
    "Normal, unspecified": "Normal, belirtilmemiş",
    "Network out of order": "Şebeke hizmet dışı",
    "Temporary failure": "Geçici arıza",
    "Recovery on timer expiry": "Zamanlayıcı süresi doldu",
    "Interworking, unspecified": "Birlikte çalışma, belirtilmemiş",
    "Waiting to dial": "Aranmayı bekliyor",
    "Dialling the caller": "Arayan aranıyor",
    "Caller answered": "Arayan yanıtladı",
    "Both talking": "İki taraf konuşuyor",
    "Caller busy": "Arayan meşgul",
    "Callee busy": "Aranan meşgul",
    "Caller rejected": "Arayan reddetti",
    "Callee rejected": "Aranan reddetti",
    "Caller did not answer": "Arayan yanıtlamadı",
    "Callee did not answer": "Aranan yanıtlamadı",
    "Caller not reached": "Arayana ulaşılamadı",
    "Callee not reached": "Aranana ulaşılamadı",
    "Caller hung up": "Arayan kapattı",
    "Callee hung up": "Aranan kapattı",
    "Cut (limit, credit or hang-up)": "Kesildi (süre, kredi ya da kapatma)",
    # The outcome sentence.
    "Waiting to be dialled.": "Aranmayı bekliyor.",
    "In progress: {what}.": "Sürüyor: {what}.",
    "Ended: {what}.": "Bitti: {what}.",
    "The account's credit ran out before the call was dialled.": (
        "Hesabın kredisi arama başlamadan bitti."
    ),
    "Talked {talk}; hung up by operator {who}.": ("{talk} konuşuldu; {who} adlı operatör kapattı."),
    "Talked {talk}; the customer shortened the call.": (
        "{talk} konuşuldu; müşteri aramanın süresini kısalttı."
    ),
    "Talked {talk}; hung up by the customer over the API.": (
        "{talk} konuşuldu; müşteri API üzerinden kapattı."
    ),
    "Account credit ran out after {talk}.": "Hesabın kredisi {talk} sonra bitti.",
    "Talked {talk}; cut at the {limit} limit.": "{talk} konuşuldu; {limit} sınırında kesildi.",
    "caller": "arayan",
    "callee": "aranan",
    "Hung up by operator {who} while the {leg} was being dialled.": (
        "{leg} aranırken {who} adlı operatör kapattı."
    ),
    "Hung up by the customer while the {leg} was being dialled.": (
        "{leg} aranırken müşteri kapattı."
    ),
    "The caller hung up while the callee was ringing.": "Aranan çalarken arayan kapattı.",
    "The caller's line was busy.": "Arayanın hattı meşguldü.",
    "The callee's line was busy.": "Arananın hattı meşguldü.",
    "The caller rejected the call.": "Arayan aramayı reddetti.",
    "The callee rejected the call.": "Aranan aramayı reddetti.",
    "The caller did not answer.": "Arayan yanıt vermedi.",
    "The callee did not answer.": "Aranan yanıt vermedi.",
    "The caller could not be reached.": "Arayana ulaşılamadı.",
    "The callee could not be reached.": "Aranana ulaşılamadı.",
    "Talked {talk}; the caller hung up.": "{talk} konuşuldu; arayan kapattı.",
    "Talked {talk}; the callee hung up.": "{talk} konuşuldu; aranan kapattı.",
    # What the customer was sent.
    "No notifications.": "Bildirim yok.",
    "{codes}: all delivered": "{codes}: hepsi iletildi",
    "{codes} not delivered: {why}": "{codes} iletilmedi: {why}",
    "not sent yet": "henüz gönderilmedi",
    "receiver answered {status}": "alıcı {status} yanıtı verdi",
    "no answer from the receiver": "alıcıdan yanıt yok",
    "given up": "vazgeçildi",
    "next try {when}": "sonraki deneme {when}",
    "Outcome": "Sonuç",
    "Sent to the customer": "Müşteriye gönderilen",
    "#{seq} delivered ({answer}).": "#{seq} iletildi ({answer}).",
    "#{seq} failed: {answer}.": "#{seq} başarısız: {answer}.",
    "Nothing to send: every notification is delivered.": (
        "Gönderilecek bir şey yok: tüm bildirimler iletildi."
    ),
    "Not sent: #{seq} is being sent right now; try again once it has settled.": (
        "Gönderilmedi: #{seq} şu anda gönderiliyor; sonuçlandığında yeniden deneyin."
    ),
    "Stopped: #{seq} waits behind an earlier notification.": (
        "Durduruldu: #{seq} daha önceki bir bildirimin arkasında bekliyor."
    ),
    "Retry now": "Şimdi yeniden dene",
    "Send this call's undelivered notifications now, in order?": (
        "Bu aramanın iletilmemiş bildirimleri şimdi sırayla gönderilsin mi?"
    ),
    "Dial attempt": "Arama denemesi",
    "Delivery try": "Gönderim denemesi",
    "Most talk time": "En uzun konuşma süresi",
    "Request headers": "İstek başlıkları",
    "HMAC-SHA256 with the account's signing secret": "hesabın imza anahtarıyla HMAC-SHA256",
    "Next delivery try": "Sonraki gönderim denemesi",
    "Retries left": "Kalan deneme",
    "queued: waiting behind #{seq}, sent once it is settled": (
        "sırada: #{seq} bildiriminin arkasında bekliyor, o sonuçlanınca gönderilecek"
    ),
    "Legs": "Bacaklar",
    "Dialled": "Arandı",
    "Ringing": "Çaldı",
    "Answered": "Yanıtlandı",
    "Ended by": "Bitiren",
    "SIP status": "SIP durumu",
    "dialling": "aranıyor",
    "ringing": "çalıyor",
    "talking": "konuşuluyor",
    "the caller": "arayan",
    "the callee": "aranan",
    "the talk-time limit": "konuşma süresi sınırı",
    "the customer (API)": "müşteri (API)",
    "an operator": "bir operatör",
    "the network": "şebeke",
    # Stored words: event sources, timer kinds and states.
    "carrier": "operatör şebekesi",
    "timer": "zamanlayıcı",
    "api": "API",
    "operator": "operatör",
    "start": "başlat",
    "dial": "ara",
    "ringout": "çalma süresi doldu",
    "watchdog": "bekçi",
    "cut": "kes",
    "hangup": "kapat",
    "redial": "yeniden ara",
    "done": "tamamlandı",
    "running": "çalışıyor",
    "cancelled": "iptal edildi",
    "recorded": "kaydedildi",
    "{0} not allowed in {1}": "{1} durumunda {0} izinli değil",
    "hung up by operator {0}": "{0} adlı operatör kapattı",
    "hung up by the customer {0} (API)": "müşteri {0} kapattı (API)",
    "notification #{0} (code {1}) sent by operator {2}: {3}, delivered": (
        "#{0} bildirimi (kod {1}) operatör {2} tarafından gönderildi: {3}, iletildi"
    ),
    "notification #{0} (code {1}) sent by operator {2}: {3}, failed": (
        "#{0} bildirimi (kod {1}) operatör {2} tarafından gönderildi: {3}, başarısız"
    ),
    "most talk time {0} s": "en uzun konuşma süresi {0} sn",
    "unknown event {0}": "bilinmeyen olay {0}",
    "event of attempt {0}, call is on attempt {1}": ("{0}. denemenin olayı; arama {1}. denemede"),
    "extended to {0} s, at or below the {1} s talked": (
        "süre {0} sn yapıldı: konuşulan {1} sn ya da daha az"
    ),
    "dial failed: {0}": "arama başlatılamadı: {0}",
    "the caller refused the callee's media: {0}": "arayan, arananın medyasını reddetti: {0}",
    "cannot route to {0}: {1}": "{0} adresine yol bulunamadı: {1}",
    "error: {0}": "hata: {0}",
    "gave up: {0}": "vazgeçildi: {0}",
    "answered after the {0} s timeout": "{0} sn bekleme süresinden sonra yanıt verdi",
    "target refused: {0}": "hedef reddedildi: {0}",
    "account settings not read: {0}": "hesap ayarları okunamadı: {0}",
    "could not connect: {0}": "bağlanılamadı: {0}",
    "connecting timed out: {0}": "bağlantı zaman aşımına uğradı: {0}",
    "no answer in time: {0}": "zamanında yanıt yok: {0}",
    "the receiver broke the exchange: {0}": "alıcı iletişimi yarıda kesti: {0}",
    "network error: {0}": "ağ hatası: {0}",
    "not sendable: {0}": "gönderilemez: {0}",
    "cannot send to a URL with {0} scheme": "{0} şemalı bir URL'ye gönderilemez",
    "happened after the talk time ended": "konuşma süresi bittikten sonra geldi",
    "no credit left": "kredi kalmadı",
    "fired": "çalıştı",
    "carrier told": "operatör şebekesine bildirildi",
    "held: account at its limit": "bekletildi: hesap sınırında",
    "timer B expired": "SIP zamanlayıcısı B doldu",
    "connection refused": "bağlantı reddedildi",
    "Connection refused": "Bağlantı reddedildi",
    "BYE from the far end": "karşı taraf BYE gönderdi",
    "the callee answered without an SDP offer": "aranan SDP teklifi olmadan yanıt verdi",
    "no answer": "yanıt yok",
    "timed out": "zaman aşımı",
    "Remote end closed connection without response": (
        "karşı taraf yanıt vermeden bağlantıyı kapattı"
    ),
    "Name or service not known": "Ad ya da hizmet bilinmiyor",
    "No route to host": "Sunucuya yol yok",
    "Connection reset by peer": "Bağlantı karşı tarafça sıfırlandı",
    "held": "bekletiliyor",
    "Not a time (Unix seconds).": "Zaman değil (Unix saniyesi).",
    "Not after the start of the window.": "Aralığın başlangıcından sonra değil.",
    "from {start} to {end}": "{start} ile {end} arasında",
    "from {start}": "{start} sonrasında",
    "before {end}": "{end} öncesinde",
    "Created {span}": "{span} oluşturulmuş",
    "With {kind} {span}": "{span} {kind} olan",
    "a delivery try": "gönderim denemesi",
    "a delivered try": "iletilen deneme",
    "a failed delivery try": "başarısız gönderim denemesi",
    "Remove the time window": "Zaman aralığını kaldır",
    "({calls} calls)": "({calls} arama)",
    "in {calls} calls": "{calls} aramada",
    "Calls with a failed delivery try": "Başarısız gönderim denemesi olan aramalar",
    "The ended calls it is computed from": "Hesaplandığı biten aramalar",
    "Request sent": "Gönderilen istek",
    "Response received": "Alınan yanıt",
    "request and response headers": "istek ve yanıt başlıkları",
    "(headers not recorded)": "(başlıklar kaydedilmemiş)",
    "as sent on delivery try {n}": "{n}. gönderim denemesinde gönderildiği gibi",
    "when a delivery try is sent": "gönderim denemesi yapıldığında",
    "No such choice.": "Böyle bir seçenek yok.",
    "Any": "Hepsi",
    "not all delivered": "hepsi iletilmemiş",
    "notifications failing": "bildirimler başarısız",
    "account's endpoint failing": "hesabın uç noktası başarısız",
    "delivery tries": "gönderim denemesi",
    "calls ended": "biten arama",
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


def fmt_number(value: float | int | None, digits: int = 0) -> str:
    """``value`` with the viewer's separators: 1,234.5 (en) or 1.234,5 (tr-TR)."""
    if value is None:
        return ""
    text = f"{value:,.{digits}f}"
    if current_lang() == "tr":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")
    return text
