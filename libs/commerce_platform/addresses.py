"""Postal addresses as every service takes them (profiles, orders' shipping address), and ISO 3166-1
alpha-2 country codes to validate them."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta, Struct

# One line per first letter, so a missing or extra code is easy to spot in review.
_ASSIGNED = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
DE DJ DK DM DO DZ
EC EE EG EH ER ES ET
FI FJ FK FM FO FR
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
HK HM HN HR HT HU
ID IE IL IM IN IO IQ IR IS IT
JE JM JO JP
KE KG KH KI KM KN KP KR KW KY KZ
LA LB LC LI LK LR LS LT LU LV LY
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
NA NC NE NF NG NI NL NO NP NR NU NZ
OM
PA PE PF PG PH PK PL PM PN PR PS PT PW PY
QA
RE RO RS RU RW
SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
UA UG UM US UY UZ
VA VC VE VG VI VN VU
WF WS
YE YT
ZA ZM ZW
"""

COUNTRY_CODES: frozenset[str] = frozenset(_ASSIGNED.split())


def is_country_code(code: str) -> bool:
    """True for an assigned alpha-2 code in upper case ("DE"), false for "de", "XX" or "UK"."""
    return code in COUNTRY_CODES


# At least one visible character: "   " is not a line of an address.
_VISIBLE = r"\S"
AddressLine = Annotated[str, Meta(min_length=1, max_length=200, pattern=_VISIBLE)]
OptionalLine = Annotated[str, Meta(max_length=200)]
PostalCode = Annotated[str, Meta(min_length=1, max_length=20, pattern=_VISIBLE)]
CountryCode = Annotated[str, Meta(min_length=2, max_length=2, examples=["DE"])]


class PostalAddress(Struct, forbid_unknown_fields=True, kw_only=True):
    """`{full_name, line1, line2?, city, region?, postal_code, country}`, country as ISO 3166-1 alpha-2."""

    full_name: AddressLine
    line1: AddressLine
    city: AddressLine
    postal_code: PostalCode
    country: CountryCode
    line2: OptionalLine | None = None
    region: OptionalLine | None = None

    def __post_init__(self) -> None:
        if not is_country_code(self.country):
            raise ValueError(f"country: {self.country!r} is not an ISO 3166-1 alpha-2 country code")
