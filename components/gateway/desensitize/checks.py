"""Check digits and validity rules of the checksummed categories. Pure functions on the value's text.

Each rule names its source next to it; a value that fails its rule is not a finding.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress

# GB 11643-1999 《公民身份号码》 §7 (check code, ISO 7064:1983 MOD 11-2): S = Σ a_i·W_i over the 17 body
# digits, W_i = 2^(17-i) mod 11 = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; Y = S mod 11 maps to 1 0 X 9 8 7 6 5 4 3 2.
# Worked example in the standard's Annex: 11010519491231002X.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
# GB/T 2260 province-level codes (the first two digits of the address code): 11-15, 21-23, 31-37, 41-46,
# 50-54, 61-65, 71 (Taiwan), 81 (Hong Kong), 82 (Macao); 83 is the code residence permits of Taiwan residents
# carry (830000). These codes were not looked up for this module: they are the well-known GB/T 2260 list.
_PROVINCES = frozenset({11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46,
                        50, 51, 52, 53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83})


def resident_id_check(body17: str) -> str:
    return _ID_CHECK[sum(int(c) * w for c, w in zip(body17, _ID_WEIGHTS, strict=True)) % 11]


def valid_resident_id(value: str, today: _dt.date | None = None) -> bool:
    """18 characters: 6-digit address code, 8-digit birth date (GB/T 7408, a real date, not in the future;
    the standard's own example is born in 1880), 3-digit sequence, check character (GB 11643-1999)."""
    if len(value) != 18 or not value[:17].isdigit():
        return False
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
            and int(value[:2]) in _PROVINCES and value[6:8] in ("18", "19", "20"))


# ISO/IEC 7812-1 Annex B (the Luhn formula for the check digit of a payment card number).
def luhn_valid(digits: str) -> bool:
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


def uscc_check(body17: str) -> str:
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return USCC_CHARS[(31 - total % 31) % 31]


def valid_uscc(value: str) -> bool:
    if len(value) != 18 or any(c not in _USCC_VALUE for c in value):
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


def vin_check(vin: str) -> str:
    r = sum(_VIN_VALUE[c] * w for c, w in zip(vin, _VIN_WEIGHTS, strict=True)) % 11
    return "X" if r == 10 else str(r)


def valid_vin(value: str) -> bool:
    if len(value) != 17 or any(c not in _VIN_VALUE for c in value):
        return False
    if value.isdigit() or value.isalpha():
        return False
    return vin_check(value) == value[8]


# US Social Security Administration, POMS RM 10201.035 "Invalid Social Security Numbers": never issued are
# area 000, 666 and 900–999, group 00, serial 0000.
def valid_ssn(area: str, group: str, serial: str) -> bool:
    a = int(area)
    return a != 0 and a != 666 and a < 900 and group != "00" and serial != "0000"


def valid_ip(value: str) -> bool:
    """IPv4 dotted quad (RFC 791 addresses, four decimal octets 0–255) or an IPv6 text form (RFC 4291 §2.2)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
