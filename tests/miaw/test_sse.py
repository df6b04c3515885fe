"""The SSE parser, on exactly the cases aiohttp-sse-client got wrong, plus the rest of the spec."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handover_miaw.miaw.sse import ServerSentEvent, SSEParser


def parse(*chunks: bytes) -> list[ServerSentEvent]:
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


def test_strips_exactly_one_leading_space() -> None:
    events = parse(b"data:  two spaces\ndata:no space\ndata: \tone tab\n\n")
    assert events[0].data == " two spaces\nno space\n\tone tab"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n", b"\r"])
def test_line_endings_separate_events(newline: bytes) -> None:
    stream = newline.join([b"event: a", b"id: 1", b"data: one", b"", b"data: two", b"", b""])
    events = parse(stream)
    assert [(e.event, e.data, e.id) for e in events] == [("a", "one", "1"), ("message", "two", "1")]


def test_cr_only_events_are_not_merged_when_split_anywhere() -> None:
    stream = b"data: a\r\rdata: b\r\r"
    for cut in range(len(stream) + 1):
        assert [e.data for e in parse(stream[:cut], stream[cut:])] == ["a", "b"]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    events = parse(b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n")
    assert [e.data for e in events] == ["a\nb"]


def test_multiline_data_joined_by_lf() -> None:
    assert parse(b"data: a\ndata:\ndata: c\n\n")[0].data == "a\n\nc"


def test_comments_and_unknown_fields_are_ignored() -> None:
    events = parse(b": keep-alive\nfoo: bar\ndata: x\n: another\n\n")
    assert [e.data for e in events] == ["x"]


def test_field_without_colon_has_empty_value() -> None:
    events = parse(b"data\ndata\n\n")
    assert events[0].data == "\n"


def test_id_with_nul_is_ignored() -> None:
    parser = SSEParser()
    events = parser.feed(b"id: 7\ndata: a\n\nid: 8\x009\ndata: b\n\n")
    assert [e.id for e in events] == ["7", "7"]
    assert parser.last_event_id == "7"


def test_last_event_id_persists_and_can_be_reset() -> None:
    parser = SSEParser()
    events = parser.feed(b"id: 41\ndata: a\n\ndata: b\n\nid\ndata: c\n\n")
    assert [e.id for e in events] == ["41", "41", ""]


def test_retry_only_when_all_digits() -> None:
    parser = SSEParser()
    parser.feed(b"retry: 2500\n\n")
    assert parser.retry == 2500
    parser.feed(b"retry: 25x\nretry: -1\nretry:\n\n")
    assert parser.retry == 2500


def test_event_without_data_is_not_dispatched() -> None:
    parser = SSEParser()
    assert parser.feed(b"event: CONVERSATION_MESSAGE\nid: 5\n\n") == []
    # ...but its id still counts, and its type does not leak into the next event.
    assert parser.feed(b"data: x\n\n") == [ServerSentEvent("message", "x", "5", None)]


def test_empty_data_line_is_dispatched() -> None:
    assert parse(b"data:\n\n") == [ServerSentEvent("message", "", "", None)]


def test_unterminated_event_is_not_dispatched() -> None:
    assert parse(b"data: half") == []
    assert parse(b"data: half\n") == []


def test_event_over_512_kib() -> None:
    payload = "é" * (600 * 1024)
    raw = b"event: big\ndata: " + payload.encode() + b"\n\n"
    assert parse(raw)[0].data == payload
    chunks = [raw[i : i + 1000] for i in range(0, len(raw), 1000)]
    events = parse(*chunks)
    assert len(events) == 1
    assert events[0].data == payload


def test_utf8_split_across_chunks() -> None:
    raw = "data: Grüße 👋\n\n".encode()
    for cut in range(len(raw) + 1):
        assert parse(raw[:cut], raw[cut:])[0].data == "Grüße 👋"


def test_invalid_utf8_is_replaced() -> None:
    assert parse(b"data: a\xffb\n\n")[0].data == "a\ufffdb"


def test_leading_bom_is_dropped_once() -> None:
    events = parse(b"\xef\xbb", b"\xbfdata: x\n\n\xef\xbb\xbfdata: y\n\n")
    assert events[0].data == "x"
    # A BOM later in the stream is part of a field name, so that line is ignored.
    assert len(events) == 1


@pytest.mark.parametrize("size", [1, 7, 64, 5000])
@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_an_oversized_event_is_passed_without_its_data_and_the_stream_goes_on(size: int, ending: str) -> None:
    """Its data is dropped (memory stays bounded, even for one endless line) and it is dispatched marked
    `oversized` with its id, so the reader moves past it; the next event is read as usual."""
    stream = (
        f"id: 1{ending}data: small{ending}{ending}"
        f"event: big{ending}id: 2{ending}data: {'x' * 600}{ending}data: {'y' * 600}{ending}"
        f"data: {'z' * 3000}{ending}{ending}"
        f"id: 3{ending}data: after{ending}{ending}"
    ).encode()
    parser = SSEParser(max_event_chars=1000)
    events = [e for i in range(0, len(stream), size) for e in parser.feed(stream[i : i + size])]
    if ending == "\r":  # a CR at the very end may still be the first half of a CRLF
        events += parser.feed(b"")
    assert [(e.event, e.data, e.id, e.oversized) for e in events] == [
        ("message", "small", "1", False),
        ("big", "", "2", True),
        ("message", "after", "3", False),
    ]
    assert parser._line_chars + parser._data_chars == 0


def test_an_endless_line_is_not_held_in_memory() -> None:
    parser = SSEParser(max_event_chars=1000)
    assert parser.feed(b"data: ") == []
    for _ in range(100):
        assert parser.feed(b"x" * 999) == []
        assert parser._line_chars <= 1000
    # The line's end ends what was dropped of it; the blank line after it ends the oversized event.
    assert [(e.oversized, e.data) for e in parser.feed(b"\n\ndata: next\n\n")] == [(True, ""), (False, "next")]


@given(st.lists(st.binary(max_size=64), max_size=20))
def test_arbitrary_bytes_never_raise(chunks: list[bytes]) -> None:
    parser = SSEParser()
    for chunk in chunks:
        for event in parser.feed(chunk):
            assert isinstance(event.data, str)


@given(
    st.lists(st.sampled_from(["data: x", "data:", "id: 1", "event: e", ": c", "", "retry: 5", "data: ü"]), max_size=30),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_chunking_does_not_change_the_events(lines: list[str], newline: str, cuts: list[int]) -> None:
    raw = (newline.join(lines) + newline).encode()
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert parse(*pieces) == parse(raw)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["data: x", "data:", "id: 1", "event: e", ": c", "", "retry: 5", "data: ü"]),
            st.sampled_from(["\n", "\r\n"]),
        ),
        max_size=30,
    ),
    st.lists(st.integers(min_value=0, max_value=400), max_size=6),
)
def test_lf_and_crlf_mixed_in_one_stream_give_the_crlf_events(lines: list[tuple[str, str]], cuts: list[int]) -> None:
    # Chunks with LF alone take the split path, chunks with a CR the general one; a line may start in one
    # and end in the other.
    raw = "".join(line + end for line, end in lines).encode()
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    reference = "".join(line + "\r\n" for line, _ in lines).encode()
    assert parse(*pieces) == parse(reference)


@pytest.mark.parametrize("line", [b": " + b"c" * 3000, b"note: " + b"n" * 3000, b"dat" + b"a" * 3000])
def test_a_long_line_that_is_no_data_line_is_dropped_alone(line: bytes) -> None:
    stream = b"id: 5\ndata: a\n\n" + line + b"\ndata: b\nid: 6\n\n"
    for size in (1, 100, len(stream)):
        parser = SSEParser(max_event_chars=1000)
        events = [e for i in range(0, len(stream), size) for e in parser.feed(stream[i : i + size])]
        assert [(e.data, e.id, e.oversized) for e in events] == [("a", "5", False), ("b", "6", False)], size


def test_a_data_line_cut_inside_its_field_name_near_the_limit_still_marks_the_event_oversized() -> None:
    # The read ended in "da": taken for no data line, it was dropped alone and the event dispatched without it,
    # as a whole one.
    stream = b"id: 7\ndata: 012345678901234567\ndata: second line\n\n"
    for cut in range(1, len(stream)):
        parser = SSEParser(max_event_chars=20)
        events = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        assert [(e.id, e.data, e.oversized) for e in events] == [("7", "", True)], cut
