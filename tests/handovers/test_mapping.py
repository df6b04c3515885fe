"""Node settings → MIAW values: attributes, language, transcript splitting, Copilot link."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from handover_miaw.handovers.mapping import (
    conversation_language,
    copilot_url,
    routing_attributes,
    transcript_messages,
)
from handover_miaw.handovers.node_settings import NodeSettings


def test_language_attribute_wins_over_request() -> None:
    settings = {"routingAttributes": {"language": "de_DE", "Brand__c": "acme"}}
    assert conversation_language(NodeSettings.of(settings), "en_US") == "de_DE"
    assert conversation_language(NodeSettings.of({"routingAttributes": {}}), "en_US") == "en_US"
    assert conversation_language(NodeSettings.of({}), None) is None


def test_routing_attributes_drop_language_and_add_copilot() -> None:
    settings = {"routingAttributes": {"language": "de_DE", "Brand__c": "acme"}}
    assert routing_attributes(NodeSettings.of(settings)) == {"Brand__c": "acme"}
    assert routing_attributes(NodeSettings.of(settings), copilot=("copilotUrl", "https://c.example.com/x")) == {
        "Brand__c": "acme",
        "copilotUrl": "https://c.example.com/x",
    }


def test_copilot_url_encodes_values() -> None:
    url = copilot_url(
        "https://c.example.com/ws?u={userId}&s={sessionId}&t={urlToken}",
        user_id="ann&bob",
        session_id="s/1",
        url_token="tok en",
    )
    assert url == "https://c.example.com/ws?u=ann%26bob&s=s%2F1&t=tok%20en"


def test_transcript_one_line_per_turn_oldest_first() -> None:
    transcript = [
        {"source": "bot", "text": "How can I help?", "timestamp": "2026-11-25T10:00:01Z"},
        {"source": "user", "text": "Hi", "timestamp": "2026-11-25T10:00:00Z"},
        {"source": "user", "text": "my  refund\nplease", "timestamp": "2026-11-25T10:00:02Z"},
        {"source": "agent", "text": "", "timestamp": "2026-11-25T10:00:03Z"},
    ]
    assert transcript_messages(transcript) == ["User: Hi\nBot: How can I help?\nUser: my refund please"]


def test_transcript_splits_between_lines_past_the_limit() -> None:
    transcript = [{"source": "user", "text": "a" * 20} for _ in range(3)]
    messages = transcript_messages(transcript, limit=60)
    assert messages == ["User: " + "a" * 20 + "\n" + "User: " + "a" * 20, "User: " + "a" * 20]


def test_long_turn_is_split_between_words() -> None:
    words = [f"word{i:03d}" for i in range(1000)]
    messages = transcript_messages([{"source": "user", "text": " ".join(words)}])
    assert len(messages) > 1
    assert all(len(m) <= 3000 for m in messages)
    rejoined = " ".join(messages).replace("User: ", "", 1).split(" ")
    assert rejoined == words


@given(
    st.lists(
        st.fixed_dictionaries(
            {"source": st.sampled_from(["user", "bot", "agent"]), "text": st.text(alphabet="ab \n", max_size=300)}
        ),
        max_size=30,
    ),
    st.integers(min_value=20, max_value=200),
)
def test_transcript_never_exceeds_the_limit_and_keeps_every_word(turns: list[dict[str, str]], limit: int) -> None:
    messages = transcript_messages(turns, limit=limit)
    assert all(0 < len(m) <= limit for m in messages)
    words_in = [w for t in turns for w in t["text"].split()]
    words_out = [w for m in messages for w in m.split() if w not in ("User:", "Bot:", "Agent:")]
    # Only a word longer than the limit may be cut; these words are short enough never to be.
    assert "".join(words_out) == "".join(words_in)
