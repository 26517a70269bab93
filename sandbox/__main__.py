"""Run the sandbox alone: `python -m sandbox --help`."""

import argparse
import errno
import sys
from urllib.parse import urlsplit

from config import DEFAULT_SANDBOX_PORT
from config_checks import is_loopback
from sandbox import ratelimit
from sandbox.server import CLIENT_ID, CLIENT_SECRET, DEFAULT_REDIRECT_URI, create_app
from sandbox.serving import bind

_LOCALHOST = {"127.0.0.1", "localhost", "::1"}  # where http://localhost reaches the sandbox


def _whole_number(text, lowest, highest=None):
    value = int(text) if text.isdigit() else -1
    if value < lowest or (highest is not None and value > highest):
        limit = f"from {lowest} to {highest}" if highest is not None else f"at least {lowest}"
        raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number {limit}")
    return value


def _seconds(text):
    return _whole_number(text, 1)


def _port(text):
    return _whole_number(text, 0, 65535)


def _rate_limit(text):
    try:
        ratelimit.parse(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _redirect_uri(text):
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise argparse.ArgumentTypeError("must be an http(s) URL with a host and no #fragment")
    return text


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but a bad command line stops with one line (as a busy port does), not the
    usage block: `--help` has that."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (--help lists the options)\n")


def parse_args(argv=None):
    """The command line, as `python -m sandbox --help` describes it."""
    parser = _OneLineParser(
        prog="python -m sandbox", description="A local stand-in for ilert's OAuth2 server."
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=_port, default=DEFAULT_SANDBOX_PORT, help="port to listen on"
    )
    parser.add_argument("--access-token-ttl", type=_seconds, default=3600, metavar="SECONDS")
    parser.add_argument("--code-ttl", type=_seconds, default=120, metavar="SECONDS")
    parser.add_argument(
        "--redirect-uri",
        type=_redirect_uri,
        action="append",
        metavar="URI",
        help=f"a redirect URI to accept; repeat for more (default: {DEFAULT_REDIRECT_URI})",
    )
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=ratelimit.DEFAULT,
        metavar="N/UNIT",
        help=f"API calls allowed per client address, as at ilert (default: {ratelimit.DEFAULT};"
        " units s, min, h; 0 switches the limit off)",
    )
    return parser.parse_args(argv)


def _url(host, port):
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def main(argv=None):
    """Serve until Ctrl-C; 1 if the port cannot be had, 3 for a host beyond loopback."""
    args = parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"refusing --host {args.host}: the sandbox's test hooks (/_sandbox/...) need no "
            "authentication and its client secret is public, so it listens on loopback only "
            "(localhost, 127.0.0.0/8, ::1); reach it from elsewhere through an SSH tunnel",
            file=sys.stderr,
        )
        return 3
    redirect_uris = args.redirect_uri or [DEFAULT_REDIRECT_URI]
    app = create_app(
        redirect_uris=redirect_uris,
        access_token_ttl=args.access_token_ttl,
        code_ttl=args.code_ttl,
        rate_limit=args.rate_limit,
    )
    try:
        server = bind(app, args.host, args.port)
    except OSError as error:
        reason = error.strerror or error
        if error.errno == errno.EADDRINUSE:
            print(f"port {args.port} is busy: {reason}", file=sys.stderr)
        else:
            print(f"cannot listen on {args.host} port {args.port}: {reason}", file=sys.stderr)
        return 1
    origin = _url("localhost" if args.host.lower() in _LOCALHOST else args.host, server.port)
    print(f"ilert sandbox listening on {_url(args.host, server.port)} (Ctrl-C stops it)")
    print(f"client id: {CLIENT_ID}  client secret: {CLIENT_SECRET}  (public test values)")
    print(f"redirect URIs: {' '.join(redirect_uris)}")
    print(
        f"ILERT_CLIENT_ID={CLIENT_ID} ILERT_CLIENT_SECRET={CLIENT_SECRET} "
        f"ILERT_AUTH_URL={origin} ILERT_API_URL={origin}"
    )
    print(
        f"rate limit: {args.rate_limit} API calls per client address, as at ilert "
        "(--rate-limit 0 switches it off)",
        flush=True,
    )
    server.serve_forever()  # werkzeug's ends quietly on Ctrl-C
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before serving began
        sys.exit(130)
