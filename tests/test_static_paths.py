"""Path safety: a corpus of traversal and aliasing payloads that must all miss (reach the app), never 500.

PATH_INFO reaches a middleware already percent-decoded by a well-behaved server, but some servers and
proxies pass ``%2e%2e`` through or decode twice (pywb#931), so the corpus holds raw, encoded and
double-encoded forms, mixed separators, overlong UTF-8, NUL and control characters, Windows drive, UNC
and device names, dotfiles, look-alike Unicode and links out of the root. Every payload runs against the
start-up table and against ``autorefresh`` (which looks paths up on disk), with and without an index
file; lexically unsafe payloads must be refused before any filesystem call.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.test_static import APP_BODY, CSS, Inner, call, write
from wsgistack import StaticFiles


def wsgi(text: str) -> str:
    """A decoded URL path as PATH_INFO carries it (UTF-8 bytes as latin-1, PEP 3333)."""
    return text.encode("utf-8").decode("latin-1")


def raw(data: bytes) -> str:
    """Raw request bytes as PATH_INFO carries them, whatever they are."""
    return data.decode("latin-1")


S = "/static/"

# Refused by the segment rules alone: no filesystem call may happen for these.
LEXICAL = [
    # dot segments and empty segments
    pytest.param(wsgi(S + "../secret.txt"), id="dot-dot"),
    pytest.param(wsgi(S + "../../etc/passwd"), id="dot-dot-twice"),
    pytest.param(wsgi(S + "sub/../../secret.txt"), id="dot-dot-after-directory"),
    pytest.param(wsgi(S + "sub/../app.css"), id="dot-dot-inside-root"),
    pytest.param(wsgi(S + "../public2/secret.txt"), id="sibling-with-common-prefix"),
    pytest.param(wsgi(S + "./app.css"), id="dot"),
    pytest.param(wsgi(S + "sub/./x.css"), id="dot-inside"),
    pytest.param(wsgi(S + "/app.css"), id="double-slash-start"),
    pytest.param(wsgi(S + "sub//x.css"), id="double-slash-inside"),
    pytest.param(wsgi(S + "//etc/passwd"), id="absolute-after-prefix"),
    pytest.param(wsgi(S + "///server/share/file"), id="triple-slash"),
    pytest.param(wsgi(S + ".."), id="bare-dot-dot"),
    pytest.param(wsgi(S + "."), id="bare-dot"),
    pytest.param(wsgi(S + "../"), id="dot-dot-slash"),
    pytest.param(wsgi(S + "sub/.."), id="trailing-dot-dot"),
    pytest.param(wsgi(S + "sub/."), id="trailing-dot"),
    pytest.param(wsgi(S + "app.css/.."), id="file-then-dot-dot"),
    pytest.param(wsgi(S + "app.css/."), id="file-then-dot"),
    pytest.param(wsgi(S + "a/../../secret.txt"), id="missing-directory-dot-dot"),
    pytest.param(wsgi(S + "sub/x.css/../../../secret.txt"), id="deep-dot-dot"),
    pytest.param(wsgi(S + "../" * 20 + "etc/passwd"), id="many-dot-dots"),
    # percent-encoded forms a server did not decode, or that decode a second time
    pytest.param(wsgi(S + "%2e%2e/secret.txt"), id="encoded-dot-dot"),
    pytest.param(wsgi(S + "%2E%2E/secret.txt"), id="encoded-dot-dot-upper"),
    pytest.param(wsgi(S + ".%2e/secret.txt"), id="half-encoded-dot-dot"),
    pytest.param(wsgi(S + "%2e./secret.txt"), id="half-encoded-dot-dot-2"),
    pytest.param(wsgi(S + "%2e%2e"), id="encoded-bare-dot-dot"),
    pytest.param(wsgi(S + "%2e/app.css"), id="encoded-dot"),
    pytest.param(wsgi(S + "%2e%2e%2fsecret.txt"), id="encoded-dot-dot-slash"),
    pytest.param(wsgi(S + "..%2fsecret.txt"), id="encoded-slash"),
    pytest.param(wsgi(S + "sub%2fx.css"), id="encoded-slash-inside-name"),
    pytest.param(wsgi(S + "%2f..%2f"), id="encoded-slashes-around"),
    pytest.param(wsgi(S + "..%5csecret.txt"), id="encoded-backslash"),
    pytest.param(wsgi(S + "sub/..%5c..%5csecret.txt"), id="encoded-backslashes"),
    pytest.param(wsgi(S + "%252e%252e/secret.txt"), id="double-encoded-dot-dot"),
    pytest.param(wsgi(S + "..%252fsecret.txt"), id="double-encoded-slash"),
    pytest.param(wsgi(S + "..%252f..%252fsecret.txt"), id="double-encoded-slashes"),
    pytest.param(wsgi(S + "%25252e%25252e/"), id="triple-encoded-dot-dot"),
    pytest.param(wsgi(S + "%%32%65%%32%65/"), id="nested-percent"),
    pytest.param(wsgi(S + "%2eenv"), id="encoded-dotfile"),
    pytest.param(wsgi(S + "%c0%ae%c0%ae/secret.txt"), id="encoded-overlong-dot-dot"),
    pytest.param(wsgi(S + "..%c0%afsecret.txt"), id="encoded-overlong-slash"),
    pytest.param(wsgi(S + "..%00/secret.txt"), id="encoded-nul"),
    pytest.param(wsgi(S + "app.css%00"), id="encoded-nul-suffix"),
    pytest.param(wsgi(S + "%00"), id="encoded-nul-alone"),
    pytest.param(wsgi(S + "..%0d/secret.txt"), id="encoded-cr"),
    pytest.param(wsgi(S + "%0d%0aSet-Cookie:%20a=b"), id="encoded-crlf"),
    pytest.param(wsgi(S + "%09"), id="encoded-tab"),
    # backslashes and mixed separators
    pytest.param(wsgi(S + "..\\secret.txt"), id="backslash-dot-dot"),
    pytest.param(wsgi(S + "\\..\\secret.txt"), id="leading-backslash"),
    pytest.param(wsgi(S + "sub\\..\\..\\secret.txt"), id="backslashes"),
    pytest.param(wsgi(S + "sub/..\\../secret.txt"), id="mixed-separators"),
    pytest.param(wsgi(S + "sub\\x.css"), id="backslash-inside-root"),
    # overlong and invalid UTF-8 (PATH_INFO carries the raw bytes)
    pytest.param(raw(b"/static/\xc0\xae\xc0\xae/secret.txt"), id="overlong-dot-dot"),
    pytest.param(raw(b"/static/\xc0\xaf"), id="overlong-slash"),
    pytest.param(raw(b"/static/..\xc0\xafsecret.txt"), id="overlong-slash-after-dot-dot"),
    pytest.param(raw(b"/static/\xe0\x80\xae\xe0\x80\xae/secret.txt"), id="overlong-three-byte-dot"),
    pytest.param(raw(b"/static/\xf0\x80\x80\xaf"), id="overlong-four-byte-slash"),
    pytest.param(raw(b"/static/\xc0\x2e\xc0\x2e/"), id="invalid-lead-bytes"),
    pytest.param(raw(b"/static/\xed\xb3\xbf"), id="encoded-surrogate"),
    pytest.param(raw(b"/static/\xff\xfe"), id="not-utf-8"),
    pytest.param("/static/caf\xe9.txt", id="latin-1-not-utf-8"),
    # NUL and control characters
    pytest.param(wsgi(S + "app.css\x00.png"), id="nul-in-name"),
    pytest.param(wsgi(S + "\x00/../secret.txt"), id="nul-segment"),
    pytest.param(wsgi(S + "app.css\r\nX-Injected: 1"), id="crlf-in-name"),
    pytest.param(wsgi(S + "\t../secret.txt"), id="tab"),
    pytest.param(wsgi(S + "app\x7f.css"), id="del"),
    pytest.param(wsgi(S + "app\x85.css"), id="c1-control"),
    pytest.param(wsgi(S + "app\x1b[31m.css"), id="escape"),
    # absolute, drive, UNC and device paths (Windows semantics everywhere)
    pytest.param(wsgi(S + "C:/Windows/win.ini"), id="drive-slash"),
    pytest.param(wsgi(S + "c:\\windows\\win.ini"), id="drive-backslash"),
    pytest.param(wsgi(S + "C:secret.txt"), id="drive-relative"),
    pytest.param(wsgi(S + "\\\\server\\share\\file"), id="unc"),
    pytest.param(wsgi(S + "\\\\?\\C:\\secret.txt"), id="unc-long-path"),
    pytest.param(wsgi(S + "\\\\.\\NUL"), id="device-namespace"),
    pytest.param(wsgi(S + "NUL"), id="device-nul"),
    pytest.param(wsgi(S + "nul.txt"), id="device-nul-with-extension"),
    pytest.param(wsgi(S + "sub/CON"), id="device-con-in-directory"),
    pytest.param(wsgi(S + "AUX.css"), id="device-aux"),
    pytest.param(wsgi(S + "COM1"), id="device-com1"),
    pytest.param(wsgi(S + "LPT9.txt"), id="device-lpt9"),
    pytest.param(wsgi(S + "COM\u00b9"), id="device-com-superscript"),
    pytest.param(wsgi(S + "CONIN$"), id="device-conin"),
    pytest.param(wsgi(S + "prn .txt"), id="device-with-space"),
    pytest.param(wsgi(S + "app.css::$DATA"), id="ntfs-stream"),
    pytest.param(wsgi(S + "app.css:stream"), id="colon"),
    pytest.param(wsgi(S + "app.css."), id="trailing-dot"),
    pytest.param(wsgi(S + "app.css "), id="trailing-space"),
    pytest.param(wsgi(S + "*.css"), id="wildcard"),
    pytest.param(wsgi(S + "app?.css"), id="question-mark"),
    pytest.param(wsgi(S + 'app".css'), id="quote"),
    pytest.param(wsgi(S + "app<>.css"), id="angle-brackets"),
    pytest.param(wsgi(S + "app|.css"), id="pipe"),
    # dotfiles
    pytest.param(wsgi(S + ".env"), id="dotfile"),
    pytest.param(wsgi(S + ".git/config"), id="dot-directory"),
    pytest.param(wsgi(S + "sub/.hidden"), id="nested-dotfile"),
    pytest.param(wsgi(S + ".%65nv"), id="dotfile-with-encoding"),
    pytest.param(wsgi(S + "..."), id="three-dots"),
    pytest.param(wsgi(S + "..../secret.txt"), id="four-dots"),
    pytest.param(wsgi(S + "..;/secret.txt"), id="dot-dot-semicolon"),
    # look-alike Unicode that NFKC (Windows "best fit") turns into dots and separators
    pytest.param(wsgi(S + "\uff0e\uff0e/secret.txt"), id="fullwidth-dot-dot"),
    pytest.param(wsgi(S + "..\uff0fsecret.txt"), id="fullwidth-solidus"),
    pytest.param(wsgi(S + "..\uff3csecret.txt"), id="fullwidth-backslash"),
    pytest.param(wsgi(S + "\u2025/secret.txt"), id="two-dot-leader"),
    pytest.param(wsgi(S + "\ufe52\ufe52/secret.txt"), id="small-full-stops"),
    pytest.param(wsgi(S + "%ef%bc%8e%ef%bc%8e/secret.txt"), id="encoded-fullwidth-dots"),
    pytest.param(wsgi(S + "\uff23\uff2f\uff2e"), id="fullwidth-device-name"),
    # lengths
    pytest.param(wsgi(S + "x" * 300), id="segment-too-long"),
    pytest.param(wsgi(S + "a/" * 2100 + "x"), id="path-too-long"),
]

# Canonical-looking paths that must still miss: the decision needs the filesystem.
ON_DISK = [
    pytest.param(wsgi(S + "out"), id="file-link-out-of-root"),
    pytest.param(wsgi(S + "outdir/secret.txt"), id="directory-link-out-of-root"),
    pytest.param(wsgi(S + "outdir/public2/secret.txt"), id="directory-link-to-sibling"),
    pytest.param(wsgi(S + "etc-link/passwd"), id="absolute-link"),
    pytest.param(wsgi(S + "loop"), id="link-loop"),
    pytest.param(wsgi(S + "loop/app.css"), id="through-link-loop"),
    pytest.param(wsgi(S + "broken"), id="broken-link"),
    pytest.param(wsgi(S + "sub"), id="directory-no-index"),
    pytest.param(wsgi(S + "sub/"), id="directory-slash-no-index"),
    pytest.param(wsgi(S), id="root-no-index"),
    pytest.param(wsgi(S + "fifo"), id="fifo"),
    pytest.param(wsgi(S + "app.css.gz"), id="variant-own-url"),
    pytest.param(wsgi(S + "APP.CSS"), id="case-alias"),
    pytest.param(wsgi(S + "missing.css"), id="missing"),
    pytest.param(wsgi(S + "~/secret.txt"), id="tilde"),
    pytest.param(wsgi(S + "app.css/"), id="file-as-directory"),
    pytest.param(wsgi(S + "app.css%20"), id="encoded-space-suffix"),
    pytest.param(wsgi(S + "\u202eapp.css"), id="bidi-override"),
    pytest.param(wsgi("/STATIC/app.css"), id="prefix-case"),
    pytest.param(wsgi("/static"), id="prefix-without-slash"),
    pytest.param(wsgi("/static2/secret.txt"), id="prefix-sibling"),
    pytest.param(wsgi("/static/../static2/secret.txt"), id="prefix-sibling-via-dot-dot"),
    pytest.param("", id="empty-path-info"),
]

CONFIGS: dict[str, dict[str, Any]] = {
    "table": {},
    "autorefresh": {"autorefresh": True},
    "table-index": {"index_file": "index.html"},
    "autorefresh-index": {"autorefresh": True, "index_file": "index.html"},
}


def build(tmp: Path) -> Path:
    """``public`` is served; everything around it is what an attacker wants."""
    root = tmp / "public"
    write(root, "app.css", CSS)
    write(root, "app.css.gz", b"\x1f\x8b not really")
    write(root, "sub/x.css", CSS)
    write(root, "sub/.hidden", b"hidden")
    write(root, ".env", b"SECRET=1")
    write(root, ".git/config", b"[core]")
    write(root, "caf\u00e9.txt", b"cafe")
    write(tmp, "secret.txt", b"TOP SECRET")
    write(tmp, "public2/secret.txt", b"SIBLING SECRET")
    write(tmp, "static2/secret.txt", b"SIBLING SECRET")
    write(tmp, "index.html", b"PARENT INDEX")
    (root / "out").symlink_to(tmp / "secret.txt")
    (root / "outdir").symlink_to(tmp)
    (root / "etc-link").symlink_to("/etc")
    (root / "loop").symlink_to(root / "loop")
    (root / "broken").symlink_to(root / "nowhere")
    os.mkfifo(root / "fifo")
    return root


def spy_on_filesystem(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every call of the functions through which a path reaches the filesystem."""
    calls: list[str] = []

    def spy(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            calls.append(f"{name}{args!r}")
            return real(*args, **kwargs)

        return wrapper

    for name in ("stat", "lstat", "open", "scandir", "listdir", "readlink"):
        monkeypatch.setattr(os, name, spy(name, getattr(os, name)))
    monkeypatch.setattr(os.path, "realpath", spy("realpath", os.path.realpath))
    return calls


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="module", params=list(CONFIGS))
def static(request: pytest.FixtureRequest, tree: Path) -> StaticFiles:
    return StaticFiles(Inner(), tree, **CONFIGS[request.param])


def test_corpus_is_large_enough() -> None:
    assert len(LEXICAL) + len(ON_DISK) >= 100


@pytest.mark.parametrize("path", LEXICAL + ON_DISK)
def test_payload_misses(static: StaticFiles, path: str) -> None:
    result = call(static, path)
    assert result.code == 404
    assert result.body == APP_BODY


@pytest.mark.parametrize("method", ["HEAD", "POST", "OPTIONS"])
@pytest.mark.parametrize("path", [LEXICAL[0], LEXICAL[40], ON_DISK[0]])
def test_payload_misses_for_every_method(static: StaticFiles, path: str, method: str) -> None:
    result = call(static, path, method=method)
    assert result.code == 404


@pytest.mark.parametrize("path", LEXICAL)
def test_lexical_payloads_touch_no_filesystem(tree: Path, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = StaticFiles(Inner(), tree, autorefresh=True, index_file="index.html")
    calls = spy_on_filesystem(monkeypatch)
    try:
        result = call(app, path)
    finally:
        monkeypatch.undo()
    assert result.code == 404
    assert calls == []


@pytest.mark.parametrize("path", LEXICAL + ON_DISK)
def test_table_misses_touch_no_filesystem(tree: Path, path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = StaticFiles(Inner(), tree, index_file="index.html")
    calls = spy_on_filesystem(monkeypatch)
    try:
        result = call(app, path)
    finally:
        monkeypatch.undo()
    assert result.code == 404
    assert calls == []


SERVED = [
    pytest.param(wsgi(S + "app.css"), CSS, id="file"),
    pytest.param(wsgi(S + "sub/x.css"), CSS, id="nested"),
    pytest.param(wsgi(S + "caf\u00e9.txt"), b"cafe", id="unicode-name"),
]


@pytest.mark.parametrize(("path", "body"), SERVED)
def test_the_corpus_is_not_vacuous(static: StaticFiles, path: str, body: bytes) -> None:
    result = call(static, path)
    assert result.code == 200
    assert result.body == body


@pytest.mark.parametrize("autorefresh", [False, True], ids=["table", "autorefresh"])
def test_follow_symlinks_serves_links_out_of_the_root(tree: Path, autorefresh: bool) -> None:
    app = StaticFiles(Inner(), tree, follow_symlinks=True, autorefresh=autorefresh)
    assert call(app, wsgi(S + "out")).body == b"TOP SECRET"
    assert call(app, wsgi(S + "outdir/secret.txt")).body == b"TOP SECRET"
    # still no traversal, loop, device or dotfile: following links is not a licence for paths
    for path in (S + "../secret.txt", S + "loop", S + ".env", S + "fifo", S + "outdir/public/.env"):
        assert call(app, wsgi(path)).code == 404, path


@pytest.mark.parametrize("autorefresh", [False, True], ids=["table", "autorefresh"])
def test_links_inside_the_root_are_served(tmp_path: Path, autorefresh: bool) -> None:
    root = tmp_path / "public"
    write(root, "real/app.css", CSS)
    (root / "alias.css").symlink_to(root / "real" / "app.css")
    (root / "aliasdir").symlink_to(root / "real")
    app = StaticFiles(Inner(), root, autorefresh=autorefresh)
    assert call(app, wsgi(S + "alias.css")).body == CSS
    assert call(app, wsgi(S + "aliasdir/app.css")).body == CSS


def test_a_link_swapped_out_of_the_root_after_start_up_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "public"
    write(root, "real.css", CSS)
    write(tmp_path, "secret.txt", b"TOP SECRET")
    (root / "link.css").symlink_to(root / "real.css")
    app = StaticFiles(Inner(), root, autorefresh=True)
    assert call(app, wsgi(S + "link.css")).body == CSS
    (root / "link.css").unlink()
    (root / "link.css").symlink_to(tmp_path / "secret.txt")
    assert call(app, wsgi(S + "link.css")).code == 404
