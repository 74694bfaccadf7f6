"""The 18 categories: identifiers (fixed, the gateway's policies and audit records name them), what each
covers, where its rule comes from, and the order in which the most specific wins on a shared span."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    id: str
    name: str
    checked: str
    """`checksum` (a check digit or validity rule is verified), `pattern` (a format, sometimes with a keyword)
    or `rule` (dictionary and rules: person_name, address)."""
    source: str


CATEGORIES: tuple[Category, ...] = (
    Category("credential", "secrets: private keys, tokens, API keys, passwords", "pattern",
             "PEM private-key blocks (RFC 7468 §2, label `… PRIVATE KEY`); JWT compact form (RFC 7519 §3, three "
             "base64url segments, header and payload JSON so `eyJ`); OAuth bearer tokens (RFC 6750 §2.1); AWS "
             "access key IDs `AKIA`/`ASIA` + 16 (AWS IAM unique-ID prefixes); GitHub tokens `ghp_ gho_ ghu_ ghs_ "
             "ghr_` (GitHub changelog 2021-03-31); OpenAI keys `sk-`, `sk-proj-` (project keys); `password=`, "
             "`api_key:`, `密码：` … assignments"),
    Category("resident_id", "居民身份证号码 (citizen ID number)", "checksum",
             "GB 11643-1999 《公民身份号码》: 6-digit address code (GB/T 2260), 8-digit birth date (GB/T 7408), "
             "3-digit sequence, ISO 7064 MOD 11-2 check character"),
    Category("uscc", "统一社会信用代码 (unified social credit code)", "checksum",
             "GB 32100-2015 《法人和其他组织统一社会信用代码编码规则》: 18 characters, 31-character set, weights "
             "3^(i-1) mod 31, check C18 = 31 − (Σ mod 31)"),
    Category("vin", "车辆识别代号 (vehicle identification number)", "checksum",
             "ISO 3779 VIN, check digit in position 9 (transliteration and weights 8 7 6 5 4 3 2 10 0 9 8 7 6 5 4 3 2, "
             "mod 11, 10 → X)"),
    Category("bank_card", "银行卡号 (payment card number)", "checksum",
             "ISO/IEC 7812-1: 13–19 digits, Luhn check digit (Annex B); issuer prefixes of the networks (UnionPay 62, "
             "Visa 4, Mastercard 51–55 and 2221–2720, Amex 34/37, JCB 3528–3589, Discover 6011/644–649/65, Diners "
             "300–305/36/38–39)"),
    Category("social_security", "社会保障号 / US Social Security number", "checksum",
             "US SSN AAA-GG-SSSS never issued with area 000, 666, 900–999, group 00, serial 0000 (SSA POMS RM "
             "10201.035); a value after 社保卡号/社会保障号/SSN. A Chinese social security number is the citizen ID "
             "number (社会保险法 §58) and is reported as resident_id"),
    Category("medical_record", "病历号 / 住院号 / 门诊号 (medical record number)", "pattern",
             "WS 445-2014 电子病历基本数据集: 住院号 / 门(急)诊号 are AN..18 identifiers; found after their keyword"),
    Category("taiwan_permit", "台湾居民来往大陆通行证号码 (Mainland Travel Permit for Taiwan Residents)", "pattern",
             "8-digit lifetime number since 2008-09-25 (older permits: 8 + 2-digit issue count), Ministry of "
             "Public Security exit-entry administration, reported by China News Service 2008-09-12; after its "
             "keyword (台胞证 …)"),
    Category("hk_macau_permit", "往来港澳通行证 / 港澳居民来往内地通行证", "pattern",
             "电子往来港澳通行证: C + 8 digits, since 2018 C + letter (not I, O) + 7 digits (National Immigration "
             "Administration, 2018-12-10); 港澳居民来往内地通行证: H (Hong Kong) or M (Macao) + 10 digits (Ministry of "
             "Public Security, 2010-03-10)"),
    Category("passport", "护照号码 (passport number)", "pattern",
             "Chinese passports: E + 8 digits, since 2017-04-05 E + letter (not I, O) + 7 digits; G + 8 digits; "
             "DE/SE/PE + 7 digits (exit-entry administration numbering as published); other passports after the "
             "keyword 护照 / passport"),
    Category("email", "电子邮箱 (e-mail address)", "pattern", "RFC 5322 §3.4.1 addr-spec (dot-atom local part, "
             "domain with a top-level label of letters)"),
    Category("ip_address", "IP 地址 (IPv4 and IPv6)", "checksum",
             "IPv4 dotted decimal, four octets 0–255 (RFC 791); IPv6 text forms (RFC 4291 §2.2), validated by the "
             "standard library's ipaddress"),
    Category("precise_location", "精准定位信息 (precise location: latitude, longitude)", "pattern",
             "GB/T 35273-2020 Annex B lists 精准定位信息 among the examples of personal sensitive information; "
             "a decimal latitude, longitude pair with at least 4 decimals (1e-4 degree ≈ 11 m of latitude)"),
    Category("license_plate", "机动车号牌 (vehicle plate, new-energy plates included)", "pattern",
             "GA 36-2018: province abbreviation + issuing-authority letter + 5 characters; new-energy plates 6 "
             "characters, small vehicles D/F first then a letter or digit and 4 digits, large vehicles 5 digits "
             "then D/F; letters I and O are not used"),
    Category("mobile", "手机号码 (mobile number)", "pattern",
             "China's 11-digit mobile numbers 1[3-9]X XXXX XXXX (MIIT numbering plan: network prefixes 13x–19x), "
             "optionally +86 / 0086"),
    Category("landline", "固定电话 (landline number)", "pattern",
             "trunk prefix 0 + area code (10, 2X, or three digits) + 7- or 8-digit subscriber number whose first "
             "digit is 2–8 (China's fixed-line numbering, zh.wikipedia 中国大陆电话号码); +86 without the 0"),
    Category("address", "住址 (postal address)", "rule",
             "rules: a road/street name + number + 号 (路 街 大道 巷 弄 胡同 …), optional building, unit and room, "
             "preceded by its administrative divisions (省 市 区 县 镇 …); estates (小区 …) + 栋/号楼; English "
             "house number + street name + street suffix"),
    Category("person_name", "姓名 (person name)", "rule",
             "rules and a surname dictionary (公安部户政管理研究中心 2019 surname ranking, compound surnames): a "
             "surname + 1–2 characters after a cue (姓名：, 联系人 …) or before a title (先生, 女士 …); English "
             "names after a title (Mr., Dr. …) or a cue (My name is …)"),
)

BY_ID = {c.id: c for c in CATEGORIES}
IDS = tuple(c.id for c in CATEGORIES)
PRIORITY = {c.id: i for i, c in enumerate(CATEGORIES)}
"""Lower wins where candidates overlap: the order of CATEGORIES, most specific first."""
