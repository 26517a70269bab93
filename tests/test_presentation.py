"""What the pages make of ilert's answers, including sparse and odd ones."""

import pytest

import presentation


def test_profile_of_a_full_user():
    profile = presentation.profile({
        "id": 7, "username": "ada", "firstName": "Ada", "lastName": "Lovelace",
        "email": "ada@example.com", "role": "STATUS_PAGE_ADMIN", "language": "de",
        "avatarUrl": "https://cdn.example.com/a.png", "shiftColor": "#ff0000",
    })  # fmt: skip
    assert profile.name == "Ada Lovelace"
    assert profile.initials == "AL"
    assert profile.avatar == "https://cdn.example.com/a.png"
    assert profile.role == "Status page admin"
    facts = dict(fact for _, _, section in profile.sections for fact in section)
    assert facts["Email"] == "ada@example.com"
    assert facts["Language"] == "German (de)"
    assert facts["Shift color"] == "#ff0000"  # a label, not the field name


def test_profile_shows_no_phone_numbers_from_a_pre_2023_answer():
    """ilert's users/current lost mobile and landline in its 2023 migration."""
    profile = presentation.profile({
        "username": "ada", "language": "ja",
        "mobile": {"regionCode": "GB", "number": "+447700900123"},
        "landline": {"regionCode": "GB", "number": "+442079460123"},
    })  # fmt: skip
    facts = dict(fact for _, _, section in profile.sections for fact in section)
    assert not {"Mobile", "Landline", "mobile", "landline"} & set(facts)
    assert "+44" not in repr(profile)
    assert facts["Language"] == "ja"  # not one ilert knows: shown as sent


def test_profile_of_a_sparse_user():
    profile = presentation.profile({"username": "kenji", "avatarUrl": "http://insecure/a.png"})
    assert profile.name == "kenji"
    assert profile.initials == "K"
    assert profile.avatar is None
    assert profile.subtitle == ""


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (-5, "now"),
        (1, "in 1 second"),
        (45, "in 45 seconds"),
        (3599, "in 60 minutes"),
        (7200, "in about 2 hours"),
    ],
)
def test_expiry_in_words(seconds, words):
    assert presentation.in_words(seconds) == words
