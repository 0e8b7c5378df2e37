"""Canonical paths (pure): what route rules see is what every kind of server behind rowgate would
read in the path it receives, or the path is refused."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rowgate.errors import BadRequest
from rowgate.proxy.paths import canonical_path, upstream_path

HOSTILE = [
    "/public/../admin",
    "/public/./x",
    "/public/..;/admin-only/x",
    "/public/%2e%2e%3b/admin-only/x",
    "/public/%2e%2e/admin-only/x",
    "/public/%2E%2E/admin-only/x",
    "/public/.%2e/admin-only/x",
    "/public/%2e./admin-only/x",
    "/public;jsessionid=1/x",
    "/public/x;/../../admin-only",
    "/public/%3b/x",
    "/public/%3B/x",
    "/admin-only%2fx",
    "/admin-only%2Fx",
    "/public/..%2fadmin-only",
    "/public/..%5cadmin-only",
    "/public/..%5Cadmin-only",
    "/public\\..\\admin-only",
    "/public/%252e%252e/admin-only",
    "/public/%25",
    "/public/%",
    "/public/%4",
    "/public/%zz",
    "/public/%u002e%u002e/admin-only",
    "/public/%c0%ae%c0%ae/admin-only",
    "/public/%e0%80%ae/x",
    "/public/%ff",
    "/public/%00/x",
    "/public/x%00.png",
    "/public/%0a",
    "/public/%7f",
    "/public/\x00",
    "/public/\x7f",
    "//admin-only/x",
    "/public//x",
    "/admin-only./x",
    "/public/.../admin-only",
    "/admin-only%20/x",
    "/admin-only /x",
    "/public/\uff0e\uff0e/admin-only",
    "/public/\uff0e%ef%bc%8e/admin-only",
    "/public%ef%bc%8f..%ef%bc%8fadmin-only",
    "/public/\u2024\u2024/admin-only",
    "/public/\uff05",
    "/public/\udcff",
    "relative/x",
    "*",
    "http://evil.example/admin-only",
]


@pytest.mark.parametrize("raw", HOSTILE)
def test_a_path_servers_could_read_differently_is_refused(raw: str) -> None:
    with pytest.raises(BadRequest) as caught:
        canonical_path(raw)
    assert caught.value.code == "invalid_path"


@pytest.mark.parametrize(
    ("raw", "canonical", "forwarded"),
    [
        ("/a/b", "/a/b", "/a/b"),
        ("/a/b/", "/a/b/", "/a/b/"),
        ("/", "/", "/"),
        ("/caf%C3%A9", "/caf\u00e9", "/caf%C3%A9"),
        ("/caf%c3%a9", "/caf\u00e9", "/caf%C3%A9"),
        ("/a%20b?x=1", "/a b", "/a%20b"),
        ("/%41dmin-only/x", "/Admin-only/x", "/Admin-only/x"),
        ("/public/%7euser", "/public/~user", "/public/~user"),
        ("/public/a%3fb", "/public/a?b", "/public/a%3Fb"),
        ("/public/a%23b", "/public/a#b", "/public/a%23b"),
        ("/files/v1.2/cat.png", "/files/v1.2/cat.png", "/files/v1.2/cat.png"),
        ("/public/a+b,c=d@e:f", "/public/a+b,c=d@e:f", "/public/a+b,c=d@e:f"),
        ("/public/a%EF%BC%8Fb", "/public/a/b", "/public/a/b"),  # NFKC: fullwidth solidus
        ("/%EF%BC%A1dmin-only/x", "/Admin-only/x", "/Admin-only/x"),  # fullwidth A
        ("/public/\uff0eenv", "/public/.env", "/public/.env"),
    ],
)
def test_a_plain_path_is_decoded_once_and_forwarded_in_one_encoding(
    raw: str, canonical: str, forwarded: str
) -> None:
    assert canonical_path(raw) == canonical
    assert upstream_path(canonical) == forwarded
    assert canonical_path(forwarded) == canonical


def _resolve(path: str) -> list[str]:
    """The segments of ``path`` after RFC 3986 dot-segment removal."""
    out: list[str] = []
    segments = path.split("/")[1:]
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment in (".", ".."):
            if segment == ".." and out:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    return out


def _tomcat(path: str) -> str:  # path parameters dropped from each segment, then decoded
    return unquote("/".join(segment.split(";", 1)[0] for segment in path.split("/")))


#: How different servers read the path rowgate forwards.
READERS: dict[str, Callable[[str], str]] = {
    "decode once": unquote,
    "path parameters dropped (Tomcat, Spring)": _tomcat,
    "decoded twice": lambda path: unquote(unquote(path)),
    "backslash as a separator (IIS, Windows)": lambda path: unquote(path).replace("\\", "/"),
    "NFKC normalised": lambda path: unicodedata.normalize("NFKC", unquote(path)),
    "trailing dots and spaces dropped (Windows)": lambda path: "/".join(
        segment.rstrip(". ") or segment for segment in unquote(path).split("/")
    ),
    "slashes merged (nginx)": lambda path: re.sub("/+", "/", unquote(path)),
}

PIECES = st.sampled_from(
    [
        "/",
        "/",
        "/",
        ".",
        "..",
        ";",
        "%2e",
        "%2E",
        "%2f",
        "%5c",
        "%25",
        "%3b",
        "%00",
        "%0a",
        "%",
        "\\",
        "admin",
        "public",
        "x",
        "A",
        "%41",
        " ",
        "%20",
        "\uff0e",
        "\uff0f",
        "%ef%bc%8e",
        "%c0%ae",
        "%c3%a9",
        "\u00e9",
        "?",
        "%3f",
        "#",
        "~",
        "+",
        "=",
        "\u2024",
    ]
)


def _accepted(raw: str) -> str | None:
    """The canonical path, or None when refused (always as ``invalid_path``)."""
    try:
        return canonical_path(raw)
    except BadRequest as refused:
        if refused.code != "invalid_path":
            raise
        return None


@given(st.lists(PIECES, min_size=1, max_size=12).map(lambda pieces: "/" + "".join(pieces)))
def test_an_accepted_path_means_the_same_to_every_server(raw: str) -> None:
    canonical = _accepted(raw)
    if canonical is None:
        return
    forwarded = upstream_path(canonical)
    assert canonical_path(forwarded) == canonical
    expected = _resolve(canonical)
    assert expected == canonical.split("/")[1:]  # nothing left to resolve
    for name, read in READERS.items():
        assert _resolve(read(forwarded)) == expected, name
