"""The one CSRF check of every form that changes something: logout, `/grant` and every action.

Sign-in puts a random `csrf_token` into the session; every such form sends it back as a
hidden field (the `post_form` macro in templates/forms.html writes it), and a request whose
field does not match changes nothing. SameSite=Lax cookies already keep most cross-site
POSTs out; the token also covers browsers and proxies that do not honour it.
"""

import hmac

from flask import request, session

from errors import error_page


def csrf_token_valid() -> bool:
    """Whether the request's form carries this session's CSRF token."""
    sent = request.form.get("csrf_token", "")
    expected = session.get("csrf_token")
    return bool(expected) and hmac.compare_digest(sent.encode(), str(expected).encode())


def form_expired(what: str = "form"):
    """The 400 answer to a form without this session's CSRF token: nothing was changed."""
    return error_page(
        400,
        f"This {what} has expired",
        "Nothing was changed. Reload the page and try again.",
        error="invalid_csrf_token",
    )
