"""The Voice API's messages, word for word from the seed, and their Turkish counterparts."""

from __future__ import annotations

from typing import Literal

Lang = Literal["en", "tr"]

MESSAGES: dict[str, dict[str, str]] = {
    "received": {"en": "Request Received", "tr": "İstek Alındı"},
    "missing": {"en": "Missing Parameter ({name})", "tr": "Eksik Parametre ({name})"},
    "invalid": {
        "en": "Invalid Parameter ({name}): {reason}",
        "tr": "Geçersiz Parametre ({name}): {reason}",
    },
    "bad_user": {"en": "User Information Is Invalid", "tr": "Kullanıcı Bilgileri Geçersiz"},
    "method": {
        "en": "Method Not Allowed: registration requests must use POST",
        "tr": "İzin Verilmeyen Yöntem: kayıt istekleri POST ile yapılmalıdır",
    },
    "method_other": {
        "en": "Method Not Allowed: this path takes {allowed}",
        "tr": "İzin Verilmeyen Yöntem: bu yol yalnızca {allowed} kabul eder",
    },
    "body": {
        "en": "Invalid Request Body: send form fields or a JSON object",
        "tr": "Geçersiz İstek Gövdesi: form alanları ya da bir JSON nesnesi gönderin",
    },
    "unavailable": {
        "en": "Service Temporarily Unavailable: please retry shortly",
        "tr": "Hizmet Geçici Olarak Kullanılamıyor: lütfen kısa süre sonra yeniden deneyin",
    },
    "not_found": {"en": "Not Found", "tr": "Bulunamadı"},
    "queue_full": {
        "en": "Too Many Requests: {waiting} calls of this account are already waiting",
        "tr": "Çok Fazla İstek: bu hesabın bekleyen {waiting} araması var",
    },
    "login_locked": {
        "en": "Too Many Failed Logins: try again in {seconds} seconds",
        "tr": "Çok Fazla Başarısız Giriş: {seconds} saniye sonra yeniden deneyin",
    },
    "no_credit": {"en": "Insufficient Credit", "tr": "Yetersiz Kredi"},
    "idempotency": {
        "en": "Idempotency-Key Already Used With Different Parameters",
        "tr": "Idempotency-Key Farklı Parametrelerle Kullanılmış",
    },
    "call_found": {"en": "Call Found", "tr": "Arama Bulundu"},
    "calls_found": {"en": "Calls Found", "tr": "Aramalar Bulundu"},
    "call_not_found": {"en": "Call Not Found", "tr": "Arama Bulunamadı"},
    "hung_up": {"en": "Call Hung Up", "tr": "Arama Sonlandırıldı"},
    "already_ended": {
        "en": "Call Not In Progress: it has ended or has not started dialling",
        "tr": "Arama Sürmüyor: sona ermiş ya da henüz aranmaya başlanmamış",
    },
    "extended": {"en": "Call Duration Changed", "tr": "Arama Süresi Değiştirildi"},
    "extended_ended": {
        "en": "Call Ended: the new duration is not longer than the talk so far",
        "tr": "Arama Sonlandırıldı: yeni süre şimdiye kadarki konuşmadan uzun değil",
    },
    "not_extendable": {
        "en": "Call Cannot Be Extended: it is neither dialling nor connected",
        "tr": "Arama Uzatılamaz: arama ne aranıyor ne de bağlı",
    },
    "receipt": {"en": "Receipt", "tr": "Makbuz"},
    "replayed": {
        "en": "Notifications Replayed: {count} queued again",
        "tr": "Bildirimler Yeniden Gönderiliyor: {count} bildirim yeniden sıraya alındı",
    },
    "contract": {"en": "API Contract", "tr": "API Sözleşmesi"},
    "uri_too_long": {
        "en": "URI Too Long: the request line may take at most {kib} KiB",
        "tr": "URI Çok Uzun: istek satırı en fazla {kib} KiB olabilir",
    },
    "headers_too_large": {
        "en": "Request Header Fields Too Large: the request line and headers may take at "
        "most {kib} KiB",
        "tr": "İstek Başlık Alanları Çok Büyük: istek satırı ve başlıklar en fazla {kib} KiB "
        "olabilir",
    },
    "internal": {
        "en": "Internal Error: the request was not registered",
        "tr": "İç Hata: istek kaydedilmedi",
    },
}

REASONS: dict[str, dict[str, str]] = {
    "not_phone": {"en": "Not a phone number", "tr": "Telefon numarası değil"},
    "same_number": {
        "en": "Must differ from the caller",
        "tr": "Arayan numaradan farklı olmalı",
    },
    "not_numerical": {"en": "Must be numerical", "tr": "Sayısal olmalı"},
    "not_whole": {
        "en": "Must be a whole number of seconds",
        "tr": "Tam sayı olarak saniye olmalı",
    },
    "not_positive": {"en": "Must be greater than zero", "tr": "Sıfırdan büyük olmalı"},
    "too_long": {"en": "Must be at most {max} seconds", "tr": "En fazla {max} saniye olmalı"},
    "lang": {"en": "Must be en or tr", "tr": "en ya da tr olmalı"},
    "too_large": {"en": "Too long", "tr": "Çok uzun"},
    "single": {"en": "Must be a single value", "tr": "Tek bir değer olmalı"},
    "caller_id": {
        "en": "Not a number this account may present",
        "tr": "Bu hesabın gösterebileceği bir numara değil",
    },
    "url": {
        "en": "Not an acceptable callback URL",
        "tr": "Kabul edilebilir bir geri bildirim adresi değil",
    },
    "boolean": {"en": "Must be true or false", "tr": "true ya da false olmalı"},
    "unix_time": {"en": "Must be a Unix time", "tr": "Unix zamanı olmalı"},
    "cursor": {"en": "Not a cursor this API gave", "tr": "Bu API'nin verdiği bir imleç değil"},
    "limit": {"en": "Must be between 1 and {max}", "tr": "1 ile {max} arasında olmalı"},
    "not_text": {"en": "Must be valid text", "tr": "Geçerli bir metin olmalı"},
}


def message(key: str, lang: Lang, **fields: object) -> str:
    return MESSAGES[key][lang].format(**fields)


def reason(key: str, lang: Lang, **fields: object) -> str:
    return REASONS[key][lang].format(**fields)
