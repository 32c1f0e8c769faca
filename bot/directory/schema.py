"""The directory's file formats as pydantic models, and their errors as `path:line: message`.

One model per kind of entry (a region, a network, a service, a law card, a notice...); the
loader (`bot/directory/model.py`) validates each entry on its own, so one broken entry never
hides the others, and keeps the checks that span entries or files (duplicate ids, a country in
two regions, unknown regions, file names) as small functions of its own.

Messages are written for a maintainer, not in pydantic's words: every validator raises
`fail(...)` with the final text, where `{key}` stands for the field's dotted path inside its
entry (`contacts.website`, `note.en`). `validate` maps each error's location back to the line of
the offending key with the shared YAML line reader (`bot/yaml_lines.py`). Rules across fields
(`Entry.rules`) are checked on the mapping as written, beside the fields' own problems.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, NoReturn, Self, TypeVar, get_args
from urllib.parse import urlsplit

from babel import Locale
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from bot.config import LANGUAGES
from bot.directory.law import (
    ACTIVITIES,
    ACTIVITY,
    AS_OF_RE,
    CATEGORIES,
    HIV,
    MAX_AFTER_VIOLENCE,
    MAX_CARD_NOTE,
    MAX_RISK_TEXT,
    consistent,
)
from bot.directory.law import REVIEW as LAW_REVIEW
from bot.problems import Problem
from bot.yaml_lines import LineDict, LineList, start_line

# Babel's territories include groupings, reserved and uninhabited codes nobody lives in; Kosovo
# (XK) is user-assigned but in everyday use, so it stays.
NOT_COUNTRIES = frozenset(
    {"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB", "AQ", "BV", "HM", "TF", "UM", "CP", "DG", "EA"}
    | {"IC", "TA", "AC"}
)
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")
# Telegram usernames: 5-32 characters, letters, digits and underscores, starting with a letter.
TELEGRAM_RE = re.compile(r"^@?([A-Za-z][A-Za-z0-9_]{3,30}[A-Za-z0-9])$")
PHONE_RE = re.compile(r"^\+?[0-9][0-9 ()./-]{5,24}[0-9]$")
# Telegram allows 4096 characters a message: a page of three service cards, or a network card
# under a heading, must fit.
MAX_TEXT = 1000
MAX_NOTE = 600
# Whose public list an entry comes from: a network id from networks.yaml, a lister that
# networks.yaml's `listers` map names (to a network id, or to a name), or the organisation's own
# site. No organisation's name is written in the code (see test_privacy_branding).
OWN_SITE = "own-site"
REVIEW = ("draft", "reviewed")

KEY = "{key}"  # stands for the field's dotted path in a message; `explain` fills it in


@cache
def country_codes() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes of places people live in, from Babel's CLDR data."""
    return frozenset(
        code
        for code in Locale("en").territories
        if isinstance(code, str)
        and len(code) == 2
        and code.isalpha()
        and code not in NOT_COUNTRIES
    )


@cache
def language_codes() -> frozenset[str]:
    """ISO 639 codes Babel knows a name for (services may speak Bengali, Thai, Ukrainian...)."""
    return frozenset(
        code for code in Locale("en").languages if isinstance(code, str) and code.isalpha()
    )


def fail(message: str) -> NoReturn:
    """Stop validating this value, with the message a maintainer reads."""
    raise PydanticCustomError("directory", message)


# -- values --------------------------------------------------------------------------------


def text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        fail(f"`{KEY}` must be non-empty text")
    return value.strip()


def slug(value: str) -> str:
    if not SLUG_RE.match(value):
        fail(f"id {value!r} must be lowercase-with-dashes")
    return value


def country(code: object) -> str:
    if code is False:
        # YAML 1.1 reads a bare NO (Norway) as false.
        fail("invalid country code false: write Norway as 'NO', in quotes")
    if not isinstance(code, str) or code not in country_codes():
        fail(f"invalid country code {code!r} (expected ISO 3166-1 alpha-2, e.g. KE)")
    return code


def language(code: object) -> str:
    if not isinstance(code, str) or code not in language_codes():
        fail(f"unknown language {code!r} (expected an ISO 639 code such as en, ru, sw)")
    return code


def is_url(value: str) -> bool:
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    host = parts.hostname or ""
    return parts.scheme in ("http", "https") and "." in host and not host.endswith(".")


def url(value: object) -> str:
    if not isinstance(value, str) or not is_url(value):
        fail(f"malformed URL in `{KEY}`: {value!r} (expected https://host/...)")
    return value


def telegram_handle(raw: str) -> str | None:
    """'@name', 'name' or 't.me/name' -> 'name'; None when it cannot be a username."""
    value = raw.strip()
    for prefix in ("https://t.me/", "http://t.me/", "t.me/"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
            break
    match = TELEGRAM_RE.match(value)
    return match.group(1) if match else None


def valid_telegram(raw: str) -> str:
    handle = telegram_handle(raw)
    if handle is None:
        fail(f"malformed Telegram handle {raw!r} (expected @name)")
    return handle


def valid_email(raw: str) -> str:
    if not EMAIL_RE.match(raw):
        fail(f"malformed email {raw!r}")
    return raw


def valid_phone(raw: str) -> str:
    if not PHONE_RE.match(raw):
        fail(f"malformed phone number {raw!r} (expected +country number)")
    return raw


def past_date(value: object, info: ValidationInfo) -> dt.date:
    """A date (YAML's or 2026-01-31 as text) that is not after `today` in the context."""
    key = info.field_name
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            fail(f"{key} {value!r} must be a date like 2026-01-31")
    if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
        fail(f"{key} {value!r} must be a date like 2026-01-31")
    if value > context(info)["today"]:
        fail(f"{key} {value.isoformat()} is in the future")
    return value


def coordinate(limit: int) -> Callable[[object], float | None]:
    def check(value: object) -> float | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            fail(f"`{KEY}` must be a number")
        if not -limit <= value <= limit or math.isnan(value):
            fail(f"`{KEY}` {value} is out of range (-{limit} to {limit})")
        return float(value)

    return check


def choice(allowed: tuple[str, ...]) -> Callable[[object], str]:
    def check(value: object) -> str:
        if value not in allowed:
            fail(f"`{KEY}` {value!r} is not one of {', '.join(allowed)}")
        return str(value)

    return check


T = TypeVar("T")


def listed(message: str) -> Callable[[T], T]:
    def check(value: T) -> T:
        if not isinstance(value, list):
            fail(message)
        return value

    return check


def context(info: ValidationInfo) -> Mapping[str, Any]:
    return info.context or {}


Text = Annotated[str, BeforeValidator(text)]
Slug = Annotated[str, BeforeValidator(text), AfterValidator(slug)]
Country = Annotated[str, BeforeValidator(country)]
Countries = Annotated[
    list[Country], BeforeValidator(listed(f"`{KEY}` must be a list of country codes"))
]
Languages = Annotated[
    tuple[Annotated[str, BeforeValidator(language)], ...],
    BeforeValidator(listed("`languages` must be a list of language codes")),
]
Url = Annotated[str, BeforeValidator(url)]
PastDate = Annotated[dt.date, BeforeValidator(past_date)]


# -- entries -------------------------------------------------------------------------------


class Entry(BaseModel):
    """A mapping in a directory file: unknown keys are errors; a key left empty is missing."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    what: ClassVar[str] = "an entry"  # "unknown field 'x' in <what>"
    not_mapping: ClassVar[str] = f"`{KEY}` must be a mapping"
    missing: ClassVar[str] = "`{name}` is missing"
    none_is_missing: ClassVar[bool] = True

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, data: object) -> object:
        if not isinstance(data, dict):
            fail(cls.not_mapping)
        if not cls.none_is_missing:
            return data
        required = {f.alias or name for name, f in cls.model_fields.items() if f.is_required()}
        return {k: v for k, v in data.items() if v is not None or k not in required}

    @classmethod
    def rules(cls, data: dict[Any, Any]) -> list[tuple[str | None, str]]:
        """Rules across fields, as (the key to report it at, or None for the entry; message).

        Checked on the mapping as written, so they are reported beside any problem of a field:
        one round of fixes is enough."""
        return []

    @model_validator(mode="wrap")
    @classmethod
    def _with_rules(cls, data: object, handler: ModelWrapValidatorHandler[Self]) -> Self:
        broken = cls.rules(data) if isinstance(data, dict) else []
        if not broken:
            return handler(data)
        errors: list[InitErrorDetails] = []
        try:
            handler(data)
        except ValidationError as exc:
            errors = [_again(err) for err in exc.errors()]
        for key, message in broken:
            loc = (key,) if key else ()
            errors.append(InitErrorDetails(type=_custom(message), loc=loc, input=data))
        raise ValidationError.from_exception_data(cls.__name__, errors)


def _custom(message: str) -> PydanticCustomError:
    return PydanticCustomError("directory", message)


def _again(err: ErrorDetails) -> InitErrorDetails:
    """An error met while validating, to raise again beside a broken rule."""
    if err["type"] == "directory":
        return InitErrorDetails(type=_custom(err["msg"]), loc=err["loc"], input=err["input"])
    return InitErrorDetails(type=err["type"], loc=err["loc"], input=err["input"])


class Texts(Entry):
    """Language code -> text; English required (the fallback), the others optional."""

    not_mapping = f"`{KEY}` must map language codes to text"
    missing = "`{parent}` has no English (en) text"
    none_is_missing = False
    limit: ClassVar[int] = MAX_TEXT

    def by_language(self) -> dict[str, str]:
        return {lang: text for lang, text in self.model_dump().items() if text}

    @field_validator("*")
    @classmethod
    def _short(cls, value: str) -> str:
        if len(value) > cls.limit:
            fail(f"`{KEY}` is too long ({len(value)} > {cls.limit} characters)")
        return value

    # One field per language of bot.config.LANGUAGES (test_texts_cover_every_language).
    en: Text
    fr: Text = ""
    es: Text = ""
    ru: Text = ""
    zh: Text = ""
    ar: Text = ""


class Note(Texts):
    limit = MAX_NOTE


class CardNote(Texts):
    limit = MAX_CARD_NOTE


class RiskText(Texts):
    limit = MAX_RISK_TEXT


class AfterViolenceText(Texts):
    limit = MAX_AFTER_VIOLENCE


class Region(Entry):
    what = "a region"
    id: Slug
    name: Texts
    countries: Countries


class Network(Entry):
    what = "a network"
    id: Slug
    name: Text
    region: Text
    countries: Countries
    also_countries: Countries = []
    languages: Languages
    website: Url | None = None
    description: Texts


class Contacts(Entry):
    """Each optional; "" when absent (an empty key is an error, not an absence)."""

    what = "contacts"
    website: Annotated[Text, AfterValidator(url)] = ""
    telegram: Annotated[Text, AfterValidator(valid_telegram)] = ""  # the bare username
    email: Annotated[Text, AfterValidator(valid_email)] = ""
    phone: Annotated[Text, AfterValidator(valid_phone)] = ""
    hours: Text = ""


def need_id(value: object, info: ValidationInfo) -> str:
    if not isinstance(value, str) or value not in context(info)["needs"]:
        fail(f"unknown need {value!r} (see needs.yaml)")
    return value


def lister(value: object, info: ValidationInfo) -> str:
    known = sorted({*context(info)["networks"], *context(info)["listers"], OWN_SITE})
    if value not in known:
        fail(f"listed_by: unknown value {value!r} (one of {', '.join(known)})")
    return str(value)


def network_id(value: object, info: ValidationInfo) -> str:
    if value not in context(info)["networks"]:
        fail(f"checked_by: unknown network {value!r}")
    return str(value)


def valid_review(value: object) -> str:
    if value not in REVIEW:
        fail(f"review {value!r} must be draft or reviewed")
    return str(value)


class Service(Entry):
    what = "a service"
    id: Slug
    name: Text
    country: Country
    city: Text | None = None
    lat: Annotated[float | None, BeforeValidator(coordinate(90))] = None
    lon: Annotated[float | None, BeforeValidator(coordinate(180))] = None
    needs: Annotated[
        tuple[Annotated[str, BeforeValidator(need_id)], ...],
        BeforeValidator(listed("`needs` must be a list of need ids")),
    ] = ()
    languages: Languages
    contacts: Contacts | None = None
    listed_by: Annotated[str, BeforeValidator(lister)] = Field(
        description="whose public list it comes from"
    )
    source: Url = Field(description="the public page this entry came from")
    source_seen: PastDate = Field(description="the date the source was read")
    checked_by: Annotated[str, BeforeValidator(network_id)] | None = None
    checked_on: PastDate | None = None
    note: Note | None = None
    review: Annotated[str, BeforeValidator(valid_review)] = "draft"

    @classmethod
    def rules(cls, data: dict[Any, Any]) -> list[tuple[str | None, str]]:
        """Both coordinates or neither; only a network checks an entry, and it says when."""
        out: list[tuple[str | None, str]] = []
        if ("lat" in data) != ("lon" in data):
            out.append((None, "give both `lat` and `lon`, or neither"))
        if data.get("checked_by") is None and "checked_on" in data:
            out.append(("checked_on", "`checked_on` without `checked_by`"))
        if data.get("checked_by") is not None and "checked_on" not in data:
            message = "`checked_by` without `checked_on` (the date the network checked it)"
            out.append(("checked_by", message))
        return out


# -- the law (guides/law/) -----------------------------------------------------------------


def sources(value: object) -> object:
    return value if isinstance(value, list) else [value]


def some(value: list[str]) -> list[str]:
    if not value:
        fail("`source` must name at least one URL")
    return value


def valid_as_of(value: object) -> str:
    if not AS_OF_RE.match(str(value)):
        fail(f"as_of {value!r} must be YYYY or YYYY-MM")
    return str(value)


def flag(value: object) -> bool:
    if not isinstance(value, bool):
        fail(f"`{KEY}` must be true or false")
    return value


Sources = Annotated[list[Url], BeforeValidator(sources), AfterValidator(some)]
SOURCE = "the public page this came from"


def one_of(allowed: tuple[str, ...]) -> Any:
    return Field(description=f"one of {', '.join(allowed)}")


Category = Annotated[str, BeforeValidator(choice(CATEGORIES))]
Activity = Annotated[str, BeforeValidator(choice(ACTIVITY))]


class LawCard(Entry):
    what = "a law card"
    not_mapping = "a law card must be a mapping"
    country: Country
    category: Category = one_of(CATEGORIES)
    selling: Activity = one_of(ACTIVITY)
    buying: Activity = one_of(ACTIVITY)
    third_parties: Activity = one_of(ACTIVITY)
    hiv: Annotated[str, BeforeValidator(choice(HIV))] = one_of(HIV)
    as_of: Annotated[str, BeforeValidator(valid_as_of)] = Field(
        description="the date of the information"
    )
    source: Sources = Field(description=SOURCE)
    source_seen: PastDate = Field(description="the date the source was read")
    note: CardNote | None = None
    review: Annotated[str, BeforeValidator(choice(LAW_REVIEW))] = one_of(LAW_REVIEW)

    @classmethod
    def rules(cls, data: dict[Any, Any]) -> list[tuple[str | None, str]]:
        """The category follows from the three activities (guides/law/README.txt)."""
        category = data.get("category")
        selling, buying, third = (
            value if (value := data.get(key)) in ACTIVITY else None for key in ACTIVITIES
        )
        if category not in CATEGORIES or selling is None:
            return []
        if consistent(category, selling, buying, third):
            return []
        message = (
            f"category {category!r} does not follow from selling {selling!r}, buying "
            f"{buying!r} and third_parties {third!r} (see guides/law/README.txt)"
        )
        return [("category", message)]


class Notice(Entry):
    """A risk notice or "what to do now": a short text in every language, with its sources.

    Its texts must cover every language and open with a neutral heading: the loader checks
    both (`notice_rules`) even when something else is wrong, so one round of fixes is enough."""

    what = ""  # named after its key: "unknown field 'x' in RU"
    not_mapping = f"`{KEY}` must be a mapping with `source` and `text`"
    source: Sources = Field(description=SOURCE)
    source_seen: Any = None
    review: Any = None
    hide_sharing: Annotated[bool, BeforeValidator(flag)] = False
    text: Texts  # each kind of notice has its own length limit


class Risk(Notice):
    text: RiskText


class AfterViolence(Notice):
    text: AfterViolenceText


class Labels(Entry):
    """One group of vocabulary.yaml: a label in every language for each value of the group."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    not_mapping = f"`{KEY}` labels are missing"
    missing = "no label for {parent} value {name!r}"
    none_is_missing = False


class CategoryLabels(Labels):
    # The values of bot.directory.law (test_vocabulary_labels_every_value).
    criminalised: Texts
    partially_criminalised: Texts = Field(alias="partially-criminalised")
    legalised: Texts
    decriminalised: Texts
    varies: Texts


class ActivityLabels(Labels):
    crime: Texts
    offence: Texts
    not_a_crime: Texts = Field(alias="not-a-crime")
    regulated: Texts
    varies: Texts
    unknown: Texts


class HivLabels(Labels):
    criminalised: Texts
    not_specific: Texts = Field(alias="not-specific")
    unknown: Texts


class FieldLabels(Labels):
    selling: Texts
    buying: Texts
    third_parties: Texts
    hiv: Texts


def group() -> Any:
    """A group left out gets the same message as one that is not a mapping."""
    return Field(default=None, validate_default=True)


class Vocabulary(Entry):
    model_config = ConfigDict(extra="ignore", frozen=True)
    not_mapping = "vocabulary.yaml must map groups to labels"
    category: CategoryLabels = group()
    activity: ActivityLabels = group()
    hiv: HivLabels = group()
    field: FieldLabels = group()


# -- errors as path:line: message ----------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def validate(
    model: type[M],
    value: object,
    path: Path,
    line: int,
    name: str = "",
    prefix: tuple[str, ...] = (),
    context: Mapping[str, Any] | None = None,
) -> tuple[M | None, list[Problem]]:
    """The entry, or the problems found in it at the line of each offending key.

    `line` is the line of the value itself (its key, or the list item); `name` names the value in
    messages about it as a whole, `prefix` is put before every key path (`hiv.fr`)."""
    try:
        return model.model_validate(value, context=context), []
    except ValidationError as exc:
        found = []
        for err in exc.errors():
            where, message = explain(model, value, line, name, prefix, err)
            found.append(Problem(path, where, message))
        return None, found


def explain(
    model: type[BaseModel],
    value: object,
    line: int,
    name: str,
    prefix: tuple[str, ...],
    err: ErrorDetails,
) -> tuple[int, str]:
    """The line and the message of one error (pydantic's own kinds worded like ours)."""
    loc = tuple(err["loc"])
    if loc and loc[-1] == "[key]":  # a mapping's key failed: report it at the key
        loc = loc[:-1]
    owner = _owner(model, loc)
    names = [*prefix, *(str(part) for part in loc if isinstance(part, str))]
    key, parent = ".".join(names) or name, ".".join(names[:-1]) or name
    if err["type"] == "missing":
        field_info = _fields(owner).get(loc[-1])
        about = field_info.description if field_info else None
        message = owner.missing.format(name=loc[-1], parent=parent)
        if about:
            message += f" ({about})"
        if issubclass(owner, Texts):  # at the key that holds the texts
            return _line(value, loc[:-1], line)[0], message
        found, node = _line(value, loc[:-1], line)
        return start_line(node, found), message
    if err["type"] in ("extra_forbidden", "invalid_key"):
        if issubclass(owner, Texts):
            message = (
                f"unknown language {loc[-1]!r} in `{parent}` (use one of {', '.join(LANGUAGES)})"
            )
        else:
            what = getattr(owner, "what", "") or name
            message = f"unknown field {loc[-1]!r} in {what}"
        return _line(value, loc, line)[0], message
    message = (
        err["msg"].replace(KEY, key) if err["type"] == "directory" else f"`{key}`: {err['msg']}"
    )
    return _line(value, loc, line)[0], message


def _line(value: object, loc: tuple[Any, ...], line: int) -> tuple[int, object]:
    """The line of the deepest key of `loc` found in the YAML, and the value there."""
    node = value
    for part in loc:
        if not isinstance(node, LineDict | LineList) or part not in node.lines:
            return line, None
        line, node = node.lines[part], node[part]
    return line, node


def _fields(model: type[BaseModel]) -> dict[Any, Any]:
    return {f.alias or name: f for name, f in model.model_fields.items()}


def _owner(model: type[BaseModel], loc: tuple[Any, ...]) -> type[Entry]:
    """The model that holds the last key of `loc` (a service, its contacts, a note...)."""
    owner: type[BaseModel] = model
    for part in loc[:-1]:
        field = _fields(owner).get(part)
        sub = _model_in(field.annotation) if field else None
        if sub is not None:
            owner = sub
    assert issubclass(owner, Entry)
    return owner


def _model_in(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_in(arg)) is not None:
            return found
    return None
