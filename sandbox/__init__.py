"""A local stand-in for ilert's OAuth2 server and API: the sandbox.

`python app.py` serves it in a thread when no ilert credentials are set, the tests use
it as the real upstream over HTTP, and `python -m sandbox` runs it alone.
"""

from sandbox.server import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI, create_app
from sandbox.serving import serve_in_thread

__all__ = ["CLIENT_ID", "CLIENT_SECRET", "DEFAULT_REDIRECT_URI", "create_app", "serve_in_thread"]
