"""The RESP2 codec of the async Redis client: every reply type, any split, bad bytes."""

from __future__ import annotations

from typing import Any

import pytest

from router.state.aio.resp import ProtocolError, ReplyError, ReplyParser, encode

# (wire bytes, the reply they parse to); errors compared by message below.
REPLIES: list[tuple[bytes, Any]] = [
    (b"+OK\r\n", "OK"),
    (b"+\r\n", ""),
    (b"-ERR unknown command 'NOPE'\r\n", ReplyError("ERR unknown command 'NOPE'")),
    (b":0\r\n", 0),
    (b":-42\r\n", -42),
    (b":9223372036854775807\r\n", 2**63 - 1),
    (b"$5\r\nhello\r\n", "hello"),
    (b"$0\r\n\r\n", ""),
    (b"$-1\r\n", None),
    (b"$4\r\na\r\nb\r\n", "a\r\nb"),  # the length rules, not the CRLF inside
    (b"$5\r\n\xc3\xa9t\xc3\xa9\r\n", "été"),
    (b"*0\r\n", []),
    (b"*-1\r\n", None),
    (b"*3\r\n:1\r\n$-1\r\n+x\r\n", [1, None, "x"]),
    (b"*2\r\n*1\r\n*0\r\n*-1\r\n", [[[]], None]),
    (
        b"*3\r\n:0\r\n*2\r\n$3\r\n0.5\r\n$1\r\n7\r\n*1\r\n:2\r\n",
        [0, ["0.5", "7"], [2]],  # a budget script's reply: ok, usage, refused
    ),
    (b"*2\r\n+QUEUED\r\n-ERR in a transaction\r\n", ["QUEUED", ReplyError("ERR in a transaction")]),
    (
        b"*1\r\n*2\r\n$3\r\n1-0\r\n*4\r\n$2\r\nts\r\n$3\r\n1.5\r\n$1\r\nr\r\n$2\r\n{}\r\n",
        [["1-0", ["ts", "1.5", "r", "{}"]]],  # an XRANGE reply
    ),
]


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, ReplyError):
        return isinstance(got, ReplyError) and got.message == want.message
    if isinstance(want, list):
        return (
            isinstance(got, list)
            and len(got) == len(want)
            and all(_same(g, w) for g, w in zip(got, want, strict=True))
        )
    return type(got) is type(want) and got == want


@pytest.mark.parametrize(("wire", "want"), REPLIES, ids=[repr(w)[:40] for w, _ in REPLIES])
def test_each_reply_type_parses_whole(wire: bytes, want: Any) -> None:
    p = ReplyParser()
    got = p.feed(wire)
    assert len(got) == 1 and _same(got[0], want)
    assert not p.pending


ALL = b"".join(w for w, _ in REPLIES)
WANT = [w for _, w in REPLIES]


def test_many_replies_in_one_read_come_out_in_order() -> None:
    p = ReplyParser()
    assert _same(p.feed(ALL), WANT)
    assert not p.pending


@pytest.mark.parametrize("cut", range(1, len(ALL)))
def test_a_stream_split_at_any_byte_gives_the_same_replies(cut: int) -> None:
    p = ReplyParser()
    first = p.feed(ALL[:cut])
    assert _same(first, WANT[: len(first)])  # whole replies only, in order
    rest = p.feed(ALL[cut:])
    assert _same(first + rest, WANT)
    assert not p.pending


def test_a_stream_fed_one_byte_at_a_time() -> None:
    p = ReplyParser()
    got: list[Any] = []
    for i in range(len(ALL)):
        got += p.feed(ALL[i : i + 1])
    assert _same(got, WANT)


def test_a_reply_completes_only_with_its_last_byte() -> None:
    for wire, want in REPLIES:
        p = ReplyParser()
        for i in range(len(wire) - 1):
            assert p.feed(wire[i : i + 1]) == [], (wire, i)
        assert _same(p.feed(wire[-1:]), [want])


def test_a_large_bulk_string_in_many_reads() -> None:
    value = "x" * 1_000_000
    wire = b"$%d\r\n%s\r\n" % (len(value), value.encode()) + b":1\r\n"
    p = ReplyParser()
    got: list[Any] = []
    for i in range(0, len(wire), 4096):
        got += p.feed(wire[i : i + 4096])
    assert got == [value, 1]


def test_a_long_array_in_many_reads_keeps_what_it_parsed() -> None:
    items = [f"record-{i}" for i in range(5000)]
    wire = b"*%d\r\n" % len(items) + b"".join(
        b"$%d\r\n%s\r\n" % (len(s), s.encode()) for s in items
    )
    p = ReplyParser()
    got: list[Any] = []
    for i in range(0, len(wire), 1000):
        got += p.feed(wire[i : i + 1000])
    assert got == [items]


def test_bytes_that_are_not_utf8_survive_as_escapes() -> None:
    (got,) = ReplyParser().feed(b"$2\r\n\xff\xfe\r\n")
    assert got.encode(errors="surrogateescape") == b"\xff\xfe"


@pytest.mark.parametrize(
    "wire",
    [
        b"!3\r\nabc\r\n",  # not a RESP2 type
        b"$x\r\nabc\r\n",  # a length that is no number
        b":1.5\r\n",  # an integer that is not one
        b"$3\r\nabcd\r\n",  # a bulk string longer than it says
        b"*1\r\n?\r\n",  # a bad element inside an array
    ],
)
def test_bytes_that_are_not_resp2_raise(wire: bytes) -> None:
    with pytest.raises(ProtocolError):
        ReplyParser().feed(wire)


def test_reply_error_names_its_code_and_message() -> None:
    e = ReplyError("NOSCRIPT No matching script. Please use EVAL.")
    assert e.code == "NOSCRIPT" and str(e) == e.message
    assert ReplyError("WRONGPASS").code == "WRONGPASS"
    assert not isinstance(e, OSError)  # never mistaken for "store unreachable"


def test_encode_commands() -> None:
    assert encode(("PING",)) == b"*1\r\n$4\r\nPING\r\n"
    assert encode(("SET", "k", "été", "PX", 1500)) == (
        b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\n\xc3\xa9t\xc3\xa9\r\n$2\r\nPX\r\n$4\r\n1500\r\n"
    )
    assert encode(["GET", b"\x00\r\n", ""]) == b"*3\r\n$3\r\nGET\r\n$3\r\n\x00\r\n\r\n$0\r\n\r\n"
    assert (
        encode(("INCRBYFLOAT", "n", 0.1)) == b"*3\r\n$11\r\nINCRBYFLOAT\r\n$1\r\nn\r\n$3\r\n0.1\r\n"
    )


@pytest.mark.parametrize("bad", [True, None, 1j, ["nested"]])
def test_encode_refuses_what_has_no_wire_form(bad: Any) -> None:
    with pytest.raises(TypeError):
        encode(("SET", "k", bad))


def test_an_encoded_command_parses_back_as_its_arguments() -> None:
    # A command is an array of bulk strings: the parser reads it back.
    args = ("EVALSHA", "ab" * 20, 2, "k1", "k2", "x\r\ny", "")
    assert ReplyParser().feed(encode(args)) == [[str(a) for a in args]]
