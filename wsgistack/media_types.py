"""The built-in table of media types by file extension, used by :class:`wsgistack.static.StaticFiles`.

A fixed table rather than the stdlib :mod:`mimetypes`, which reads ``/etc/mime.types`` and the Windows
registry, so the same file gets a different type on different machines (``.js`` as ``text/plain``,
``.xyz`` as ``chemical/x-xyz``). The entries follow nginx's ``mime.types`` with current registrations
(IANA, WHATWG) where nginx lags. The global ``mimetypes`` module is never read or changed.

A content coding is never inferred from a name: ``archive.tar.gz`` is an ``application/gzip`` file, not a
tar archive with ``Content-Encoding: gzip`` (browsers would silently unpack the download).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["DEFAULT_MEDIA_TYPES", "FALLBACK_MEDIA_TYPE", "MediaTypes", "needs_charset"]

#: What a name that is in no table gets: never ``text/html``, which would let an uploaded file with an
#: unknown extension run script in the site's origin.
FALLBACK_MEDIA_TYPE = "application/octet-stream"

DEFAULT_MEDIA_TYPES: Mapping[str, str] = MappingProxyType(
    {
        # text
        ".css": "text/css",
        ".csv": "text/csv",
        ".htm": "text/html",
        ".html": "text/html",
        ".shtml": "text/html",
        ".ics": "text/calendar",
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".cjs": "text/javascript",
        ".md": "text/markdown",
        ".markdown": "text/markdown",
        ".mml": "text/mathml",
        ".txt": "text/plain",
        ".text": "text/plain",
        ".vtt": "text/vtt",
        ".xml": "text/xml",
        ".xsl": "text/xml",
        ".xsd": "text/xml",
        ".yaml": "text/yaml",
        ".yml": "text/yaml",
        ".htc": "text/x-component",
        ".jad": "text/vnd.sun.j2me.app-descriptor",
        ".wml": "text/vnd.wap.wml",
        # structured data and documents
        ".json": "application/json",
        ".map": "application/json",
        ".jsonld": "application/ld+json",
        ".geojson": "application/geo+json",
        ".webmanifest": "application/manifest+json",
        ".atom": "application/atom+xml",
        ".rss": "application/rss+xml",
        ".xhtml": "application/xhtml+xml",
        ".xspf": "application/xspf+xml",
        ".kml": "application/vnd.google-earth.kml+xml",
        ".kmz": "application/vnd.google-earth.kmz",
        ".pdf": "application/pdf",
        ".ps": "application/postscript",
        ".eps": "application/postscript",
        ".ai": "application/postscript",
        ".rtf": "application/rtf",
        ".epub": "application/epub+zip",
        ".doc": "application/msword",
        ".xls": "application/vnd.ms-excel",
        ".ppt": "application/vnd.ms-powerpoint",
        ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        ".odg": "application/vnd.oasis.opendocument.graphics",
        ".odp": "application/vnd.oasis.opendocument.presentation",
        ".ods": "application/vnd.oasis.opendocument.spreadsheet",
        ".odt": "application/vnd.oasis.opendocument.text",
        ".m3u8": "application/vnd.apple.mpegurl",
        ".mpd": "application/dash+xml",
        ".wasm": "application/wasm",
        ".wmlc": "application/vnd.wap.wmlc",
        ".eot": "application/vnd.ms-fontobject",
        ".jnlp": "application/x-java-jnlp-file",
        ".crt": "application/x-x509-ca-cert",
        ".der": "application/x-x509-ca-cert",
        ".pem": "application/x-x509-ca-cert",
        # archives: types, never content codings
        ".7z": "application/x-7z-compressed",
        ".br": "application/x-brotli",
        ".bz2": "application/x-bzip2",
        ".gz": "application/gzip",
        ".tgz": "application/gzip",
        ".jar": "application/java-archive",
        ".war": "application/java-archive",
        ".ear": "application/java-archive",
        ".rar": "application/vnd.rar",
        ".tar": "application/x-tar",
        ".xz": "application/x-xz",
        ".zip": "application/zip",
        ".zst": "application/zstd",
        ".zstd": "application/zstd",
        ".deb": "application/vnd.debian.binary-package",
        ".rpm": "application/x-redhat-package-manager",
        ".dmg": "application/x-apple-diskimage",
        ".exe": "application/vnd.microsoft.portable-executable",
        ".msi": "application/x-msi",
        ".iso": "application/x-iso9660-image",
        ".bin": "application/octet-stream",
        # fonts
        ".otf": "font/otf",
        ".ttf": "font/ttf",
        ".woff": "font/woff",
        ".woff2": "font/woff2",
        # images
        ".apng": "image/apng",
        ".avif": "image/avif",
        ".bmp": "image/bmp",
        ".gif": "image/gif",
        ".heic": "image/heic",
        ".heif": "image/heif",
        ".ico": "image/vnd.microsoft.icon",
        ".cur": "image/x-icon",
        ".jpeg": "image/jpeg",
        ".jpg": "image/jpeg",
        ".jfif": "image/jpeg",
        ".jxl": "image/jxl",
        ".png": "image/png",
        ".svg": "image/svg+xml",
        ".svgz": "image/svg+xml",
        ".tif": "image/tiff",
        ".tiff": "image/tiff",
        ".wbmp": "image/vnd.wap.wbmp",
        ".webp": "image/webp",
        ".jng": "image/x-jng",
        # audio
        ".aac": "audio/aac",
        ".flac": "audio/flac",
        ".m4a": "audio/mp4",
        ".mid": "audio/midi",
        ".midi": "audio/midi",
        ".kar": "audio/midi",
        ".mp3": "audio/mpeg",
        ".oga": "audio/ogg",
        ".ogg": "audio/ogg",
        ".opus": "audio/ogg",
        ".wav": "audio/wav",
        ".weba": "audio/webm",
        ".ra": "audio/x-realaudio",
        # video
        ".3gp": "video/3gpp",
        ".3gpp": "video/3gpp",
        ".avi": "video/x-msvideo",
        ".flv": "video/x-flv",
        ".m4v": "video/mp4",
        ".mkv": "video/x-matroska",
        ".mov": "video/quicktime",
        ".mp4": "video/mp4",
        ".mpeg": "video/mpeg",
        ".mpg": "video/mpeg",
        ".ogv": "video/ogg",
        ".ts": "video/mp2t",
        ".webm": "video/webm",
        ".wmv": "video/x-ms-wmv",
        ".asf": "video/x-ms-asf",
        ".asx": "video/x-ms-asf",
        # whole names that carry no extension or override one
        "apple-app-site-association": "application/json",
        "crossdomain.xml": "text/x-cross-domain-policy",
        "security.txt": "text/plain",
    }
)

#: Non-``text/*`` types whose formats define a charset parameter (RFC 7303 for XML; JavaScript may be
#: configured as ``application/javascript``). JSON has none (RFC 8259 §11), so it gets no parameter.
_CHARSET_TYPES = frozenset(
    {"application/javascript", "application/xml", "application/xhtml+xml", "application/rss+xml",
     "application/atom+xml", "image/svg+xml"}
)  # fmt: skip


def needs_charset(media_type: str) -> bool:
    """Whether a ``charset`` parameter belongs on ``media_type`` (text types and a few XML/JS types)."""
    return media_type.startswith("text/") or media_type in _CHARSET_TYPES


def _check_media_type(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"media_types[{key!r}] must be a str, got {type(value).__name__}")
    main, slash, sub = value.partition("/")
    if not (main and slash and sub) or any(ord(c) < 33 or ord(c) > 126 for c in main + sub):
        raise ValueError(f"media_types[{key!r}] = {value!r} is not a media type such as 'text/css'")
    return value.lower()


class MediaTypes:
    """Media types by file name: the whole (lower-cased) name first, then its extensions from the longest.

    ``extra`` adds or overrides entries; keys are extensions with their dot (``".tar.gz"``, ``".gltf"``)
    or whole file names (``"manifest.appcache"``). Looking a name up allocates nothing but its
    lower-cased copy.
    """

    __slots__ = ("_table",)

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        table = dict(DEFAULT_MEDIA_TYPES)
        if extra is not None:
            if not isinstance(extra, Mapping):
                raise TypeError(f"media_types must be a mapping, got {type(extra).__name__}")
            for key, value in extra.items():
                if not isinstance(key, str) or not key or "/" in key:
                    raise ValueError(f"media_types key {key!r} must be '.ext' or a file name")
                table[key.lower()] = _check_media_type(key, value)
        self._table: Mapping[str, str] = MappingProxyType(table)

    def get(self, name: str) -> str:
        """The media type for the file called ``name`` (its last path segment), or the fallback."""
        name = name.rpartition("/")[2].lower()
        table = self._table
        found = table.get(name)
        if found is not None:
            return found
        dot = name.find(".", 1)  # a leading dot starts a hidden name, not an extension
        while dot != -1:
            found = table.get(name[dot:])
            if found is not None:
                return found
            dot = name.find(".", dot + 1)
        return FALLBACK_MEDIA_TYPE
