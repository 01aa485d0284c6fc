"""Reading attachments for the document worker: partition, chunk, rank.

Importing this package is cheap: unstructured is imported on the first read.
"""

from workforce_graph.default_plugins.documents.rank import (
    BM25,
    select_within_budget,
    split_passages,
    tokenize,
)
from workforce_graph.default_plugins.documents.reader import (
    SUPPORTED_TYPES,
    Chunk,
    DocumentError,
    ParsedDocument,
    clear_cache,
    file_kind,
    load_document,
)

__all__ = [
    "BM25",
    "SUPPORTED_TYPES",
    "Chunk",
    "DocumentError",
    "ParsedDocument",
    "clear_cache",
    "file_kind",
    "load_document",
    "select_within_budget",
    "split_passages",
    "tokenize",
]
