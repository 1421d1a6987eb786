"""Token-count approximation shared by usageMetadata, countTokens and the TPM quota."""

import math
import re

# Kana, CJK ideographs (incl. extension A and compatibility), Hangul and full-width forms: the
# real tokenizers spend roughly one token per such character.
_WIDE_CHAR = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef]"
)


def approx_tokens(text: str) -> int:
    """About 1 token per 4 latin characters and 1 per CJK character; never less than 1."""
    wide = len(_WIDE_CHAR.findall(text))
    return max(1, wide + math.ceil((len(text) - wide) / 4))
