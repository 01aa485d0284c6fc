"""Instructions a model copies into its reply are taken out; nothing else is."""

from __future__ import annotations

from workforce_graph.replies import ECHO_MIN_CHARS, without_echoes

RULES = "Work only on this subtask. Reply with its result and nothing else.\nBe brief."


def test_each_echoed_instruction_sentence_is_removed_and_the_rest_kept() -> None:
    reply = "Paris.\nWork only on this subtask.\n\n\nIt is in France."
    assert without_echoes(reply, [RULES]) == "Paris.\n\nIt is in France."


def test_a_reply_of_echoes_only_is_empty() -> None:
    assert (
        without_echoes(
            " Work only on this subtask. Reply with its result and nothing else. ", [RULES]
        )
        == ""
    )


def test_short_sentences_and_paraphrases_stay() -> None:
    assert len("Be brief.") < ECHO_MIN_CHARS
    reply = "Be brief. Only work on this subtask."
    assert without_echoes(reply, [RULES]) == reply


def test_a_reply_without_echoes_is_only_stripped() -> None:
    assert without_echoes("  42\n", [RULES]) == "42"
    assert without_echoes("42", []) == "42"


def test_an_echo_with_a_word_respelled_is_still_an_echo() -> None:
    rules = "Synthesise one coherent answer; do not list the subtasks."
    reply = "Mars.\nSynthesize one coherent answer; do not list the subtasks."
    assert without_echoes(reply, [rules]) == "Mars."


def test_a_sentence_that_shares_a_phrase_with_the_rules_stays() -> None:
    rules = "You write the final answer to the user's request from the results."
    reply = "Here is the final answer: 42. It comes from the results of two subtasks."
    assert without_echoes(reply, [rules]) == reply
