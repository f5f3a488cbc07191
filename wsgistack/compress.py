"""Response compression (zstd, br, gzip) that streams and gets HTTP right.

The coding is negotiated from Accept-Encoding (``wsgistack.http``); whether a response may be compressed
is decided from its status and headers by :func:`skip_reason`, and its size by the Content-Length, the
whole of a list/tuple body, or else the first value of the body. List and tuple bodies are compressed in
one shot with an exact Content-Length (and kept only if smaller); other bodies stream as one compressed
member, flushed after every value the app yields so that server-sent events and long polls keep flowing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Final, Literal

from . import codecs
from .core import (
    ClosingIterable,
    Headers,
    OptExcInfo,
    ResponseStart,
    StartResponse,
    WSGIApplication,
    WSGIEnvironment,
    check_header,
    get_header,
    merge_header,
    parse_content_length,
    remove_headers,
)
from .http import preferred_encoding

__all__ = [
    "DEFAULT_CONTENT_TYPES",
    "NEVER_COMPRESSED_STATUSES",
    "OPTED_OUT",
    "PADDING_HEADER",
    "Compress",
    "compressed_headers",
    "media_type",
    "skip_reason",
    "transform_etag",
]

logger = logging.getLogger("wsgistack.compress")

#: Types that are compressible text (the Caddy/django-http-compression list, widened). Patterns use
#: ``*`` for any run of characters within a type or subtype.
DEFAULT_CONTENT_TYPES = (
    "text/*",
    "application/json",
    "application/*+json",
    "application/x-ndjson",
    "application/javascript",
    "application/x-javascript",
    "application/ecmascript",
    "application/xml",
    "application/*+xml",
    "image/svg+xml",
    "application/wasm",
    "application/graphql",
    "application/yaml",
    "application/x-yaml",
    "application/toml",
    "application/sql",
    "application/rtf",
    "application/x-sh",
    "application/vnd.ms-fontobject",
    "font/ttf",
    "font/otf",
    "font/collection",
    "application/x-font-ttf",
    "application/x-font-opentype",
    "image/x-icon",
    "image/vnd.microsoft.icon",
    "image/bmp",
)
#: Statuses whose body must not be changed or that have none: 1xx, 204 and 304 carry no content
#: (RFC 9110 §15.2, §15.3.5, §15.4.5), and a 206's Content-Range counts bytes of the identity body.
NEVER_COMPRESSED_STATUSES = frozenset({*range(100, 200), 204, 206, 304})
#: The response header that carries BREACH padding for codings without a header field of their own.
PADDING_HEADER = "X-Padding"

_SSE = "text/event-stream"
_TYPE_PATTERN = re.compile(r"[a-z0-9!#$&^_.+*-]+/[a-z0-9!#$&^_.+*-]+")
_MEMO_LIMIT = 512
# Headers describing the identity body that a compressed one no longer matches: Content-Length (set
# again when known), Content-MD5 (RFC 2616's digest of the content), and Accept-Ranges, because a range
# request would be answered from the identity body (206 is never compressed), which a client must not
# splice into compressed bytes (nginx's gzip filter clears it too).
_STALE = frozenset({"content-length", "content-md5", "accept-ranges"})

_UNDECIDED, _PASS, _COMPRESS, _DROP = 0, 1, 2, 3
#: What :func:`skip_reason` answers for a response carrying the opt-out header.
OPTED_OUT = "opted out"
_STATUS_CODES: Final = frozenset(str(code) for code in range(100, 600))


def media_type(content_type: str | None) -> str | None:
    """``type/subtype`` of a Content-Type value, lowercased, without parameters; None when absent."""
    if content_type is None:
        return None
    return content_type.partition(";")[0].strip(" \t").lower() or None


def skip_reason(
    status: str,
    headers: Headers,
    *,
    statuses: Collection[int],
    content_type_allowed: Callable[[str], bool],
    opt_out_header: str | None,
) -> str | None:
    """Why a response must not be compressed, or None when it may be (it then also gets Vary).

    Pure: the status and headers the app gave, and the policy; ``content_type_allowed`` receives the
    Content-Type value as sent, and ``opt_out_header`` is lowercase. The size is judged separately.
    """
    return _Policy(statuses, content_type_allowed, opt_out_header, {}).skip_reason(status, headers)


_OTHER, _TYPE, _ENCODING, _RANGE, _CACHE, _OPT_OUT = range(6)
_FIELD_KINDS: Final = {"content-type": _TYPE, "content-encoding": _ENCODING, "content-range": _RANGE,
                       "cache-control": _CACHE}  # fmt: skip
_BAD_STATUS = "status"
# Headers that decide eligibility or that Compress sets: none of them can double as the opt-out header.
_OWN_FIELDS: Final = frozenset(
    {*_FIELD_KINDS, "content-length", "vary", "etag", "accept-ranges", "content-md5", PADDING_HEADER.lower()}
)


class _Policy:
    """:func:`skip_reason` for one configuration, with what it learns from the app remembered.

    This runs for every response, so the status and each header name are looked up as the app wrote
    them, in memos keyed by those strings (the app's constants hash once); only a value not seen
    before is parsed. The memos are bounded: what they hold comes from the app.
    """

    __slots__ = ("_codes", "_content_type_allowed", "_fields", "_opt_out", "_statuses", "_type_memo")

    def __init__(
        self,
        statuses: Collection[int],
        content_type_allowed: Callable[[str], bool],
        opt_out_header: str | None,
        type_memo: dict[str, bool],
    ) -> None:
        self._codes = frozenset(str(code) for code in statuses)
        self._content_type_allowed = content_type_allowed
        self._opt_out = opt_out_header
        self._type_memo = type_memo  # filled by content_type_allowed, read here first
        self._statuses: dict[str, str | None] = {}
        self._fields: dict[str, int] = {}

    def skip_reason(self, status: str, headers: Headers) -> str | None:
        reason = self._statuses.get(status, "")
        if reason == "":
            digits = status[:3]
            reason = (
                None
                if digits in self._codes
                else _BAD_STATUS
                if digits in _STATUS_CODES
                else "malformed status"
            )
            if len(self._statuses) < _MEMO_LIMIT:
                self._statuses[status] = reason
        if reason is not None:
            return reason
        content_type = None
        fields = self._fields
        for name, value in headers:
            kind = fields.get(name)
            if kind is None:
                lowered = name.lower()
                kind = _OPT_OUT if lowered == self._opt_out else _FIELD_KINDS.get(lowered, _OTHER)
                if len(fields) < _MEMO_LIMIT:
                    fields[name] = kind
            if kind == _OTHER:
                continue
            if kind == _TYPE:
                content_type = value
            elif kind == _OPT_OUT:
                return OPTED_OUT
            elif kind == _ENCODING:
                if value.strip(" \t").lower() not in ("", "identity"):
                    return "already encoded"
            elif kind == _RANGE:
                return "content-range"  # the range counts identity bytes (RFC 9110 §14.4)
            elif any(part.strip(" \t").lower() == "no-transform" for part in value.split(",")):
                # RFC 9110 §7.7, RFC 9111 §5.2.2.6: an intermediary must not change the content coding.
                return "no-transform"
        if content_type is None:
            return "no content type"
        allowed = self._type_memo.get(content_type)
        if allowed is None:
            allowed = self._content_type_allowed(content_type)
        return None if allowed else "content type"


def transform_etag(etag: str, coding: str, mode: str) -> str | None:
    """The entity tag of the ``coding`` representation of a resource whose identity tag is ``etag``.

    ``weak``: a strong tag becomes weak (RFC 9110 §8.8.3: a strong tag promises byte-identical content,
    which a compressed body is not); ``suffix``: ``"abc"`` becomes ``"abc-gzip"``, distinct per coding.
    None when the value is not an entity tag at all (it is then dropped rather than passed off as strong).
    """
    value = etag.strip(" \t")
    weak = value.startswith("W/")
    opaque = value[2:] if weak else value
    if len(opaque) < 2 or opaque[0] != '"' or opaque[-1] != '"':
        return None
    if mode == "suffix":
        return f'{"W/" if weak else ""}{opaque[:-1]}-{coding}"'
    return value if weak else f"W/{opaque}"


def compressed_headers(
    headers: Headers,
    coding: str,
    *,
    length: int | None,
    etag_mode: str,
    opt_out_header: str | None,
    extra: Iterable[tuple[str, str]] = (),
) -> Headers:
    """A new header list for the ``coding`` representation (the app's list is not touched)."""
    out: Headers = []
    for name, value in headers:
        lowered = name.lower()
        if lowered in _STALE or lowered == opt_out_header:
            continue
        if lowered == "etag":
            tag = transform_etag(value, coding, etag_mode)
            if tag is not None:
                out.append((name, tag))
            continue
        if lowered == "content-encoding":  # "identity" or empty: replaced below
            continue
        out.append((name, value))
    out.append(("Content-Encoding", coding))
    if length is not None:
        out.append(("Content-Length", str(length)))
    out.extend(extra)
    return merge_header(out, "Vary", "Accept-Encoding")


def _without(headers: Headers, name: str | None) -> Headers:
    # The common case has no such header: keep the list instead of copying it.
    return (
        remove_headers(headers, name)
        if name is not None and get_header(headers, name) is not None
        else headers
    )


def _type_matcher(patterns: Iterable[str], option: str) -> re.Pattern[str] | None:
    alternatives = []
    if isinstance(patterns, str):
        raise TypeError(f"{option} must be a collection of media types, not a str")
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"{option} entries must be str, not {type(pattern).__name__}")
        lowered = pattern.strip().lower()
        if not _TYPE_PATTERN.fullmatch(lowered):
            raise ValueError(
                f"{option}: {pattern!r} is not a media type such as 'text/*' or 'application/json'"
            )
        alternatives.append(re.escape(lowered).replace(r"\*", "[^/]*"))
    return re.compile("|".join(alternatives)) if alternatives else None


def _check_int(option: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{option} must be an int, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{option} must be >= {minimum}, not {value}")
    return value


class Compress:
    """Compress responses with zstd, br or gzip, as negotiated, streaming and PEP 3333-correct.

    A response is compressed when its status is in ``statuses``, its type allowed, it is not already
    encoded, not ``no-transform``, not a range, not opted out, and at least ``minimum_size`` bytes.
    Eligible responses get ``Vary: Accept-Encoding`` whether compressed or not. Options: docs/compress.md.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        minimum_size: int = 500,
        encodings: Sequence[str] | None = None,
        gzip_level: int | None = None,
        br_level: int | None = None,
        zstd_level: int | None = None,
        statuses: Iterable[int] = (200,),
        content_types: Iterable[str] | None = None,
        exclude_content_types: Iterable[str] | None = None,
        exclude_paths: str | re.Pattern[str] | Callable[[str], bool] | None = None,
        opt_out_header: str | None = "X-No-Compress",
        etag: Literal["weak", "suffix"] = "weak",
        flush: bool = True,
        breach_padding: int = 0,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application (callable), not {type(app).__name__}")
        self.app = app
        self.minimum_size = _check_int("minimum_size", minimum_size, 0)
        self.breach_padding = _check_int("breach_padding", breach_padding, 0)
        if not isinstance(flush, bool):
            raise TypeError(f"flush must be a bool, not {type(flush).__name__}")
        self.flush = flush
        if etag not in ("weak", "suffix"):
            raise ValueError(f"etag must be 'weak' or 'suffix', not {etag!r}")
        self.etag = etag

        if encodings is None:
            encodings = codecs.available()
        elif isinstance(encodings, str) or not isinstance(encodings, Iterable):
            raise TypeError("encodings must be a sequence of content codings such as ('zstd', 'br', 'gzip')")
        chosen: list[str] = []
        for name in encodings:
            if not isinstance(name, str):
                raise TypeError(f"encodings entries must be str, not {type(name).__name__}")
            name = name.strip().lower()
            if name == "x-gzip":
                name = "gzip"  # RFC 9110 §8.4.1.3
            if name not in codecs.CODINGS:
                raise ValueError(
                    f"encodings: unknown coding {name!r}; supported: {', '.join(codecs.CODINGS)}"
                )
            if name in chosen:
                raise ValueError(f"encodings: {name!r} is listed twice")
            chosen.append(name)
        levels = {"gzip": gzip_level, "br": br_level, "zstd": zstd_level}
        installed = codecs.available()
        for coding, level in levels.items():
            if level is not None and (isinstance(level, bool) or not isinstance(level, int)):
                raise TypeError(f"{coding}_level must be an int or None, not {type(level).__name__}")
            if level is not None and coding in installed:  # checked even when the coding is not enabled
                try:
                    codecs.selected().check_level(coding, level)
                except ValueError as exc:
                    raise ValueError(f"{coding}_level: {exc}") from None
        bound: dict[str, codecs.Codec] = {}
        for coding in chosen:
            try:
                bound[coding] = codecs.codec(coding, levels[coding])
            except ValueError as exc:  # the coding's library is not installed
                raise ValueError(f"encodings: {exc}") from None
        self.encodings: tuple[str, ...] = tuple(chosen)
        self._codecs = bound

        status_set: set[int] = set()
        if isinstance(statuses, (str, bytes)) or not isinstance(statuses, Iterable):
            raise TypeError("statuses must be a collection of int status codes")
        for code in statuses:
            if isinstance(code, bool) or not isinstance(code, int):
                raise TypeError(f"statuses entries must be int, not {type(code).__name__}")
            if not 100 <= code <= 599:
                raise ValueError(f"statuses: {code} is not an HTTP status code")
            if code in NEVER_COMPRESSED_STATUSES:
                raise ValueError(f"statuses: {code} responses are never compressed (no content, or a range)")
            status_set.add(code)
        self.statuses = frozenset(status_set)

        self._allow = _type_matcher(
            DEFAULT_CONTENT_TYPES if content_types is None else content_types, "content_types"
        )
        if exclude_content_types is None:
            # Without a flush per value, compressed events would wait in the compressor.
            exclude_content_types = () if flush else (_SSE,)
        self._deny = _type_matcher(exclude_content_types, "exclude_content_types")
        # Bounded memos of pure functions of configuration and a header value.
        self._type_memo: dict[str, bool] = {}
        self._coding_memo: dict[str | None, str | None] = {}

        self._exclude_path: Callable[[str], object] | None
        if exclude_paths is None:
            self._exclude_path = None
        elif isinstance(exclude_paths, str):
            try:
                self._exclude_path = re.compile(exclude_paths).search
            except re.error as exc:
                raise ValueError(
                    f"exclude_paths: invalid regular expression {exclude_paths!r}: {exc}"
                ) from None
        elif isinstance(exclude_paths, re.Pattern):
            self._exclude_path = exclude_paths.search
        elif callable(exclude_paths):
            self._exclude_path = exclude_paths
        else:
            raise TypeError(
                "exclude_paths must be a regular expression (str or compiled) or a callable, "
                f"not {type(exclude_paths).__name__}"
            )
        if not self.encodings:  # nothing to offer: no response varies, every request passes through
            self._exclude_path = _everything

        if opt_out_header is not None:
            if not isinstance(opt_out_header, str):
                raise TypeError(f"opt_out_header must be a str or None, not {type(opt_out_header).__name__}")
            try:
                check_header(opt_out_header, "")
            except ValueError as exc:
                raise ValueError(f"opt_out_header: {exc}") from None
            if opt_out_header.lower() in _OWN_FIELDS:
                raise ValueError(
                    f"opt_out_header: {opt_out_header!r} is a header Compress reads or rewrites, and the "
                    "opt-out header is removed from responses; choose a name of its own (X-No-Compress)"
                )
        self.opt_out_header = opt_out_header
        self._opt_out = opt_out_header.lower() if opt_out_header is not None else None
        self._suffixes = tuple(f'-{coding}"' for coding in self.encodings) if etag == "suffix" else ()
        # The policy reads the Content-Type memo before calling content_type_allowed(); a subclass that
        # overrides that method is asked every time instead (an empty memo that nothing fills).
        own_types = type(self).content_type_allowed is Compress.content_type_allowed
        type_memo = self._type_memo if own_types else {}
        self._policy = _Policy(self.statuses, self.content_type_allowed, self._opt_out, type_memo)

    def content_type_allowed(self, content_type: str) -> bool:
        """Whether responses with this Content-Type value (parameters allowed) may be compressed."""
        allowed = self._type_memo.get(content_type)
        if allowed is None:
            kind = media_type(content_type) or ""
            allowed = (
                self._allow is not None
                and self._allow.fullmatch(kind) is not None
                and (self._deny is None or self._deny.fullmatch(kind) is None)
            )
            if len(self._type_memo) < _MEMO_LIMIT:  # bounded: the values come from the app
                self._type_memo[content_type] = allowed
        return allowed

    def skip_reason(self, status: str, headers: Headers) -> str | None:
        """:func:`skip_reason` with this layer's policy."""
        return self._policy.skip_reason(status, headers)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self._exclude_path is not None and self._exclude_path(
            environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        ):
            return self.app(environ, start_response)
        accept = environ.get("HTTP_ACCEPT_ENCODING")
        coding = self._coding_memo.get(accept, "")
        if coding == "":
            coding = preferred_encoding(accept, self.encodings)
            if len(self._coding_memo) < _MEMO_LIMIT:  # bounded: the header comes from the client
                self._coding_memo[accept] = coding
        exchange = _new(_Exchange if coding is not None else _HeaderExchange)
        exchange.layer, exchange.coding, exchange.environ = self, coding, environ
        exchange._start_response = start_response
        exchange.untouched = exchange.made = False
        if self._suffixes:
            if_none_match = exchange.if_none_match = environ.get("HTTP_IF_NONE_MATCH")
            if if_none_match:
                environ["HTTP_IF_NONE_MATCH"] = self._strip_suffixes(if_none_match)
            if_match = environ.get("HTTP_IF_MATCH")
            if if_match:
                environ["HTTP_IF_MATCH"] = self._strip_suffixes(if_match)
        body = self.app(environ, exchange.start_response)
        if exchange.untouched or coding is None:
            return body  # headers at most (Vary): the body goes through as the app made it
        try:
            return exchange.respond(body)
        except BaseException:
            _close_quietly(body)
            raise

    def _strip_suffixes(self, value: str) -> str:
        # Conditional requests carry the tags we sent; the app only knows its own (suffix mode).
        if "-" not in value:
            return value
        tags = []
        for tag in value.split(","):
            tag = tag.strip(" \t")
            for suffix in self._suffixes:
                if tag.endswith(suffix):
                    tag = tag[: -len(suffix)] + '"'
                    break
            tags.append(tag)
        return ", ".join(tags)

    def __repr__(self) -> str:
        return f"Compress({self.app!r}, encodings={self.encodings!r}, minimum_size={self.minimum_size})"


_new = object.__new__


def _everything(path: str) -> bool:
    return True


def _random_padding(limit: int) -> str:
    """BREACH padding: from 0 to ``limit`` random hex digits, how many chosen at random too."""
    import secrets  # here: only layers with padding pay for importing it (hmac, OpenSSL)

    length = secrets.randbelow(limit + 1)
    return secrets.token_hex(length)[:length]


def _close_quietly(body: Iterable[bytes]) -> None:
    close = getattr(body, "close", None)
    if close is not None:
        try:
            close()
        except Exception:
            logger.exception("close() of the application's iterable failed while handling another error")


class _Exchange(ResponseStart):
    """The per-request state: the negotiated coding, the decision, and the compressor; once this layer is
    involved in the response, also the :class:`~wsgistack.core.ResponseStart` between the app and the server.

    The hooks that ResponseStart calls (``rewrite``, ``map_chunk``, ``trailer``) are this object's own
    methods, found through the class (they shadow the base class's slots): nothing here holds a reference
    back to this object, so a finished request is freed by reference counting, not by the cycle
    collector. This class defers the server's start_response to the first value (a coding was
    negotiated); :class:`_HeaderExchange` decides on headers alone.
    """

    __slots__ = ("basis", "coding", "compressor", "environ", "head", "if_none_match", "layer", "length",
                 "made", "mode", "padding", "primed", "rewritten", "untouched", "vary")  # fmt: skip

    _defer = True

    # Set by Compress.__call__ (no __init__ call: this is every request's path): the layer, the coding
    # (None for _HeaderExchange), the server's start_response, the environ, and two flags.
    layer: Compress
    coding: str | None
    environ: WSGIEnvironment
    untouched: bool  # the response is left alone: start_response went straight to the server
    made: bool  # this layer is involved: make_response() ran
    #: The If-None-Match the client sent, when the app is shown another one (ETag suffix mode).
    if_none_match: str | None
    # The rest is set by make_response(): a response left alone never needs it.
    head: bool
    mode: int
    vary: bool
    compressor: codecs.Compressor | None
    primed: bool
    padding: str  # BREACH padding for this response: random text, possibly empty
    length: int | None  # of a body compressed in one shot
    basis: Headers | None  # the header list the decision was made from
    rewritten: bool

    # -- start_response -------------------------------------------------------------------------------

    def start_response(
        self, status: str, headers: Headers, exc_info: OptExcInfo = None, /
    ) -> Callable[[bytes], object]:
        """What the app calls: a response this layer leaves alone goes straight to the server."""
        if not self.made:
            if not self.untouched:
                reason = self.layer._policy.skip_reason(status, headers)
                # Not involved (DESIGN §2.1): the server's own start_response then applies PEP 3333's
                # exc_info rules, and the body is returned untouched. An opt-out header still has to
                # be removed, and a 304 still needs the Vary of the response it stands for.
                self.untouched = (
                    reason is not None
                    and reason is not OPTED_OUT
                    and (reason is not _BAD_STATUS or not status.startswith("304"))
                )
            if self.untouched:
                if exc_info is not None:
                    return self._start_response(status, headers, exc_info)
                return self._start_response(status, headers)
            self.make_response()
        return ResponseStart.__call__(self, status, headers, exc_info)

    def make_response(self) -> None:
        """Become the ResponseStart of this response (what ResponseStart.__init__ would set, and ours)."""
        self.status, self.headers, self._server_write = None, [], None
        self.forwarded = self.sent = False
        self.head = self.environ.get("REQUEST_METHOD") == "HEAD"
        self.mode, self.vary, self.compressor, self.primed = _UNDECIDED, False, None, False
        self.padding, self.length, self.basis, self.rewritten = "", None, None, False
        self.made = True

    # -- deciding -------------------------------------------------------------------------------------

    def decide(self, known_size: int | None, first: bytes | None) -> None:
        """Set ``mode`` from the response as it stands, ``known_size`` and the first value, if any."""
        assert self.status is not None
        layer, headers = self.layer, self.headers
        self.basis, self.compressor = headers, None
        reason = layer.skip_reason(self.status, headers)
        self.vary = reason is None
        if reason is not None:
            self.mode = _PASS
            return
        try:
            length = parse_content_length(get_header(headers, "content-length"))
        except ValueError:
            self.mode, self.vary = _PASS, False  # a response we cannot read is passed on as it is
            return
        minimum = layer.minimum_size
        if self.head:
            # RFC 9110 §9.3.2: HEAD gets GET's headers; knowable only when the length is declared.
            self.mode = _DROP if length is not None and length > 0 and length >= minimum else _PASS
            self.choose_padding()
            return
        size = length if length is not None else known_size
        if size is not None:
            if size == 0 or size < minimum:
                self.mode = _PASS
                return
        elif first is None:
            self.mode = _UNDECIDED
            return
        elif len(first) < minimum:  # judged by the first value
            self.mode = _PASS
            return
        self.mode = _COMPRESS
        self.choose_padding()

    def choose_padding(self) -> None:
        if self.layer.breach_padding:
            self.padding = _random_padding(self.layer.breach_padding)

    def start_compressor(self) -> codecs.Compressor:
        assert self.coding is not None
        self.primed = False
        self.compressor = self.layer._codecs[self.coding].compressor(padding=self.gzip_padding())
        return self.compressor

    def gzip_padding(self) -> bytes:
        return self.padding.encode() if self.coding == "gzip" else b""

    def padding_headers(self) -> list[tuple[str, str]]:
        if self.padding and self.coding != "gzip":
            return [(PADDING_HEADER, self.padding)]
        return []

    # -- the body -------------------------------------------------------------------------------------

    def respond(self, body: Iterable[bytes]) -> Iterable[bytes]:
        """What ``Compress.__call__`` returns for the app's ``body``."""
        if not self.made:  # start_response will come with the first value
            self.make_response()
            return self.body(body)
        if self.forwarded:  # write() was used: decided at its first call
            return body if self.mode == _PASS else self.body(body)
        if isinstance(body, (list, tuple)) and not self.head:
            return self.one_shot(body)
        self.decide(None, None)
        if self.mode == _PASS:
            self.handing_out(b"")  # sends the (rewritten) headers; the body goes through untouched
            return body
        return self.body(body)

    def one_shot(self, body: list[bytes] | tuple[bytes, ...]) -> Iterable[bytes]:
        # A list is all there already: reading it whole blocks nothing, and gives the exact length.
        data = b"".join(body)
        self.decide(len(data), None)
        declared = get_header(self.headers, "content-length")
        if self.mode == _COMPRESS and (declared is None or declared.strip(" \t") == str(len(data))):
            assert self.coding is not None
            try:
                compressed = self.layer._codecs[self.coding].compress(data, padding=self.gzip_padding())
            except Exception:
                logger.warning(
                    "%s compression failed; sending the response unencoded", self.coding, exc_info=True
                )
            else:
                if len(compressed) < len(data):  # else the identity body is the better one
                    self.length = len(compressed)
                    on_close = [body.close] if hasattr(body, "close") else []
                    return ClosingIterable((compressed,), on_close=on_close, response=self)
        self.mode = _PASS
        self.handing_out(b"")
        return body

    def map_chunk(self, chunk: bytes) -> bytes:
        if not self.forwarded:
            # The first value (or write()); the response may have been replaced (exc_info) since the
            # decision, as long as nothing went out.
            if self.status is None:
                return chunk  # the app broke PEP 3333; the server will say so
            if self.mode == _UNDECIDED or self.headers is not self.basis:
                self.decide(None, chunk)
            if self.mode == _COMPRESS:
                try:
                    return self.compress_chunk(chunk)
                except Exception:
                    # Nothing went out yet, so the response can still go unencoded instead of failing.
                    logger.warning(
                        "%s compression failed; sending the response unencoded", self.coding, exc_info=True
                    )
                    self.mode, self.compressor = _PASS, None
                    return chunk
        mode = self.mode
        if mode == _COMPRESS:
            return self.compress_chunk(chunk)
        if mode == _DROP:
            return b""  # HEAD: no content (RFC 9110 §9.3.2), whatever the app produced
        return chunk

    def compress_chunk(self, chunk: bytes) -> bytes:
        compressor = self.compressor or self.start_compressor()
        out = compressor.compress(chunk)
        if not chunk:
            return out
        # One value out per value in (PEP 3333); flushed, it can be decoded as soon as it arrives. The
        # first non-empty value is flushed even without ``flush``: the server sends the headers with
        # the first non-empty value, and a client should not wait for them until the compressor fills.
        if self.layer.flush or not self.primed:
            self.primed = True
            return out + compressor.flush()
        return out

    def trailer(self) -> bytes:
        if (
            not self.forwarded
            and self.status is not None
            and (self.mode == _UNDECIDED or self.headers is not self.basis)
        ):
            self.decide(0, None)  # the body was empty
        if self.mode == _COMPRESS:
            return (self.compressor or self.start_compressor()).finish()
        return b""

    # -- the headers ----------------------------------------------------------------------------------

    def rewrite(self, status: str, headers: Headers) -> tuple[str, Headers]:
        layer = self.layer
        if self.rewritten or self.coding is None:
            if self.rewritten:
                # A replacement (exc_info) after our headers went to the server: what the compressor
                # holds belongs to the abandoned response, and the new one is sent unencoded.
                self.mode, self.compressor, self.length = _PASS, None, None
            self.rewritten = True
            self.vary = layer.skip_reason(status, headers) is None
            return status, self.identity_headers(status, headers)
        self.rewritten = True
        if self.mode in (_COMPRESS, _DROP):
            assert self.coding is not None
            return status, compressed_headers(
                headers,
                self.coding,
                length=self.length,
                etag_mode=layer.etag,
                opt_out_header=layer._opt_out,
                extra=self.padding_headers(),
            )
        self.mode = _PASS
        return status, self.identity_headers(status, headers)

    def identity_headers(self, status: str, headers: Headers) -> Headers:
        layer = self.layer
        if status.startswith("304"):
            return self.not_modified_headers(headers)
        if self.vary:
            return merge_header(_without(headers, layer._opt_out), "Vary", "Accept-Encoding")
        return _without(headers, layer._opt_out)

    def not_modified_headers(self, headers: Headers) -> Headers:
        # RFC 9110 §15.4.5: a 304 carries the Vary and ETag the 200 would have had. The ETag is the
        # compressed one when the client's If-None-Match holds that tag (it has the compressed body).
        layer = self.layer
        headers = _without(headers, layer._opt_out)
        content_type = get_header(headers, "content-type")
        if (
            200 not in layer.statuses
            or (content_type is not None and not layer.content_type_allowed(content_type))
            or get_header(headers, "content-encoding")
        ):
            return headers
        etag = get_header(headers, "etag")
        if_none_match = self.if_none_match if self.layer._suffixes else self.environ.get("HTTP_IF_NONE_MATCH")
        if etag is not None and if_none_match:
            sent = {tag.strip(" \t") for tag in if_none_match.split(",")}
            for coding in layer.encodings:
                tag = transform_etag(etag, coding, layer.etag)
                if tag is not None and tag != etag.strip(" \t") and tag in sent:
                    headers = [(name, tag if name.lower() == "etag" else value) for name, value in headers]
                    break
        return merge_header(headers, "Vary", "Accept-Encoding")

    # ResponseStart's hooks: this object's methods (see the class docstring).
    _rewrite = rewrite
    _map = map_chunk
    _trailer = trailer


class _HeaderExchange(_Exchange):
    """No coding was negotiated: headers only (Vary, the opt-out header, a 304's ETag), nothing deferred."""

    __slots__ = ()

    _map = _trailer = None  # type: ignore[assignment]  # ResponseStart accepts None for both
    _defer = False
