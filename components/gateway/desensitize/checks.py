"""Check digits and validity rules of the checksummed categories. Pure functions on the value's text.

Each rule names its source next to it; a value that fails its rule is not a finding.
"""

from __future__ import annotations

import calendar
import datetime as _dt
import ipaddress
import time as _time
from operator import mul

# Speed: the scanner calls these on ASCII text only, so each rule has a fast path for ASCII digits and letters
# (bytes arithmetic, str.strip against the alphabet, no per-character Python loop); other input takes the plain
# per-character path, with the same result.

# GB 11643-1999 《公民身份号码》 §7 (check code, ISO 7064:1983 MOD 11-2): S = Σ a_i·W_i over the 17 body
# digits, W_i = 2^(17-i) mod 11 = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; Y = S mod 11 maps to 1 0 X 9 8 7 6 5 4 3 2.
# Worked example in the standard's Annex: 11010519491231002X.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# W_i = 2^(18-i) mod 11 for the i-th digit from the left, so S ≡ 2·Σ a_i·2^(17-i) (mod 11): twice the digits
# read as a number in a base ≡ 2 (mod 11); base 13 is one, and int() reads it in C.
# GB/T 2260 province-level codes (the first two digits of the address code): 11-15, 21-23, 31-37, 41-46,
# 50-54, 61-65, 71 (Taiwan), 81 (Hong Kong), 82 (Macao); 83 is the code residence permits of Taiwan residents
# carry (830000). These codes were not looked up for this module: they are the well-known GB/T 2260 list.
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})


def resident_id_check(body17: str) -> str:
    if len(body17) == 17 and body17.isascii() and body17.isdigit():
        return _ID_CHECK[2 * int(body17, 13) % 11]
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


_PROVINCE_PREFIXES = frozenset(str(p) for p in _PROVINCES)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MONTH_DAYS = frozenset(f"{m:02d}{d:02d}" for m in range(1, 13) for d in range(1, _DAYS[m - 1] + 1))
_today_cache: list = [None, ""]


def _today_ymd() -> str:
    """Today's date as YYYYMMDD, looked up at most once a second (a scan checks many ID numbers)."""
    second = int(_time.time())
    if _today_cache[0] != second:
        _today_cache[:] = [second, _dt.date.today().strftime("%Y%m%d")]
    return _today_cache[1]


def valid_resident_id(value: str, today: _dt.date | None = None) -> bool:
    """18 characters: 6-digit address code, 8-digit birth date (GB/T 7408, a real date, not in the future;
    the standard's own example is born in 1880), 3-digit sequence, check character (GB 11643-1999)."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
    if value.isascii():  # the check character before the date: it is cheaper and rejects 10 in 11
        if value[:2] not in _PROVINCE_PREFIXES or _ID_CHECK[2 * int(value[:17], 13) % 11] != value[17].upper():
            return False
        # The date as text: YYYYMMDD strings compare as the dates do; a real day of a real month (29 February
        # in leap years of the Gregorian calendar, which datetime.date uses too).
        year, month_day = value[6:10], value[10:14]
        if month_day not in _MONTH_DAYS or year < "1800" or (month_day == "0229" and not calendar.isleap(int(year))):
            return False
        return value[6:14] <= (today.strftime("%Y%m%d") if today else _today_ymd())
    if int(value[:2]) not in _PROVINCES:
        return False
    try:
        born = _dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1800 or born > (today or _dt.date.today()):
        return False
    return resident_id_check(value[:17]) == value[17].upper()


def looks_like_resident_id(value: str) -> bool:
    """17 digits and a digit or X, a province code and a year 1800–2099 where GB 11643 puts them: a value
    meant as an ID number, so a failed check means a wrong number, not another category."""
    return (len(value) == 18 and value[:17].isdigit() and value[17] in "0123456789Xx"
            and (value[:2] in _PROVINCE_PREFIXES if value.isascii() else int(value[:2]) in _PROVINCES)
            and value[6:8] in ("18", "19", "20"))


# ISO/IEC 7812-1 Annex B (the Luhn formula for the check digit of a payment card number): from the right,
# every second digit is doubled (the digits of the product summed: 2d − 9 when 2d > 9), the total is ≡ 0 mod 10.
_LUHN_DOUBLED = bytes.maketrans(b"0123456789", bytes((0, 2, 4, 6, 8, 1, 3, 5, 7, 9)))


def luhn_valid(digits: str) -> bool:
    if digits.isascii() and digits.isdigit():
        b = digits.encode()
        kept = b[-1::-2]
        return (sum(kept) - 48 * len(kept) + sum(b[-2::-2].translate(_LUHN_DOUBLED))) % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    for d in "0123456789":
        if luhn_valid(body + d):
            return d
    raise AssertionError("unreachable")


# GB 32100-2015 《法人和其他组织统一社会信用代码编码规则》: 18 characters from a 31-character set (digits and
# capital letters without I, O, S, V, Z), Table 1 values 0–30; weights W_i = 3^(i-1) mod 31; check value
# C18 = 31 − (Σ C_i·W_i mod 31), with 31 written 0. Worked example: 91350100M000100Y43.
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUE = {c: i for i, c in enumerate(USCC_CHARS)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
# W_i = 3^(i-1) mod 31, so Σ C_i·W_i ≡ the characters' values read right to left as a number in a base ≡ 3
# (mod 31): base 34, with each character written as the base-34 digit of its value.
_USCC_AS_BASE34 = str.maketrans(USCC_CHARS, "0123456789ABCDEFGHIJKLMNOPQRSTU")


def uscc_check(body17: str) -> str:
    if len(body17) != 17:
        raise ValueError(f"uscc_check: 17 characters expected, got {len(body17)}")
    if body17.strip(USCC_CHARS):
        raise KeyError(next(c for c in body17 if c not in _USCC_VALUE))
    total = int(body17.translate(_USCC_AS_BASE34)[::-1], 34)
    return USCC_CHARS[(31 - total % 31) % 31]


def valid_uscc(value: str) -> bool:
    if len(value) != 18 or value.strip(USCC_CHARS):  # strip leaves nothing when every character is in the set
        return False
    if not value[2:8].isdigit():  # characters 3–8: the registering authority's GB/T 2260 division code
        return False
    return uscc_check(value[:17]) == value[17]


# ISO 3779 VIN with the check digit in position 9 (compulsory in North America; China's GB 16735 uses the same
# position, not looked up here): letters I, O, Q are not used; transliteration A–H 1–8, J–N 1–5, P 7, R 9, S–Z 2–9; position
# weights 8 7 6 5 4 3 2 10 0 9 8 7 6 5 4 3 2; remainder mod 11, 10 written X
# (Wikibooks, "Vehicle Identification Numbers (VIN codes)/Check digit").
_VIN_VALUE = {**{str(d): d for d in range(10)},
              **dict(zip("ABCDEFGH", range(1, 9), strict=False)), **dict(zip("JKLMN", range(1, 6), strict=False)), "P": 7, "R": 9,
              **dict(zip("STUVWXYZ", range(2, 10), strict=False))}
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


_VIN_CHARS = "".join(_VIN_VALUE)


def vin_check(vin: str) -> str:
    if len(vin) != 17:
        raise ValueError(f"vin_check: 17 characters expected, got {len(vin)}")
    r = sum(map(mul, map(_VIN_VALUE.__getitem__, vin), _VIN_WEIGHTS)) % 11
    return "X" if r == 10 else str(r)


def valid_vin(value: str) -> bool:
    if len(value) != 17 or value.strip(_VIN_CHARS):
        return False
    if value.isdigit() or value.isalpha():
        return False
    return vin_check(value) == value[8]


# US Social Security Administration, POMS RM 10201.035 "Invalid Social Security Numbers": never issued are
# area 000, 666 and 900–999, group 00, serial 0000.
def valid_ssn(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def valid_ipv4(value: str) -> bool:
    """Dotted decimal, four octets 0–255 (RFC 791), no leading zeros: the rule of the standard library's
    ipaddress.IPv4Address (Python documentation, ipaddress, IPv4Address: "Leading zeros are no longer tolerated",
    changed in 3.10 and 3.9.5, bpo-36384), without building the address object."""
    parts = value.split(".")
    if len(parts) != 4:
        return False
    for p in parts:
        if not p or len(p) > 3 or not (p.isascii() and p.isdigit()) or (p[0] == "0" and len(p) > 1) or int(p) > 255:
            return False
    return True


def valid_ipv6(value: str) -> bool:
    """An IPv6 text form (RFC 4291 §2.2), by the standard library's ipaddress.IPv6Address."""
    try:
        ipaddress.IPv6Address(value)
    except ValueError:
        return False
    return True


def valid_ip(value: str) -> bool:
    """IPv4 dotted quad (RFC 791 addresses, four decimal octets 0–255) or an IPv6 text form (RFC 4291 §2.2)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
