"""How the pages show ilert's answers: the plain words and the layout data the templates
need, worked out here so that templates stay simple (and fast) loops."""

import re
from dataclasses import dataclass
from functools import lru_cache

from ilert.scopes import describe_scope

LANGUAGES = {"en": "English", "de": "German"}  # the two ilert knows (ilert-go user.go)
PROFILE_FIELDS = {
    "id", "username", "firstName", "lastName", "email", "role", "position", "department",
    "region", "timezone", "language", "avatarUrl",
}  # fmt: skip
# Phone numbers left users/current in ilert's 2023 user-preference migration (they live
# under /api/users/{id}/contacts now): an older answer's are not shown as current facts.
NOT_SHOWN = {"mobile", "landline"}
NOT_AMONG_THE_OTHERS = PROFILE_FIELDS | NOT_SHOWN


@dataclass(frozen=True)
class Profile:
    """The profile page's content, as attributes: Jinja looks `profile.name` up as an
    attribute first, so with a dict every such lookup would fail once before the key."""

    name: str
    initials: str
    avatar: str | None
    subtitle: str
    role: str | None
    username: str | None
    sections: list  # (id, title, [(label, value), ...])


def profile(user):
    """The profile page's content from a `users/current` answer. A field of another type than
    ilert's (a number for a name, say) is shown as none, never as an error."""
    first, last = _string(user.get("firstName")), _string(user.get("lastName"))
    name = " ".join(filter(None, (first, last)))
    username = _string(user.get("username"))
    avatar = _string(user.get("avatarUrl"))
    position, department = _string(user.get("position")), _string(user.get("department"))
    role = _words(user.get("role"))
    language = _string(user.get("language"))
    if language in LANGUAGES:
        language = f"{LANGUAGES[language]} ({language})"
    others = [
        (_label(key), _text(value))
        for key, value in sorted(user.items())
        if key not in NOT_AMONG_THE_OTHERS and value not in (None, "")
    ]
    return Profile(
        name=name or username or "Your profile",
        initials=("".join(part[0] for part in name.split()[:2]) or (username or "?")[0]).upper(),
        avatar=avatar if avatar and avatar.startswith("https://") else None,
        subtitle=" · ".join(filter(None, (position, department))),
        role=role,
        username=username,
        sections=[
            ("contact", "Contact", [("Email", _string(user.get("email")))]),
            ("work", "Work", [
                ("Role", role),
                ("Position", position),
                ("Department", department),
                ("Region", _string(user.get("region"))),
            ]),
            ("preferences", "Preferences", [
                ("Timezone", _string(user.get("timezone"))), ("Language", language),
            ]),
            ("account", "Account", [
                ("Username", username), ("User id", _text(user.get("id"))), *others,
            ]),
        ],
    )  # fmt: skip


def scopes(granted):
    """(scope, what it allows) for each scope in a space-separated `granted` string."""
    return [(scope, describe_scope(scope)) for scope in (_string(granted) or "").split()]


def in_words(seconds):
    """`seconds` from now in words: "in 59 minutes", "in 30 seconds", "now"."""
    if seconds <= 0:
        return "now"
    if seconds < 90:
        return f"in {seconds} second{'s' if seconds != 1 else ''}"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"in {minutes} minutes"
    return f"in about {round(minutes / 60)} hours"


def _words(value):
    """`STATUS_PAGE_ADMIN` as "Status page admin"."""
    return value.replace("_", " ").capitalize() if isinstance(value, str) and value else None


@lru_cache(maxsize=256)
def _label(key):
    """An ilert field name as a label: `shiftColor` as "Shift color" (remembered: every
    profile page labels the same few fields)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key).capitalize()


def _string(value):
    """`value` if it is text, else None."""
    return value if isinstance(value, str) else None


def _text(value):
    if isinstance(value, dict):
        return ", ".join(str(item) for item in value.values())
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return value
