"""A labelled corpus for the desensitizer, generated from a seed: valid values of every category inside
Chinese and English sentences (each value's category and code-point span recorded), and hard negatives that
look like values but are not (wrong check digits, order numbers, timestamps, phone-like serials, versions).

The values are synthetic: random digits with their check digits computed, names drawn from surname and
given-name lists, addresses assembled from district and road names. The person_name and address samples share
the surname list with the detector, so their scores measure the rules on in-distribution text (optimistic).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

from components.gateway.desensitize import checks, lexicon


@dataclass
class Sample:
    text: str
    spans: list[tuple[str, int, int]] = field(default_factory=list)
    """Gold values: (category, start, end), code points, end exclusive."""
    negative: bool = False
    """A hard-negative sample: it holds look-alike values and no real one."""


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[tuple[str, int, int]] = []
        self.length = 0

    def text(self, s: str) -> None:
        self.parts.append(s)
        self.length += len(s)

    def value(self, category: str, s: str) -> None:
        self.spans.append((category, self.length, self.length + len(s)))
        self.text(s)

    def build(self, negative: bool = False) -> Sample:
        return Sample("".join(self.parts), self.spans, negative)


AREAS = ("110105", "110108", "310104", "310115", "440305", "440106", "510107", "330106", "320102", "420106")
DISTRICTS = (("北京市", "朝阳区"), ("北京市", "海淀区"), ("上海市", "浦东新区"), ("广东省深圳市", "南山区"),
             ("浙江省杭州市", "西湖区"), ("四川省成都市", "武侯区"), ("江苏省南京市", "玄武区"), ("湖北省武汉市", "洪山区"))
ROADS = ("建国", "中关村", "人民", "解放", "长江", "科技园", "文三", "天府", "珞喻", "淮海中")
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀英", "桂英",
         "建华", "志强", "小红", "晓明", "海燕", "婷婷", "俊杰", "子涵", "雨萱", "浩然", "欣怡")
EN_FIRST = ("James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Susan", "Emily",
            "Daniel")
EN_LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Taylor", "Clark")
EN_STREETS = ("Maple", "Oak", "Pine", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park", "Sunset")
EN_SUFFIX = ("Street", "Avenue", "Road", "Drive", "Lane", "Boulevard")
EN_CITIES = ("Springfield", "Portland", "Austin", "Denver", "Boston")
DOMAINS = ("example.com", "mail.example.org", "corp.example.cn", "163.com", "qq.com", "outlook.com")
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
FILLER_ZH = ("我们下周再确认一下细节。", "请尽快处理，谢谢。", "系统已经自动记录。", "如有问题请回复本邮件。",
             "以上信息仅供内部使用。")
FILLER_EN = ("Please confirm by Friday.", "Thanks for your help.", "The ticket was updated automatically.",
             "Let me know if anything is missing.", "This note is for internal use.")


class Values:
    """Valid values of every category, drawn from one random generator."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def digits(self, n: int) -> str:
        return "".join(self.r.choice(string.digits) for _ in range(n))

    def resident_id(self) -> str:
        r = self.r
        body = f"{r.choice(AREAS)}{r.randint(1950, 2005):04d}{r.randint(1, 12):02d}{r.randint(1, 28):02d}{self.digits(3)}"
        return body + checks.resident_id_check(body)

    def bank_card(self) -> str:
        r = self.r
        prefix, length = r.choice((("622202", 19), ("621700", 19), ("6225", 16), ("4", 16), ("51", 16), ("2221", 16)))
        body = prefix + self.digits(length - len(prefix) - 1)
        number = body + checks.luhn_check_digit(body)
        if length == 16 and r.random() < 0.5:
            return " ".join(number[i:i + 4] for i in range(0, 16, 4))
        return number

    def uscc(self) -> str:
        r = self.r
        body = r.choice("159") + r.choice("123") + r.choice(AREAS) + "".join(r.choice(checks.USCC_CHARS) for _ in range(9))
        return body + checks.uscc_check(body)

    def mobile(self) -> str:
        n = "1" + self.r.choice("3456789") + self.digits(9)
        return self.r.choice((n, f"+86 {n}", f"{n[:3]}-{n[3:7]}-{n[7:]}", f"{n[:3]} {n[3:7]} {n[7:]}", f"+86{n}"))

    def landline(self) -> str:
        r = self.r
        area = r.choice(("010", "021", "020", "0755", "0571", "028"))
        sub = r.choice("2345678") + self.digits(7 if len(area) == 3 else r.choice((6, 7)))
        return r.choice((f"{area}-{sub}", f"({area}){sub}", f"+86 {area[1:]} {sub}"))

    def passport(self) -> str:
        r = self.r
        return r.choice((f"E{self.digits(8)}", f"E{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{self.digits(7)}",
                         f"G{self.digits(8)}"))

    def hk_macau_permit(self) -> str:
        r = self.r
        return r.choice((f"C{self.digits(8)}", f"C{r.choice('ABCDEFGHJKLMNPQRSTUVWXYZ')}{self.digits(7)}",
                         f"{r.choice('HM')}{self.digits(10)}"))

    def taiwan_permit(self) -> str:
        return self.digits(8)

    def license_plate(self) -> str:
        r = self.r
        head = r.choice(lexicon.PROVINCE_ABBREVIATIONS) + r.choice(PLATE_LETTERS)
        kind = r.random()
        if kind < 0.25:
            return head + r.choice("DF") + r.choice(PLATE_LETTERS + string.digits) + self.digits(4)
        if kind < 0.4:
            return head + self.digits(5) + r.choice("DF")
        serial = [r.choice(string.digits) for _ in range(5)]
        for i in r.sample(range(5), r.randint(0, 2)):
            serial[i] = r.choice(PLATE_LETTERS)
        return head + "".join(serial)

    def vin(self) -> str:
        while True:
            v = [self.r.choice(VIN_CHARS) for _ in range(17)]
            v[8] = "0"
            v[8] = checks.vin_check("".join(v))
            value = "".join(v)
            if checks.valid_vin(value):
                return value

    def email(self) -> str:
        r = self.r
        user = r.choice(("zhang.wei", "li_na", "wang123", "john.smith", "m.davis", "service+cn", "hr.team"))
        return f"{user}{r.randint(1, 99)}@{r.choice(DOMAINS)}"

    def ip_address(self) -> str:
        r = self.r
        if r.random() < 0.7:
            return ".".join(str(r.randint(1, 254)) for _ in range(4))
        return str(ipaddress.IPv6Address(r.getrandbits(128) & ~(0xFFFF << 64)))

    def social_security(self) -> str:
        r = self.r
        return f"{r.choice([a for a in range(1, 900) if a != 666]):03d}-{r.randint(1, 99):02d}-{r.randint(1, 9999):04d}"

    def medical_record(self) -> str:
        return self.r.choice((f"ZY{self.digits(8)}", f"MZ{self.digits(10)}", self.digits(9)))

    def precise_location(self) -> str:
        r = self.r
        return f"{r.uniform(18, 53):.5f}, {r.uniform(73, 135):.5f}"

    def person_name(self) -> str:
        r = self.r
        surname = r.choice(lexicon.SURNAMES_SINGLE[:60]) if r.random() < 0.9 else r.choice(lexicon.SURNAMES_COMPOUND)
        return surname + r.choice(GIVEN)

    def en_name(self) -> str:
        return f"{self.r.choice(EN_FIRST)} {self.r.choice(EN_LAST)}"

    def address(self) -> str:
        r = self.r
        city, district = r.choice(DISTRICTS)
        tail = r.choice(("", f"{r.randint(1, 20)}栋{r.randint(1, 6)}单元{r.randint(101, 2808)}室", "院"))
        return f"{city}{district}{r.choice(ROADS)}{r.choice(('路', '大街', '街'))}{r.randint(1, 999)}号{tail}"

    def en_address(self) -> str:
        r = self.r
        return (f"{r.randint(10, 9999)} {r.choice(EN_STREETS)} {r.choice(EN_SUFFIX)}, {r.choice(EN_CITIES)}, "
                f"{r.choice(('CA', 'TX', 'NY', 'MA'))} {self.digits(5)}")

    def credential(self) -> str:
        r = self.r
        kind = r.randrange(5)
        alnum = string.ascii_letters + string.digits
        if kind == 0:
            return "AKIA" + "".join(r.choice(string.ascii_uppercase + string.digits) for _ in range(16))
        if kind == 1:
            return "ghp_" + "".join(r.choice(alnum) for _ in range(36))
        if kind == 2:
            return "sk-proj-" + "".join(r.choice(alnum + "_-") for _ in range(48))
        if kind == 3:
            def seg(obj: dict) -> str:
                return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()
            sig = base64.urlsafe_b64encode(r.randbytes(32)).rstrip(b"=").decode()
            return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg({'sub': str(r.randint(1, 10**6)), 'iat': 1700000000})}.{sig}"
        # A real Ed25519 key, made here from the corpus's seeded bytes (PKCS#8 PEM): no key is kept in the tree.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        key = Ed25519PrivateKey.from_private_bytes(r.randbytes(32))
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode().strip()


# Sentence templates: text with {} where the value goes; a template list per category and language.
TEMPLATES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "resident_id": (("申请人身份证号码：{}，请核对。", "他的身份证号是{}。", "证件号 {} 已登记"),
                    ("Citizen ID {} was verified.", "ID number: {}")),
    "bank_card": (("请把款项转到卡号{}。", "银行卡 {} 已绑定", "退款将原路退回尾号所在卡{}"),
                  ("Card number {} was charged.", "Please refund to {} today.")),
    "uscc": (("公司统一社会信用代码为{}。", "纳税人识别号：{}"), ("The company's credit code is {}.",)),
    "mobile": (("请拨打我的手机{}联系。", "联系电话：{}", "手机号{}已注册"), ("Call me at {} tonight.", "Mobile: {}")),
    "landline": (("办公室座机{}，工作日可接听。", "传真：{}"), ("Office line {} (weekdays).",)),
    "passport": (("护照号码{}，有效期十年。", "持护照 {} 入境"), ("Passport number {} expires in 2031.",)),
    "hk_macau_permit": (("往来港澳通行证号码{}。", "通行证 {} 已签注"), ("Her exit-entry permit {} was renewed.",)),
    "taiwan_permit": (("台胞证号码{}，请携带原件。", "台湾居民来往大陆通行证号码：{}"),
                      ("Mainland Travel Permit for Taiwan Residents {} on file.",)),
    "license_plate": (("车牌号{}的车辆违停。", "停车场入口识别到{}"), ("The car with plate {} left at 9 pm.",)),
    "vin": (("车架号{}，请核对行驶证。", "VIN：{}"), ("Vehicle VIN {} recalled.",)),
    "email": (("请发邮件到{}。", "邮箱：{}"), ("Email {} for access.", "Contact: {}")),
    "ip_address": (("登录地址{}异常。", "来源IP：{}"), ("Request from {} was blocked.", "Server at {} is down.")),
    "social_security": (("The employee's SSN is {}.", "SSN: {}"), ("Social Security number {} on the W-2 form.",)),
    "medical_record": (("住院号{}，明日复查。", "患者病案号：{}"), ("MRN {} admitted to ward 5.",)),
    "precise_location": (("定位坐标{}，误差五米。", "当前位置：{}"), ("GPS fix at {} recorded.",)),
    "credential": (("测试用的密钥如下：{}，用完请作废。", "令牌：{}"), ("Use the key {} for the build.", "token={}")),
}
# Names and addresses carry their own cue words.
NAME_TEMPLATES_ZH = ("联系人{}，电话稍后发你。", "姓名：{}", "请{}先生到三号窗口。", "感谢{}女士的反馈。", "患者{}已出院。")
NAME_TEMPLATES_EN = ("Dear {}, thanks for writing.", "Mr. {} will join the call.", "Dr. {} signed the form.",
                     "My name is {}.")
ADDRESS_TEMPLATES_ZH = ("收货地址：{}，请白天送。", "公司位于{}。", "他住在{}。")
ADDRESS_TEMPLATES_EN = ("Ship it to {}.", "Our office is at {}.")


def _fill(b: _Builder, template: str, category: str, value: str) -> None:
    before, after = template.split("{}")
    b.text(before)
    b.value(category, value)
    b.text(after or " ")  # a value at the end of its sentence is followed by a space, as in real text


def positive(rng: random.Random, values: Values, category: str) -> Sample:
    """One sample holding one value of `category`, sometimes with a second value and filler around it."""
    b = _Builder()
    zh = rng.random() < 0.6
    if rng.random() < 0.5:
        b.text(rng.choice(FILLER_ZH if zh else FILLER_EN))
    if category == "person_name":
        if zh:
            template, value = rng.choice(NAME_TEMPLATES_ZH), values.person_name()
        else:
            template, value = rng.choice(NAME_TEMPLATES_EN), values.en_name()
    elif category == "address":
        template, value = (rng.choice(ADDRESS_TEMPLATES_ZH), values.address()) if zh else \
            (rng.choice(ADDRESS_TEMPLATES_EN), values.en_address())
    else:
        zh_t, en_t = TEMPLATES[category]
        template = rng.choice(zh_t if zh else en_t)
        value = getattr(values, category)()
    _fill(b, template, category, value)
    if rng.random() < 0.3:  # a second value in the same text
        other = rng.choice([c for c in TEMPLATES if c != category])
        b.text(" ")
        zh_t, en_t = TEMPLATES[other]
        _fill(b, rng.choice(zh_t + en_t), other, getattr(values, other)())
    if rng.random() < 0.5:
        b.text(rng.choice(FILLER_ZH if zh else FILLER_EN))
    return b.build()


def _bad_check(value: str, alphabet: str) -> str:
    """The value with its last character changed: the check digit no longer matches."""
    return value[:-1] + next(c for c in alphabet if c != value[-1])


NEGATIVES: dict[str, Callable[[random.Random, Values], str]] = {
    "resident_id_bad_check": lambda r, v: f"身份证号{_bad_check(v.resident_id(), '0123456789X')}校验失败。",
    "resident_id_bad_date": lambda r, v: "身份证号" + (lambda b: b + checks.resident_id_check(b))(
        f"{r.choice(AREAS)}{r.randint(1950, 2005)}1332{v.digits(3)}") + "日期无效。",
    "card_bad_luhn": lambda r, v: f"Card {_bad_check(v.bank_card().replace(' ', ''), '0123456789')} was declined.",
    "uscc_bad_check": lambda r, v: f"信用代码{_bad_check(v.uscc(), checks.USCC_CHARS)}不存在。",
    "vin_bad_check": lambda r, v: "VIN " + (lambda x: x[:8] + next(c for c in "0123456789X" if c != x[8]) + x[9:])(
        v.vin()) + " failed the check.",
    "order_number": lambda r, v: (f"订单号{r.randint(2019, 2024)}{r.randint(1, 12):02d}{r.randint(1, 28):02d}"
                                  f"{v.digits(r.choice((8, 10, 11)))}已发货。"),
    "timestamp": lambda r, v: r.choice((f"ts={r.randint(1600000000, 1750000000)}",
                                        f"created_at {r.randint(1600000000000, 1750000000000)} ms",
                                        f"{r.randint(2019, 2024)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
                                        f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}")),
    "serial": lambda r, v: r.choice((f"设备序列号SN{v.digits(11)}出厂。", f"Serial no. X{v.digits(11)}Y",
                                     f"批次号 1{v.digits(13)} 合格", f"快递单号{r.choice('JSY')}T{v.digits(13)}")),
    "version": lambda r, v: f"Upgrade to version {r.randint(1, 9)}.{r.randint(0, 20)}.{r.randint(0, 99)} please.",
    "price": lambda r, v: f"总价 {r.randint(100, 99999)}.{r.randint(0, 99):02d} 元，数量 {r.randint(1, 50)}。",
    "ssn_never_issued": lambda r, v: (f"Test SSN {r.choice(('000', '666', '900', '987'))}-{r.randint(10, 99)}-"
                                      f"{r.randint(1000, 9999)} is fake."),
    "short_numbers": lambda r, v: f"房间{r.randint(100, 999)}，分机{r.randint(1000, 9999)}，邮编{v.digits(6)}。",
    "plain_zh": lambda r, v: r.choice(FILLER_ZH) + r.choice(FILLER_ZH),
    "plain_en": lambda r, v: r.choice(FILLER_EN) + " " + r.choice(FILLER_EN),
}

CATEGORIES_IN_CORPUS = tuple(TEMPLATES) + ("person_name", "address")


def corpus(n: int = 1000, seed: int = 16) -> list[Sample]:
    """`n` samples: about three in four hold values (every category in turn), the rest are hard negatives."""
    rng = random.Random(seed)
    values = Values(rng)
    samples: list[Sample] = []
    kinds = list(NEGATIVES)
    for i in range(n):
        if i % 4 == 3:
            kind = kinds[(i // 4) % len(kinds)]
            samples.append(Sample(NEGATIVES[kind](rng, values), [], True))
        else:
            category = CATEGORIES_IN_CORPUS[(i - i // 4) % len(CATEGORIES_IN_CORPUS)]
            samples.append(positive(rng, values, category))
    return samples


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


def score(samples: list[Sample], predict: Callable[[str], list[tuple[str, int, int]]]) -> dict[str, Score]:
    """Exact-span, exact-category scores per category."""
    scores: dict[str, Score] = {}
    for sample in samples:
        gold = set(sample.spans)
        found = set(predict(sample.text))
        for category, _, _ in gold | found:
            scores.setdefault(category, Score())
        for item in found & gold:
            scores[item[0]].tp += 1
        for item in found - gold:
            scores[item[0]].fp += 1
        for item in gold - found:
            scores[item[0]].fn += 1
    return scores
