"""Topic labels for the simulator's themes: what a model adds beside the phrases it lifts from a
text ("delivery experience" for a late parcel), and what it falls back to for a text too short to
lift six phrases from. The areas are those of the sample feedback (local_stack/sample_data.py),
each found by words that signal it, labelled in the text's language.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from typing import NamedTuple

# area: (English signal words as regex, Japanese signal substrings, English labels, Japanese labels)
_AREAS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, str], tuple[str, str]]] = {
    "delivery": ((r"deliver\w*", "courier", "tracking", "arrived", "parcels?", "packages?", "shipped"),
                 ("配達", "配送", "荷物", "追跡", "発送", "遅れて届"),
                 ("delivery experience", "shipping speed"), ("配送サービス", "配達スピード")),
    "app_crash": ((r"crash\w*", "freezes", "startup", r"reinstall\w*"),
                  ("落ち", "クラッシュ", "固まっ", "勝手に終了", "再インストール"),
                  ("app crashes", "app stability"), ("アプリのクラッシュ", "アプリの安定性")),
    "billing": (("charged", "invoices?", "fees?", "subscriptions?", "renewed", "refunds?", "billing"),
                ("請求", "手数料", "返金", "サブスク", "自動更新"),
                ("billing errors", "payments and refunds"), ("請求の誤り", "支払いと返金")),
    "support": (("support", "agents?", "chat", "help center", "transferred"),
                ("サポート", "担当者", "問い合わせ", "ヘルプ", "たらい回し"),
                ("customer support", "support response time"), ("カスタマーサポート", "問い合わせ対応")),
    "pricing": (("prices?", "pricing", "expensive", "value", "premium", "shipping costs?", "cheap"),
                ("料金", "値上", "コスパ", "プラン", "送料"),
                ("pricing concerns", "value for money"), ("料金設定", "コストパフォーマンス")),
    "ui": (("design", "button", "font", "dark mode", "too small", "confusing"),
           ("デザイン", "ボタン", "文字", "ダークモード", "分かりにく", "UI"),
           ("app design", "ease of use"), ("画面デザイン", "使いやすさ")),
    "login": (("log in", "login", "logged out", "password", "verification", "two-factor", "account"),
              ("ログイン", "ログアウト", "パスワード", "認証", "アカウント"),
              ("login problems", "account access"), ("ログインの問題", "アカウントへのアクセス")),
    "performance": (("slow", "loading", "battery", "overloaded", "instantly", "search results"),
                    ("読み込み", "電池", "重く", "快適"),
                    ("app performance", "loading speed"), ("アプリの動作速度", "読み込み時間")),
    "returns": ((r"return\w*", r"sent the \w+(?: \w+)? back"),
                ("返品", "返送"),
                ("returns process", "return policy"), ("返品手続き", "返品ポリシー")),
    "notifications": ((r"notifications?",),
                      ("通知", "お知らせ"),
                      ("push notifications", "notification settings"), ("プッシュ通知", "通知設定")),
    "product_quality": (("broke", "quality", "colou?r", "photos", "scratched"),
                        ("壊れ", "品質", "色が", "写真", "傷"),
                        ("product quality", "product as described"), ("商品の品質", "商品説明との違い")),
    # Not in the default sample: rows of it come only from generate_rows(topics=NEW_TOPICS).
    "gift_wrapping": ((r"gift\w*", r"wrap\w*", "ribbon"),
                      ("ギフト", "ラッピング", "包装", "リボン"),
                      ("gift wrapping", "gift options"), ("ギフトラッピング", "ギフトオプション")),
}
# What a labeller says about feedback it cannot pin down further.
_GENERIC = {
    "en": ("customer feedback", "user experience", "service quality", "customer satisfaction",
           "product feedback", "improvement requests"),
    "ja": ("お客様の声", "利用体験", "サービス品質", "顧客満足度", "製品へのご意見", "改善要望"),
}
# Labels that fit any feedback and say nothing about this one: the simulated model never gives them
# unless told to (quality.py's "generic" fault), and the simulated judge calls them generic.
VAGUE = {
    "en": ("feedback", "general comment", "other", "miscellaneous", "various issues", "overall opinion"),
    "ja": ("その他", "ご意見", "全般", "感想", "いろいろ", "一般的な意見"),
}
VAGUE_FOLDED = frozenset(label.casefold() for labels in VAGUE.values() for label in labels)
# One pattern for both languages: an English sentence inside Japanese feedback still names a topic.
# Word edges by letters, not \b: in "アプリがcrashして" kana count as word characters.
_SIGNALS = re.compile("|".join(
    rf"(?P<{area}>(?i:(?<![a-z])(?:{'|'.join(en)})(?![a-z]))|{'|'.join(map(re.escape, ja))})"
    for area, (en, ja, _, _) in _AREAS.items()))
_JAPANESE_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_LETTER = re.compile(r"[A-Za-z]")


class SentenceTopics(NamedTuple):
    areas: tuple[str, ...]  # in order of first mention
    japanese_chars: int
    latin_letters: int


@lru_cache(maxsize=65536)  # per sentence, like the phrases: feedback repeats sentences a lot
def sentence_topics(sentence: str) -> SentenceTopics:
    areas = tuple(dict.fromkeys(m.lastgroup for m in _SIGNALS.finditer(sentence)))
    return SentenceTopics(areas, len(_JAPANESE_CHAR.findall(sentence)), len(_LATIN_LETTER.findall(sentence)))


def language(japanese_chars: int, latin_letters: int) -> str:
    """"ja" when Japanese carries the text (a kana or kanji says about as much as 3 letters)."""
    return "ja" if japanese_chars and 3 * japanese_chars >= latin_letters else "en"


def topic_labels(areas: list[str], lang: str) -> list[str]:
    """Labels of the areas a text touches: each area's main label first, then the second ones."""
    side = 2 if lang == "en" else 3
    return [_AREAS[a][side][0] for a in areas] + [_AREAS[a][side][1] for a in areas]


def area_labels(area: str) -> dict[str, tuple[str, str]]:
    """An area's two labels per language: {"en": (main, second), "ja": (...)}."""
    _, _, en, ja = _AREAS[area]
    return {"en": en, "ja": ja}


def label_topics() -> dict[str, str]:
    """Every label the simulated model may give (casefolded) -> its area, "generic" for the generic ones."""
    table = {label.casefold(): "generic" for labels in _GENERIC.values() for label in labels}
    for area, (_, _, en, ja) in _AREAS.items():
        table.update((label.casefold(), area) for label in (*en, *ja))
    return table


def generic_labels(text: str, lang: str) -> list[str]:
    """The generic labels, rotated by a digest of the text so short texts do not all look alike."""
    labels = _GENERIC[lang]
    start = hashlib.sha256(text.encode()).digest()[0] % len(labels)
    return list(labels[start:] + labels[:start])
