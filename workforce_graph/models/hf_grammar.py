"""JSON-schema-constrained decoding for ``hf:`` models, on llguidance.

At every step llguidance's matcher gives the tokens that can continue a reply valid
under the schema, and a transformers logits processor masks the others. Under the
planner's positional schema every decodable plan is then a valid DAG, as it is on the
local llama.cpp runtime: a trained planner served by transformers (on a GPU, say) never
spends an attempt on an invalid plan.

Whitespace between JSON tokens is fixed to ``json.dumps``'s own (``", "``, ``": "``): a
small model left free to add whitespace can fill its reply budget with it. Keywords
llguidance does not implement (``uniqueItems``) are left to validation after decoding.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llguidance._lib import JsonCompileOptions

__all__ = ["GRAMMAR_HINT", "SchemaConstraint", "grammar_tokenizer"]

GRAMMAR_HINT = (
    "pip install 'workforce-graph[train]' (it brings llguidance), "
    "or open the model with ?constrained=0 to decode without a schema"
)
_JSON_OPTIONS: JsonCompileOptions = {
    "lenient": True,
    "whitespace_flexible": False,
    "item_separator": ", ",
    "key_separator": ": ",
}


def grammar_tokenizer(tokenizer: Any) -> Any:
    """llguidance's view of a fast Hugging Face tokenizer (about 1 s: cache it).

    Raises:
        ImportError: llguidance is not installed.
        ValueError: The tokenizer is not a fast one (``ChatTransformers`` checks first).
    """
    import llguidance.hf

    return llguidance.hf.from_tokenizer(tokenizer)


class SchemaConstraint:
    """The logits processor that keeps one generation inside a JSON schema.

    Args:
        ll_tokenizer: From :func:`grammar_tokenizer`, for the model's tokenizer.
        schema: The JSON schema the reply must follow.
        prompt_length: Tokens of the prompt: every later token is the model's and is
            fed to the matcher.

    Raises:
        ValueError: llguidance cannot compile the schema.
    """

    def __init__(self, ll_tokenizer: Any, schema: dict[str, Any], prompt_length: int) -> None:
        from llguidance import LLMatcher

        grammar = LLMatcher.grammar_from_json_schema(json.dumps(schema), overrides=_JSON_OPTIONS)
        failed, messages = LLMatcher.validate_grammar_with_warnings(grammar, ll_tokenizer)
        if failed:
            raise ValueError(f"the schema cannot be decoded under a grammar: {messages[0]}")
        self._matcher = LLMatcher(ll_tokenizer, grammar)
        self._prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import numpy as np
        import torch

        matcher = self._matcher
        if input_ids.shape[1] > self._prompt_length:
            matcher.consume_token(int(input_ids[0, -1]))
        if matcher.is_error():
            # Cannot happen for tokens this mask allowed; if it does, validation after
            # decoding still rejects a bad reply, so decode on unconstrained.
            return scores
        bits = np.unpackbits(
            np.frombuffer(matcher.compute_bitmask(), dtype=np.uint8), bitorder="little"
        )
        vocabulary = scores.shape[-1]
        allowed = torch.zeros(vocabulary, dtype=torch.bool)
        known = min(len(bits), vocabulary)
        allowed[:known] = torch.from_numpy(bits[:known].astype(bool))
        return scores.masked_fill(~allowed.to(scores.device), float("-inf"))
