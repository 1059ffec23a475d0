"""New addresses a retail user may move to or ship an order to, and addresses as the user says them."""

from __future__ import annotations

import random
from typing import Any

# New addresses a user may move to or ship to: street names and (city, state, zip) triples.
_STREETS = (
    "Maple Avenue",
    "Cedar Lane",
    "Harbor Road",
    "Willow Street",
    "Sunset Boulevard",
    "Lakeview Drive",
    "Pine Court",
    "Elm Street",
    "Highland Avenue",
    "River Road",
    "Chestnut Street",
    "Park Place",
    "Oak Ridge Drive",
    "Meadow Lane",
    "Broad Street",
)
_CITIES = (
    ("Portland", "OR", "97205"),
    ("Austin", "TX", "78704"),
    ("Denver", "CO", "80203"),
    ("Madison", "WI", "53703"),
    ("Raleigh", "NC", "27601"),
    ("Tucson", "AZ", "85701"),
    ("Boise", "ID", "83702"),
    ("Albany", "NY", "12207"),
    ("Savannah", "GA", "31401"),
    ("Burlington", "VT", "05401"),
    ("Omaha", "NE", "68102"),
    ("Spokane", "WA", "99201"),
)


def address_text(a: dict[str, str]) -> str:
    """An address on one line, as the user says it."""
    line2 = f", {a['address2']}" if a["address2"] else ""
    return f"{a['address1']}{line2}, {a['city']}, {a['state']} {a['zip']}, {a['country']}"


def address_dict(address: Any) -> dict[str, str]:
    """A DB address as the tools' keyword arguments."""
    return {k: getattr(address, k) for k in ("address1", "address2", "city", "state", "country", "zip")}


def new_address(rng: random.Random, avoid: list[dict[str, str]]) -> dict[str, str]:
    """A plausible US address that differs from every address in ``avoid``."""
    while True:
        city, state, zip_code = rng.choice(_CITIES)
        unit = rng.choice(("", "", f"Apt {rng.randint(1, 40)}", f"Suite {rng.randint(100, 999)}"))
        addr = {
            "address1": f"{rng.randint(10, 9999)} {rng.choice(_STREETS)}",
            "address2": unit,
            "city": city,
            "state": state,
            "country": "USA",
            "zip": zip_code,
        }
        if addr not in avoid:
            return addr
