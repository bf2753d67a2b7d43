"""``encode`` with MIME parameters: what goes into the data URL, what a data URL parser reads
back, and the message for each malformed parameter."""

from __future__ import annotations

import base64
import urllib.request
from email.message import Message
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

import fal_client
from fal_client._encoding import parse_media_type

pytestmark = pytest.mark.timeout(60)


def stdlib_read_back(url: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Decode ``url`` with Python's own data URL handler (``urllib``, lenient): the MIME type,
    its parameters (names lower-cased, values unquoted) and the bytes."""
    with urllib.request.urlopen(url) as response:
        info: Message = response.info()
        body: bytes = response.read()
    params = info.get_params() or []
    return info.get_content_type(), [(k.lower(), v) for k, v in params[1:]], body


_TOKEN = set("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HTTP_WS = "\t\n\r "


def read_back(url: str) -> tuple[str, list[tuple[str, str]], bytes]:
    """Decode ``url`` as the WHATWG Fetch "data: URL processor" and MIME Sniffing "parse a MIME
    type" do (strict about quoted strings, unlike ``urllib``); a failure raises AssertionError.
    Parameters the spec would drop are kept out, so a dropped one shows up as a difference."""
    assert url.startswith("data:")
    media, comma, encoded = url[5:].partition(",")
    assert comma, "no ',' in the data URL"
    media = media.strip(_HTTP_WS)
    head, _, tail = media.rpartition(";")
    assert tail.strip(" ").lower() == "base64", "not a base64 data URL"
    body = base64.b64decode(unquote_to_bytes(encoded), validate=True)
    text = head.strip(_HTTP_WS)
    kind, slash, rest = text.partition("/")
    assert slash and kind and set(kind) <= _TOKEN, f"bad type in {text!r}"
    subtype, _, rest = rest.partition(";")
    subtype = subtype.rstrip(_HTTP_WS)
    assert subtype and set(subtype) <= _TOKEN, f"bad subtype in {text!r}"
    params: list[tuple[str, str]] = []
    position = len(kind) + 1 + len(text[len(kind) + 1 :].partition(";")[0])
    while position < len(text):
        position += 1  # the ';'
        while position < len(text) and text[position] in _HTTP_WS:
            position += 1
        start = position
        while position < len(text) and text[position] not in ";=":
            position += 1
        name = text[start:position].lower()
        if position < len(text):
            if text[position] == ";":
                continue
            position += 1
        if position >= len(text):
            break
        if text[position] == '"':  # an HTTP quoted string, value extracted
            value, position = "", position + 1
            while position < len(text):
                char = text[position]
                position += 1
                if char == '"':
                    break
                if char == "\\" and position < len(text):
                    char = text[position]
                    position += 1
                value += char
            while position < len(text) and text[position] != ";":
                position += 1
        else:
            start = position
            while position < len(text) and text[position] != ";":
                position += 1
            value = text[start:position].rstrip(_HTTP_WS)
            if not value:
                continue
        valid_value = all(c == "\t" or " " <= c <= "~" or "\x80" <= c <= "\xff" for c in value)
        if name and set(name) <= _TOKEN and valid_value and name not in dict(params):
            params.append((name, value))
    return f"{kind}/{subtype}".lower(), params, body


@pytest.mark.parametrize(
    ("content_type", "header"),
    [
        ("text/plain; charset=utf-8", "text/plain;charset=utf-8"),
        ("text/plain;charset=utf-8", "text/plain;charset=utf-8"),
        ('text/plain; charset="utf-8"', "text/plain;charset=utf-8"),  # a token loses its quotes
        ("text/plain ; charset=UTF-8 ;", "text/plain;charset=UTF-8"),
        ("audio/wav; rate=44100;; channels=2", "audio/wav;rate=44100;channels=2"),
        ('application/x-thing; title="two words"', 'application/x-thing;title="two words"'),
        ('a/b; q="semi;colon \\"quoted\\""', 'a/b;q="semi;colon \\"quoted\\""'),
        ("image/png", "image/png"),
    ],
)
def test_parameters_go_into_the_data_url(content_type: str, header: str) -> None:
    url = fal_client.encode(b"hi", content_type)
    assert url == f"data:{header};base64,aGk="


def test_a_charset_round_trips_through_data_url_parsers() -> None:
    url = fal_client.encode("héllo", "text/plain; charset=utf-8")
    for parse in (read_back, stdlib_read_back):
        kind, params, body = parse(url)
        assert (kind, params) == ("text/plain", [("charset", "utf-8")])
        assert body.decode("utf-8") == "héllo"


def test_quoted_values_round_trip_unquoted() -> None:
    url = fal_client.encode(b"\x00\xff", 'a/b; title="a; \\"b\\" \\\\ c"; x=1')
    expected = ("a/b", [("title", 'a; "b" \\ c'), ("x", "1")], b"\x00\xff")
    assert read_back(url) == expected and stdlib_read_back(url) == expected


def test_a_comma_in_a_value_is_refused() -> None:
    # Every data URL parser ends the media type at the first ','; percent-encoding it would not
    # help, since the media type is not percent-decoded.
    with pytest.raises(ValueError, match="parameter 'title' holds a ','"):
        fal_client.encode(b"", 'a/b; title="a, b"')


_TOKEN_CHARS = "".join(sorted(_TOKEN))
token = st.text(alphabet=_TOKEN_CHARS, min_size=1, max_size=12)
# Anything a quoted string may hold, except the ',' a data URL cannot carry in its media type.
quotable = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters=","),
    max_size=20,
)


@given(
    names=st.lists(token, min_size=1, max_size=4, unique_by=str.lower),
    values=st.lists(quotable, min_size=4, max_size=4),
    data=st.binary(max_size=64),
)
def test_any_valid_parameters_round_trip(names: list[str], values: list[str], data: bytes) -> None:
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    content_type = "application/x-test; " + "; ".join(f"{n}={q}" for n, q in zip(names, quoted))
    assert parse_media_type(content_type) == ("application/x-test", list(zip(names, values)))
    kind, params, body = read_back(fal_client.encode(data, content_type))
    assert kind == "application/x-test" and body == data
    assert params == [(n.lower(), v) for n, v in zip(names, values)]


@pytest.mark.parametrize(
    ("content_type", "what"),
    [
        ("text", "no '/' between type and subtype"),
        ("text/", "the subtype '' is not a token"),
        ("te xt/plain", "the type 'te xt' is not a token"),
        ("a/b/c", "the subtype 'b/c' is not a token"),
        ("text/plain; charset", "parameter 'charset' has no value (expected name=value)"),
        ("text/plain; charset=", "parameter 'charset' has an empty value"),
        ("text/plain; =utf-8", "parameter '=utf-8' does not start with a name"),
        ("text/plain; charset =utf-8", "no spaces allowed before '=' in parameter 'charset'"),
        ("text/plain; charset= utf-8", "no spaces allowed after '=' in parameter 'charset'"),
        ("text/plain; cha rset=x", "parameter 'cha rset=x' is not name=value"),
        (
            "text/plain; charset=utf 8",
            "parameter 'charset' must be a token or a quoted string, got 'utf 8'",
        ),
        ('text/plain; charset="a"b', "parameter 'charset' must be a token or a quoted string"),
        ("text/plain; charset=é", "parameter 'charset' must be a token or a quoted string"),
        ('text/plain; charset="utf-8', "the quoted value of parameter 'charset' is not closed"),
        ('a/b; x="é"', "the quoted value of parameter 'x' is not closed, or holds a control"),
        ('a/b; x="a\nb"', "the quoted value of parameter 'x' is not closed, or holds a control"),
        ("text/plain; charset=a; CHARSET=b", "parameter 'CHARSET' is given twice"),
        ("text/plain; charset=utf-8,", "must be a token or a quoted string, got 'utf-8,'"),
    ],
)
def test_malformed_parameters_are_named_in_the_error(content_type: str, what: str) -> None:
    with pytest.raises(ValueError) as caught:
        fal_client.encode(b"x", content_type)
    message = str(caught.value)
    assert message.startswith("content_type must be a MIME type like 'image/png'")
    assert f"got {content_type!r}: " in message and what in message
