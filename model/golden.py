"""Inputs for the golden fixtures: typical registrations plus the edge cases a scorer must
treat exactly like the Python model does (nulls, categories never seen in training, ages
outside the training range)."""

from __future__ import annotations

import generate_data

TYPICAL_COUNT = 150
TYPICAL_SEED = generate_data.DEFAULT_SEED + 1
FIRST_EDGE_USER_ID = 900_001

BASE = {
    "ip_country": "ru",
    "device_country": "ru",
    "device_language": "ru",
    "platform": "Android",
    "platform_store": "Google Play",
    "smartphone_brand": "samsung",
    "child_smartphone_brand": "samsung",
    "is_organic": 0,
    "child_age": 13,
}
IOS_BASE = {
    **BASE,
    "ip_country": "de",
    "device_country": "de",
    "device_language": "de",
    "platform": "iOS",
    "platform_store": "App Store",
    "smartphone_brand": "iphone",
    "child_smartphone_brand": "elari",
    "is_organic": 1,
    "child_age": 6,
}
UNSEEN = {
    "ip_country": "zz",
    "device_country": "xx",
    "device_language": "tlh",
    "platform": "Windows Phone",
    "platform_store": "F-Droid",
    "smartphone_brand": "nokia3310",
    "child_smartphone_brand": "tamagotchi",
}


def _edge_cases() -> list[dict[str, object]]:
    cases: list[dict[str, object]] = []
    all_missing = {field: None for field in BASE}
    cases.append(all_missing)
    for base in (BASE, IOS_BASE):
        for field in BASE:
            cases.append({**base, field: None})
        for field, value in UNSEEN.items():
            cases.append({**base, field: value})
    cases.append({**BASE, **UNSEEN})
    cases.append({**BASE, **UNSEEN, "is_organic": None, "child_age": None})
    # Case matters to the encoder: "Samsung" is a different, unseen category.
    cases.append({**BASE, "smartphone_brand": "Samsung", "platform": "android"})
    # The literal fill value reads as the same category as a missing one.
    cases.append({**BASE, "child_smartphone_brand": "Unknown", "ip_country": "Unknown"})
    for age in (0, 1, 17, 18, 99, 7.5):
        cases.append({**BASE, "child_age": age})
        cases.append({**IOS_BASE, "child_age": age})
    for organic in (0, 1, None):
        cases.append({**BASE, "is_organic": organic, "child_age": None})
        cases.append({**IOS_BASE, "is_organic": organic})
    return cases


def build_golden_inputs() -> list[dict[str, object]]:
    """Rows keyed by user_id and the snake_case raw fields; None marks a missing value."""
    typical = generate_data.registrations_only(TYPICAL_COUNT, TYPICAL_SEED)
    edges = [{"user_id": FIRST_EDGE_USER_ID + i, **case} for i, case in enumerate(_edge_cases())]
    return typical + edges
