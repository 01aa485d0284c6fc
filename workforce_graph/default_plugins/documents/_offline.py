"""Make ``unstructured`` safe to use offline and quiet, before it is first imported.

unstructured (0.27.x) does three things this project cannot accept by default:

* on import it sends an analytics ping (a blocking HTTP request, up to 10 s when the
  network is down), unless ``SCARF_NO_ANALYTICS``/``DO_NOT_TRACK`` is set;
* it prints a commercial notice on stdout, unless ``UNSTRUCTURED_DISABLE_NOTICE=1``;
* the first partition of a text-like file downloads the spaCy model ``en_core_web_sm``
  from GitHub (it uses POS tags to tell narrative text from titles), which fails
  without network.

:func:`prepare_unstructured` sets the two opt-outs (only when the user has not set
them) and, when ``en_core_web_sm`` is not installed, gives unstructured a blank spaCy
English pipeline with a sentencizer and a small rule-based verb tagger instead. Element
categories are then a little less precise; the text itself is unchanged. Installing the
model (``python -m spacy download en_core_web_sm``) restores unstructured's own
behaviour.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from typing import Any

__all__ = ["prepare_unstructured"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_prepared = False

# Enough common verbs that a one-sentence paragraph ("The code is 7781.") still reads
# as narrative text rather than a title.
_COMMON_VERBS = frozenset(
    """is are was were be been being am has have had do does did will would shall should
    can could may might must go goes went make makes made take takes took get gets got
    give gives gave see sees saw know knows knew use uses used find finds found say says
    said show shows showed grow grows grew rise rises rose fall falls fell include
    includes contain contains need needs want wants let lets meet run runs ran keep
    keeps kept become becomes became remain remains seem seems""".split()  # noqa: SIM905 (a word list reads better as text)
)


def _verb_guess(doc: Any) -> Any:
    for token in doc:
        lower = token.lower_
        if lower in _COMMON_VERBS or (
            len(lower) > 4 and lower.isalpha() and lower.endswith(("ed", "ing"))
        ):
            token.tag_ = "VB"
    return doc


@functools.lru_cache(maxsize=1)
def _blank_english() -> Any:
    import spacy
    from spacy.language import Language

    if "workforce_graph_verb_guess" not in Language.factories:
        Language.component("workforce_graph_verb_guess", func=_verb_guess)
    nlp = spacy.blank("en")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("workforce_graph_verb_guess")
    return nlp


def prepare_unstructured() -> None:
    """Set unstructured up for offline, quiet use; idempotent and thread-safe.

    Call it before the first ``import unstructured`` anywhere in the process.

    Example:
        >>> prepare_unstructured()
        >>> import os; os.environ.get("SCARF_NO_ANALYTICS") is not None
        True
    """
    global _prepared
    with _lock:
        if _prepared:
            return
        os.environ.setdefault("SCARF_NO_ANALYTICS", "true")
        os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
        try:
            import spacy.util

            has_model = spacy.util.is_package("en_core_web_sm")
        except ImportError:  # unstructured not installed: nothing to patch
            _prepared = True
            return
        if not has_model:
            try:
                import unstructured.nlp.tokenize as tokenize_module
            except ImportError:
                _prepared = True
                return
            # A private hook, guarded: if a future unstructured drops it, we only lose
            # the offline fallback, not the worker.
            if hasattr(tokenize_module, "_get_nlp"):
                tokenize_module._get_nlp = _blank_english
                log.debug("spaCy model en_core_web_sm not installed; using a blank pipeline")
        _prepared = True
