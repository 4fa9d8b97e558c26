"""Deterministic synthetic registrations with labels for the offer model.

The original training table is not public, so this generator reproduces its shape: the same
raw fields, category cardinalities close to the original one-hot widths, long-tailed
frequencies, nulls at the original rates, and labels that depend on the fields (and on each
other) through the coefficient tables below, plus noise that no input explains, so a model can
learn the rules but not reproduce the labels exactly. generating_rules_markdown() states the
rules for the model card from the same tables, so card and code cannot disagree.

Usage: python generate_data.py --out data/registrations.csv [--rows 10000] [--seed 20240611]
"""

from __future__ import annotations

import argparse
import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_ROWS = 10_000
DEFAULT_SEED = 20240611

STRING_FIELDS = (
    "ip_country",
    "device_country",
    "device_language",
    "platform",
    "platform_store",
    "smartphone_brand",
    "child_smartphone_brand",
)
NUMBER_FIELDS = ("is_organic", "child_age")
LABELS = (
    "cost",
    "subscription_days",
    "function_map",
    "function_ignore_sound",
    "function_listen_sound",
    "function_detailed_routes",
    "function_sos_signal",
    "function_invite_second_parent",
)
COLUMNS = ("user_id", *STRING_FIELDS, *NUMBER_FIELDS, *LABELS)

# 90 device countries, most frequent first (the app is strongest in the post-Soviet region).
DEVICE_COUNTRIES = (
    "ru kz ua by uz de us tr br pl kg am az ge md tj il it es fr gb ca au nl cz sk lt lv ee fi "
    "se no dk at ch be pt gr ro bg hu rs hr si ba me mk al cy ie is mx ar cl co pe ec ve uy py "
    "bo in id my th vn ph sg jp kr cn ae sa qa kw eg ma tn dz ng ke za nz mn pk bd iq jo lb tm"
).split()
# Seen only as ip_country: VPN exits and travel destinations that no device reports as home.
IP_ONLY_COUNTRIES = "hk tw lu mt li mc ad sm gh et".split()
HEAD_COUNTRY_SHARES = {"ru": 0.30, "kz": 0.06, "ua": 0.05, "by": 0.04, "uz": 0.03}
VPN_COUNTRIES = {"nl", "de", "fi", "se", "us", "lu", "hk", "ch", "gb", "sg"}

TIER_A = set(
    "us gb de fr ca au nl se no dk at ch be fi ie is il ae sa qa kw jp kr nz sg it es".split()
) | {"lu", "mc", "li"}
TIER_B = set(
    "ru kz by pl cz sk lt lv ee pt gr ro bg hu rs hr si cy tr br mx ar cl uy my th cn".split()
)

LANGUAGES = (
    "ru en uk kk uz de tr pt pl es fr it ar he hy az ka ro cs sk lt lv et fi sv no da nl el bg "
    "hu sr hr sl zh ja ko vi th id ms hi fa be"
).split()
MAIN_LANGUAGE = {
    "ru": "ru",
    "kz": "ru",
    "by": "ru",
    "kg": "ru",
    "tj": "ru",
    "tm": "ru",
    "md": "ro",
    "ua": "uk",
    "uz": "uz",
    "am": "hy",
    "az": "az",
    "ge": "ka",
    "de": "de",
    "at": "de",
    "ch": "de",
    "tr": "tr",
    "br": "pt",
    "pt": "pt",
    "pl": "pl",
    "es": "es",
    "mx": "es",
    "ar": "es",
    "cl": "es",
    "co": "es",
    "pe": "es",
    "ec": "es",
    "ve": "es",
    "uy": "es",
    "py": "es",
    "bo": "es",
    "fr": "fr",
    "be": "fr",
    "ma": "fr",
    "tn": "fr",
    "dz": "fr",
    "it": "it",
    "il": "he",
    "ae": "ar",
    "sa": "ar",
    "qa": "ar",
    "kw": "ar",
    "eg": "ar",
    "iq": "ar",
    "jo": "ar",
    "lb": "ar",
    "ro": "ro",
    "cz": "cs",
    "sk": "sk",
    "lt": "lt",
    "lv": "lv",
    "ee": "et",
    "fi": "fi",
    "se": "sv",
    "no": "no",
    "dk": "da",
    "nl": "nl",
    "gr": "el",
    "cy": "el",
    "bg": "bg",
    "hu": "hu",
    "rs": "sr",
    "me": "sr",
    "ba": "sr",
    "hr": "hr",
    "si": "sl",
    "cn": "zh",
    "jp": "ja",
    "kr": "ko",
    "vn": "vi",
    "th": "th",
    "id": "id",
    "my": "ms",
    "in": "hi",
}
POST_SOVIET = set("ru kz ua by uz kg am az ge md tj tm lt lv ee".split())

PLATFORMS = ("Android", "iOS", "HarmonyOS")
PLATFORM_SHARES = (0.74, 0.24, 0.02)

# 48 Android makers, most frequent first; with "iphone" that is 49 parent brands.
ANDROID_BRANDS = (
    "samsung xiaomi redmi realme honor huawei poco tecno oppo vivo infinix oneplus motorola "
    "nokia google zte sony meizu asus lenovo itel alcatel blackview doogee umidigi ulefone "
    "oukitel cubot tcl htc bq fly digma inoi haier wiko micromax lava sharp nothing fairphone "
    "cat hisense gionee coolpad nubia leeco vertex"
).split()
ANDROID_HEAD_SHARES = {
    "samsung": 0.28,
    "xiaomi": 0.13,
    "redmi": 0.12,
    "realme": 0.06,
    "honor": 0.06,
    "huawei": 0.05,
    "poco": 0.04,
}
# Children's smart watches and kids' phones: the app pairs with these as the child device.
WATCH_BRANDS = (
    "elari aimoto jet geozon wonlex smartbabywatch canyon ginzzu prolike knopka xplora imoo "
    "amazfit garmin kidsmart tiroki haylou mibro kieslect digoo q50 q90 gogps"
).split()
CHILD_PHONE_ONLY = "bbk texet philips maxvi vtech myphone irbis dexp".split()

BUDGET_BRANDS = set(
    "tecno infinix itel bq fly digma inoi micromax lava vertex doogee cubot oukitel umidigi "
    "blackview".split()
)
XIAOMI_FAMILY = {"xiaomi", "redmi", "poco"}
HUAWEI_FAMILY = {"huawei", "honor"}

NULL_IP_COUNTRY = 0.02
NULL_CHILD_AGE = 0.15
NULL_CHILD_BRAND = 0.15
# Parents who skip the child's age tend to skip the child's device too.
NULL_CHILD_BRAND_IF_AGE_NULL = 0.40

MONTHLY_PRICE_USD = 5.0
TIER_PRICE = {"A": 1.0, "B": 0.55, "C": 0.3}
IOS_PRICE_FACTOR = 1.25

# Engagement: a hidden per-user score that drives every label. Terms are indicators unless
# named otherwise; ENGAGEMENT_NOISE is the part no input explains.
ENGAGEMENT_TERMS = {
    "is_organic": 0.7,
    "iOS": 0.5,
    "tier A": 0.5,
    "tier C": -0.4,
    "age 4–10": 0.6,
    "age 11–13": 0.2,
    "age ≥ 14": -0.4,
    "age unknown": -0.6,
    "child watch": 0.3,
    "child device unknown": -0.7,
    "language neither local nor ru/en": -0.25,
    "ip_country ≠ device_country": 0.2,
    "brand bonus": 1.0,
}
ENGAGEMENT_NOISE = 0.3
BRAND_BONUS = {
    "iphone": 0.5,
    "samsung": 0.2,
    "google": 0.3,
    "oneplus": 0.3,
    "sony": 0.3,
    "nothing": 0.3,
}
BUDGET_BRAND_BONUS = -0.4

SUBSCRIPTION_BASE_DAYS = 32.0
SUBSCRIPTION_DAYS_PER_Z = 30.0
SUBSCRIPTION_NOISE_DAYS = 11.0
COST_RELATIVE_NOISE = 0.12
COST_ABSOLUTE_NOISE_USD = 0.6

# Each flag is Bernoulli(sigmoid(bias + sum(coefficient * term))), drawn in this order so
# that later flags can use earlier ones ("map", "flags so far").
FLAG_LOGITS: dict[str, tuple[float, dict[str, float]]] = {
    "function_map": (-0.6, {"z": 2.0, "age 4–12": 1.4, "child watch": 1.0}),
    "function_listen_sound": (
        -1.2,
        {
            "child watch": 3.5,
            "child Android phone": 2.2,
            "child iphone": -4.0,
            "child device unknown": -1.5,
            "age ≤ 8": 1.2,
            "z": 0.6,
        },
    ),
    "function_ignore_sound": (
        -1.2,
        {"child phone": 2.0, "child watch": -2.8, "age − 10 (0 if unknown)": 0.18, "z": 0.8},
    ),
    "function_detailed_routes": (
        -2.8,
        {"map": 2.4, "age − 8 (0 if unknown)": 0.3, "iOS": 1.2, "z": 1.6},
    ),
    "function_sos_signal": (-2.2, {"child watch": 3.6, "age ≤ 9": 1.4, "map": 0.6, "z": 0.8}),
    "function_invite_second_parent": (
        -3.4,
        {"flags so far": 0.7, "is_organic": 1.4, "z": 1.3},
    ),
}


@dataclass(frozen=True)
class Registration:
    user_id: int
    ip_country: str | None
    device_country: str
    device_language: str
    platform: str
    platform_store: str
    smartphone_brand: str
    child_smartphone_brand: str | None
    is_organic: int
    child_age: int | None


def _zipf_weights(count: int, exponent: float = 1.1, offset: float = 0.0) -> np.ndarray:
    ranks = np.arange(1, count + 1, dtype=np.float64)
    weights = 1.0 / (ranks + offset) ** exponent
    return weights / weights.sum()


def _head_and_tail(values: list[str], head: dict[str, float]) -> np.ndarray:
    tail = [v for v in values if v not in head]
    tail_share = 1.0 - sum(head.values())
    tail_weights = dict(zip(tail, _zipf_weights(len(tail), 1.0, 2.0) * tail_share))
    probs = np.array([head.get(v, tail_weights.get(v, 0.0)) for v in values])
    return probs / probs.sum()


class _Sampler:
    """Categorical draws from fixed tables, all from one generator so order fixes the data."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.device_countries = list(DEVICE_COUNTRIES)
        self.device_country_p = _head_and_tail(self.device_countries, HEAD_COUNTRY_SHARES)
        self.ip_countries = list(DEVICE_COUNTRIES) + list(IP_ONLY_COUNTRIES)
        ip_w = _zipf_weights(len(self.ip_countries), 0.8)
        ip_w = np.array(
            [w * (6.0 if c in VPN_COUNTRIES else 1.0) for c, w in zip(self.ip_countries, ip_w)]
        )
        self.ip_country_p = ip_w / ip_w.sum()
        self.android = list(ANDROID_BRANDS)
        self.android_p = _head_and_tail(self.android, ANDROID_HEAD_SHARES)
        self.watches = list(WATCH_BRANDS)
        self.watch_p = _zipf_weights(len(self.watches), 0.9)
        self.child_phones = ["iphone"] + list(ANDROID_BRANDS) + list(CHILD_PHONE_ONLY)
        phone_rest = _zipf_weights(len(self.child_phones) - 1, 1.0) * 0.85
        self.child_phone_p = np.concatenate([[0.15], phone_rest])
        ages = np.arange(1, 18)
        age_w = np.exp(-((ages - 8.5) ** 2) / (2 * 3.2**2))
        self.ages = ages
        self.age_p = age_w / age_w.sum()

    def pick(self, values: list[str], probs: np.ndarray) -> str:
        return values[int(self.rng.choice(len(values), p=probs))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)


def _draw_registration(s: _Sampler, user_id: int) -> Registration:
    device_country = s.pick(s.device_countries, s.device_country_p)
    if s.chance(NULL_IP_COUNTRY):
        ip_country = None
    elif s.chance(0.88):
        ip_country = device_country
    else:
        ip_country = s.pick(s.ip_countries, s.ip_country_p)

    main_language = MAIN_LANGUAGE.get(device_country, "en")
    roll = s.rng.random()
    if roll < 0.78:
        language = main_language
    elif roll < 0.88:
        language = "en"
    elif roll < 0.95 and main_language != "ru":
        language = "ru"
    else:
        language = LANGUAGES[int(s.rng.integers(len(LANGUAGES)))]

    platform = PLATFORMS[int(s.rng.choice(len(PLATFORMS), p=PLATFORM_SHARES))]
    if platform == "iOS":
        brand, store = "iphone", "App Store"
    elif platform == "HarmonyOS":
        brand, store = ("huawei" if s.chance(0.9) else "honor"), "AppGallery"
    else:
        brand = s.pick(s.android, s.android_p)
        if s.chance(0.015):
            store = "APK"
        elif brand in HUAWEI_FAMILY and s.chance(0.30):
            store = "AppGallery"
        elif brand == "samsung" and s.chance(0.10):
            store = "Galaxy Store"
        elif brand in XIAOMI_FAMILY and s.chance(0.08):
            store = "GetApps"
        elif s.chance(0.12 if device_country == "ru" else 0.02):
            store = "RuStore"
        else:
            store = "Google Play"

    tier = _tier(device_country)
    organic_p = 0.45 + (0.15 if platform == "iOS" else 0.0) - (0.10 if tier == "C" else 0.0)
    is_organic = int(s.chance(organic_p))

    child_age = (
        None if s.chance(NULL_CHILD_AGE) else int(s.ages[s.rng.choice(len(s.ages), p=s.age_p)])
    )
    null_brand_p = (
        NULL_CHILD_BRAND_IF_AGE_NULL
        if child_age is None
        else (NULL_CHILD_BRAND - NULL_CHILD_AGE * NULL_CHILD_BRAND_IF_AGE_NULL)
        / (1 - NULL_CHILD_AGE)
    )
    if s.chance(null_brand_p):
        child_brand = None
    else:
        if child_age is None:
            watch_p = 0.20
        elif child_age <= 7:
            watch_p = 0.45
        elif child_age <= 10:
            watch_p = 0.25
        else:
            watch_p = 0.08
        if s.chance(watch_p):
            child_brand = s.pick(s.watches, s.watch_p)
        elif s.chance(0.40):
            child_brand = brand
        else:
            child_brand = s.pick(s.child_phones, s.child_phone_p)

    return Registration(
        user_id=user_id,
        ip_country=ip_country,
        device_country=device_country,
        device_language=language,
        platform=platform,
        platform_store=store,
        smartphone_brand=brand,
        child_smartphone_brand=child_brand,
        is_organic=is_organic,
        child_age=child_age,
    )


def _tier(country: str | None) -> str:
    if country in TIER_A:
        return "A"
    if country in TIER_B:
        return "B"
    return "C"


def _child_kind(child_brand: str | None) -> str:
    if child_brand is None:
        return "missing"
    if child_brand in WATCH_BRANDS:
        return "watch"
    if child_brand == "iphone":
        return "iphone"
    return "android"


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _input_terms(r: Registration) -> dict[str, float]:
    """The observable terms the label rules are written in (see ENGAGEMENT_TERMS and
    FLAG_LOGITS)."""
    tier = _tier(r.device_country)
    kind = _child_kind(r.child_smartphone_brand)
    age = r.child_age
    brand_bonus = BRAND_BONUS.get(r.smartphone_brand, 0.0) + (
        BUDGET_BRAND_BONUS if r.smartphone_brand in BUDGET_BRANDS else 0.0
    )
    main_language = MAIN_LANGUAGE.get(r.device_country, "en")
    terms = {
        "is_organic": float(r.is_organic),
        "iOS": r.platform == "iOS",
        "tier A": tier == "A",
        "tier C": tier == "C",
        "age 4–10": age is not None and 4 <= age <= 10,
        "age 11–13": age is not None and 11 <= age <= 13,
        "age ≥ 14": age is not None and age >= 14,
        "age unknown": age is None,
        "age 4–12": age is not None and 4 <= age <= 12,
        "age ≤ 8": age is not None and age <= 8,
        "age ≤ 9": age is not None and age <= 9,
        "age − 10 (0 if unknown)": 0.0 if age is None else age - 10.0,
        "age − 8 (0 if unknown)": 0.0 if age is None else age - 8.0,
        "child watch": kind == "watch",
        "child iphone": kind == "iphone",
        "child Android phone": kind == "android",
        "child phone": kind in ("iphone", "android"),
        "child device unknown": kind == "missing",
        "language neither local nor ru/en": r.device_language not in {main_language, "ru", "en"},
        "ip_country ≠ device_country": r.ip_country is not None
        and r.ip_country != r.device_country,
        "brand bonus": brand_bonus,
    }
    return {name: float(value) for name, value in terms.items()}


def _linear(terms: dict[str, float], coefficients: dict[str, float]) -> float:
    return sum(coefficient * terms[name] for name, coefficient in coefficients.items())


def _draw_labels(rng: np.random.Generator, r: Registration) -> dict[str, float | int]:
    terms = _input_terms(r)
    z = _linear(terms, ENGAGEMENT_TERMS) + rng.normal(0.0, ENGAGEMENT_NOISE)
    terms["z"] = z

    days = SUBSCRIPTION_BASE_DAYS + SUBSCRIPTION_DAYS_PER_Z * z
    days = int(np.clip(round(days + rng.normal(0.0, SUBSCRIPTION_NOISE_DAYS)), 0, 365))
    tier = _tier(r.device_country)
    price = MONTHLY_PRICE_USD * TIER_PRICE[tier] * (IOS_PRICE_FACTOR if terms["iOS"] else 1.0)
    cost = days / 30 * price * (1 + rng.normal(0.0, COST_RELATIVE_NOISE))
    cost = round(max(cost + rng.normal(0.0, COST_ABSOLUTE_NOISE_USD), 0.0), 2)

    labels: dict[str, float | int] = {"cost": cost, "subscription_days": days}
    terms["flags so far"] = 0.0
    for label, (bias, coefficients) in FLAG_LOGITS.items():
        used = int(rng.random() < _sigmoid(bias + _linear(terms, coefficients)))
        labels[label] = used
        terms["flags so far"] += used
        if label == "function_map":
            terms["map"] = float(used)
    return {name: labels[name] for name in LABELS}


def _formula(bias: float, coefficients: dict[str, float]) -> str:
    parts = [] if bias == 0 else [f"{bias:g}".replace("-", "−")]
    for name, coefficient in coefficients.items():
        if name in ("z", "map", "flags so far", "brand bonus", "is_organic"):
            term = name
        elif "(0 if unknown)" in name:
            term = f"({name.replace(' (0 if unknown)', '')}; 0 if unknown)"
        else:
            term = f"[{name}]"
        sign = "−" if coefficient < 0 else "+"
        if parts:
            parts.append(f"{sign} {abs(coefficient):g}·{term}")
        else:
            parts.append(f"{'−' if coefficient < 0 else ''}{abs(coefficient):g}·{term}")
    return f"`{' '.join(parts)}`"


def generating_rules_markdown() -> str:
    """The rules above, as the model card states them; rendered from the same constants."""
    flags = "\n".join(
        f"  - `{label}`: {_formula(bias, coefficients)}"
        for label, (bias, coefficients) in FLAG_LOGITS.items()
    )
    brand_bonus = ", ".join(f"{brand} {bonus:+g}" for brand, bonus in BRAND_BONUS.items())
    engagement = {k: v for k, v in ENGAGEMENT_TERMS.items() if k != "brand bonus"}
    return f"""\
All draws come from one `numpy.random.Generator(PCG64(seed))` in a fixed order, so the same
seed and row count give the same file byte for byte (seed {DEFAULT_SEED}, {DEFAULT_ROWS} rows).

**Inputs**

- `device_country`: {len(DEVICE_COUNTRIES)} ISO 3166-1 alpha-2 codes, lower case. Fixed
  shares for the head (ru 30 %, kz 6 %, ua 5 %, by 4 %, uz 3 %); the other
  {len(DEVICE_COUNTRIES) - len(HEAD_COUNTRY_SHARES)} codes share the remaining 52 % with
  weights `1 / (rank + 2)`.
- `ip_country`: null with probability {NULL_IP_COUNTRY:.0%}; otherwise equal to
  `device_country` with probability 88 %, else (travel, VPN) drawn from the device countries
  plus {len(IP_ONLY_COUNTRIES)} ip-only codes ({", ".join(IP_ONLY_COUNTRIES)}) with weights
  `1 / rank^0.8`, VPN exit countries ({", ".join(sorted(VPN_COUNTRIES))}) ×6 —
  {len(DEVICE_COUNTRIES) + len(IP_ONLY_COUNTRIES)} codes in all.
- `device_language`: {len(LANGUAGES)} ISO 639-1 codes. The country's main language with
  probability 78 %, `en` 10 %, `ru` 7 % (when the main language is not ru), otherwise uniform
  over all languages. Countries without a listed main language count `en` as main.
- `platform`: Android 74 %, iOS 24 %, HarmonyOS 2 %.
- `smartphone_brand`: `iphone` on iOS; `huawei` (90 %) or `honor` on HarmonyOS; on Android
  one of {len(ANDROID_BRANDS)} makers with fixed head shares (samsung 28 %, xiaomi 13 %,
  redmi 12 %, realme 6 %, honor 6 %, huawei 5 %, poco 4 %), the rest `1 / (rank + 2)`.
- `platform_store` (7 values): App Store on iOS, AppGallery on HarmonyOS. On Android: APK
  1.5 %; then AppGallery for 30 % of huawei/honor, Galaxy Store for 10 % of samsung,
  GetApps for 8 % of xiaomi/redmi/poco, RuStore for 12 % in ru (2 % elsewhere), otherwise
  Google Play.
- `is_organic`: 1 with probability 0.45, +0.15 on iOS, −0.10 in tier-C countries (below);
  never null in training.
- `child_age`: null with probability {NULL_CHILD_AGE:.0%}; otherwise an integer 1–17 with
  weights `exp(−(age − 8.5)² / (2·3.2²))`.
- `child_smartphone_brand`: null with probability {NULL_CHILD_BRAND_IF_AGE_NULL:.0%} when
  `child_age` is null and about 10.6 % otherwise (≈ {NULL_CHILD_BRAND:.0%} overall).
  Otherwise a children's watch ({len(WATCH_BRANDS)} makers, weights `1 / rank^0.9`) with
  probability 45 % for ages ≤ 7, 25 % for 8–10, 8 % for ≥ 11 and 20 % for unknown age; else
  the parent's own brand with probability 40 %; else a phone: iphone 15 %, the
  {len(ANDROID_BRANDS)} Android makers and {len(CHILD_PHONE_ONLY)} kids'-phone makers sharing
  85 % with weights `1 / rank`.
  {len(ANDROID_BRANDS) + 1 + len(WATCH_BRANDS) + len(CHILD_PHONE_ONLY)} codes in all.

**Hidden quantities** (not inputs; they shape the labels)

- Country tier of `device_country`: A (rich markets: {", ".join(sorted(TIER_A))}), B
  ({", ".join(sorted(TIER_B))}), C (everything else). Price factor A ×{TIER_PRICE["A"]:g},
  B ×{TIER_PRICE["B"]:g}, C ×{TIER_PRICE["C"]:g}.
- Child device kind from `child_smartphone_brand`: watch (a watch maker), iphone, Android
  phone (any other maker) or unknown (null).
- Brand bonus of `smartphone_brand`: {brand_bonus}; budget makers
  ({", ".join(sorted(BUDGET_BRANDS))}) {BUDGET_BRAND_BONUS:+g}; others 0.
- Engagement `z = {_formula(0.0, engagement)[1:-1]} + brand bonus + u`, with user noise
  `u ~ N(0, {ENGAGEMENT_NOISE:g})` that no input explains. `[x]` is 1 when x holds, else 0.

**Labels**

- `subscription_days = clip(round({SUBSCRIPTION_BASE_DAYS:g} + {SUBSCRIPTION_DAYS_PER_Z:g}·z + N(0, {SUBSCRIPTION_NOISE_DAYS:g})), 0, 365)`
- `cost` in USD: `max(0, subscription_days / 30 · {MONTHLY_PRICE_USD:g} · price factor · iOS factor · (1 + N(0, {COST_RELATIVE_NOISE:g})) + N(0, {COST_ABSOLUTE_NOISE_USD:g}))`
  rounded to cents, with the tier's price factor and an iOS factor of {IOS_PRICE_FACTOR:g}
  (1 elsewhere).
- Six usage flags, each `Bernoulli(sigmoid(logit))`, drawn in this order so that later flags
  depend on earlier ones (`map` is the drawn map flag, `flags so far` the number of flags
  already drawn as 1):
{flags}
"""


def generate(rows: int = DEFAULT_ROWS, seed: int = DEFAULT_SEED) -> list[dict[str, object]]:
    """Rows as dicts keyed by COLUMNS; missing values are None."""
    rng = np.random.Generator(np.random.PCG64(seed))
    sampler = _Sampler(rng)
    out: list[dict[str, object]] = []
    for user_id in range(1, rows + 1):
        registration = _draw_registration(sampler, user_id)
        labels = _draw_labels(rng, registration)
        out.append({**registration.__dict__, **labels})
    return out


def registrations_only(rows: int, seed: int) -> list[dict[str, object]]:
    """Inputs without labels, for fixtures drawn from the same distribution as training."""
    return [
        {k: row[k] for k in ("user_id", *STRING_FIELDS, *NUMBER_FIELDS)}
        for row in generate(rows, seed)
    ]


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    """Missing values are empty fields; numbers are written with repr so reading is exact."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in COLUMNS])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=DEFAULT_ROWS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args()
    rows = generate(args.rows, args.seed)
    write_csv(rows, args.out)
    print(f"wrote {len(rows)} rows to {args.out}")


if __name__ == "__main__":
    main()
