"""Deterministic sample customer feedback for the local BigQuery table.

Rows are assembled from per-area phrase pools so that different rows carry different themes, in
Japanese, English or a mix of both, from one sentence to a few paragraphs. A small share of rows
has no usable text (None, empty or whitespace only) because real tables do and the pipeline must
cope with them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import product
from string import Formatter

# Each product area: (English templates, Japanese templates); {slots} are filled per language.
_AREAS: dict[str, tuple[list[str], list[str]]] = {
    "delivery": (
        ["My order arrived {days} days late and nobody told me why.",
         "The courier left the {item} outside in the rain.",
         "Delivery was fast this time, it came the next morning.",
         "Tracking said delivered but the {item} never showed up.",
         "The box was crushed and the {item} inside was scratched."],
        ["注文した{item}が{days}日も遅れて届きました。",
         "配達員が荷物を玄関の外に置いていき、雨で濡れていました。",
         "今回は翌朝に届いて、とても早かったです。",
         "追跡では配達済みになっているのに、{item}が届いていません。",
         "箱がつぶれていて、中の{item}に傷がありました。"],
    ),
    "app_crash": (
        ["The app crashes every time I open the {screen} screen on my {device}.",
         "Since version {version} the app freezes and then closes by itself.",
         "I lost my draft because the app crashed while saving.",
         "It crashes on startup after the last update, reinstalling did not help."],
        ["{device}で{screen}画面を開くと毎回アプリが落ちます。",
         "バージョン{version}にしてから、アプリが固まって勝手に終了します。",
         "保存中にアプリが落ちて、入力した内容が全部消えました。",
         "前回のアップデート以降、起動直後にクラッシュします。再インストールしても直りません。"],
    ),
    "billing": (
        ["I was charged twice for the same order ({amount} yen each time).",
         "The invoice shows a fee I never agreed to.",
         "My subscription renewed even though I cancelled it last month.",
         "The refund of {amount} yen still has not reached my card."],
        ["同じ注文で{amount}円が二重に請求されていました。",
         "請求書に同意した覚えのない手数料が入っています。",
         "先月解約したはずなのに、サブスクリプションが自動更新されていました。",
         "{amount}円の返金がまだカードに反映されていません。"],
    ),
    "support": (
        ["Support took {days} days to answer a simple question.",
         "The agent on the chat was really kind and solved it in minutes.",
         "I was transferred three times and had to explain everything again.",
         "The help center articles are outdated and do not match the app."],
        ["サポートの返信に{days}日もかかりました。",
         "チャットの担当者がとても丁寧で、数分で解決してくれました。",
         "電話で三回もたらい回しにされ、毎回最初から説明しなければなりませんでした。",
         "ヘルプページの説明が古くて、今のアプリと合っていません。"],
    ),
    "pricing": (
        ["The price went up by {amount} yen without any notice.",
         "It is good value compared to other services I have tried.",
         "The premium plan is too expensive for what it offers.",
         "Shipping costs are higher than the {item} itself."],
        ["予告なしに料金が{amount}円も上がりました。",
         "他のサービスと比べてコスパが良いと思います。",
         "プレミアムプランは内容の割に高すぎます。",
         "送料が{item}本体より高いのは納得できません。"],
    ),
    "ui": (
        ["The new design of the {screen} screen is confusing.",
         "I cannot find the button to change my address anymore.",
         "The text is too small to read on my {device}.",
         "Dark mode looks great, thank you for adding it."],
        ["{screen}画面の新しいデザインが分かりにくいです。",
         "住所変更のボタンがどこにあるのか分からなくなりました。",
         "{device}だと文字が小さすぎて読めません。",
         "ダークモードが見やすくて気に入っています。"],
    ),
    "login": (
        ["I cannot log in, it keeps saying my password is wrong.",
         "The verification code SMS never arrives.",
         "I get logged out every few minutes on my {device}.",
         "Two-factor authentication locked me out of my account."],
        ["パスワードは合っているのにログインできません。",
         "認証コードのSMSがいつまで経っても届きません。",
         "{device}で数分ごとにログアウトされてしまいます。",
         "二段階認証のせいでアカウントに入れなくなりました。"],
    ),
    "performance": (
        ["Loading the {screen} screen takes more than {days}0 seconds.",
         "The app drains my {device} battery very quickly.",
         "Search results appear instantly now, much better than before.",
         "Everything is slow in the evening, probably the servers are overloaded."],
        ["{screen}画面の読み込みに{days}0秒以上かかります。",
         "アプリを使うと{device}の電池の減りがとても早いです。",
         "検索結果がすぐ表示されるようになり、前よりずっと快適です。",
         "夜になると全体的に重くなります。サーバーが混んでいるのでしょうか。"],
    ),
    "returns": (
        ["Returning the {item} was easy, the label was printed at the store.",
         "They refused my return because the box was opened.",
         "I sent the {item} back {days} weeks ago and still have no update.",
         "The return policy on the website is different from what support told me."],
        ["{item}の返品はコンビニでラベルを印刷するだけで簡単でした。",
         "箱を開けたという理由で返品を断られました。",
         "{days}週間前に{item}を返送しましたが、まだ何の連絡もありません。",
         "サイトの返品ポリシーとサポートの説明が違います。"],
    ),
    "notifications": (
        ["I get far too many push notifications, even at night.",
         "I turned notifications off but they keep coming.",
         "I never got the notification that my order had shipped."],
        ["夜中にもプッシュ通知が大量に来て困ります。",
         "通知をオフにしたのに、まだ届き続けています。",
         "発送のお知らせが一度も届きませんでした。"],
    ),
    "product_quality": (
        ["The {item} broke after only {days} weeks of normal use.",
         "The quality of the {item} is excellent, better than expected.",
         "The colour of the {item} is completely different from the photos."],
        ["{item}が普通に使って{days}週間で壊れました。",
         "{item}の品質は期待以上で、とても満足しています。",
         "{item}の色が写真と全然違います。"],
    ),
}
_AREA_NAMES = list(_AREAS)
# Topics outside the default mix, written only when asked for (`generate_rows(topics=...)`): rows of a
# new topic arriving in a later run. Their sentences hold no other area's signal words (gemini_sim/topics.py).
_NEW_AREAS: dict[str, tuple[list[str], list[str]]] = {
    "gift_wrapping": (
        ["I asked for gift wrapping but the {item} came in a plain box.",
         "The gift wrap was torn and the ribbon was missing.",
         "Please let me add a gift message card to the order.",
         "The wrapping paper options for birthdays are lovely."],
        ["ギフトラッピングを頼んだのに、{item}が普通の箱に入っていました。",
         "ラッピングが破れていて、リボンも付いていませんでした。",
         "注文にギフトメッセージのカードを付けられるようにしてください。",
         "誕生日向けの包装紙が選べてうれしいです。"],
    ),
}
NEW_TOPICS = tuple(_NEW_AREAS)

# Code-switched sentences as people actually write them (Japanese grammar, English terms).
_MIXED: list[str] = [
    "アプリがcrashして{screen}が開けません。",
    "Customer supportの対応がslowすぎます。",
    "{amount}円のrefundはいつになりますか？ Please check ASAP.",
    "Loginできない問題、まだfixされていません。",
    "DeliveryのtrackingがずっとPendingのままです。",
    "新しいUIはcleanで好きです、but the font is too small.",
]
_SLOTS_EN: dict[str, tuple[str, ...]] = {
    "item": ("headphones", "coffee maker", "jacket", "phone case", "desk lamp", "sneakers"),
    "device": ("iPhone 15", "Pixel 8", "Galaxy S24", "iPad", "Android tablet"),
    "screen": ("checkout", "order history", "settings", "home", "cart", "profile"),
    "version": ("4.2.0", "4.3.1", "5.0.0", "5.0.2"),
    "days": ("2", "3", "5", "7", "10"),
    "amount": ("480", "1,200", "2,980", "5,500", "12,800"),
}
_SLOTS_JA: dict[str, tuple[str, ...]] = {
    **_SLOTS_EN,
    "item": ("ヘッドホン", "コーヒーメーカー", "ジャケット", "スマホケース", "デスクライト", "スニーカー"),
    "screen": ("購入手続き", "注文履歴", "設定", "ホーム", "カート", "プロフィール"),
}
# Area-neutral context sentences: long feedback tells a story around its complaints.
_CONTEXT = (
    ["I ordered on a Sunday evening.", "My whole family uses this service.",
     "This is not the first time it happened.", "I already contacted you about this last month.",
     "A friend recommended the service to me.", "I mostly use it on my way to work."],
    ["日曜日の夜に注文しました。", "家族全員でこのサービスを使っています。", "こういうことは初めてではありません。",
     "先月も同じ件で問い合わせました。", "友人に勧められて使い始めました。", "通勤中によく使っています。"],
)
_OPENERS = (
    ["Hi there.", "Hello support team.", "I have been a customer for years.", "Quick feedback:"],
    ["いつも利用しています。", "お世話になっております。", "ご意見です。", "はじめて投稿します。"],
)
_CLOSERS = (
    ["Please fix this soon.", "Otherwise I am happy with the service.", "Thanks for reading.",
     "I will cancel if this continues."],
    ["早急に対応をお願いします。", "それ以外は満足しています。", "改善を期待しています。",
     "このままなら解約を考えます。"],
)
_BLANKS = ("", " ", "\n", "  \t ", "\u3000")  # \u3000: full-width space, common in Japanese input
_MAX_CHARS = 1500
_MIN_CHARS = 20
_START = datetime(2026, 1, 1)  # naive, read as UTC: ISO text with a Z suffix is built below
_SPAN_SECONDS = 300 * 24 * 3600


_SIDES = {"en": (0,), "ja": (1,), "mixed": (0, 1)}
# A template with, for each of its slots, the candidate values in the template's language.
_Template = tuple[str, tuple[tuple[str, tuple[str, ...]], ...]]


def _with_slots(templates: list[str], side: int) -> list[_Template]:
    slots = _SLOTS_JA if side else _SLOTS_EN
    return [(t, tuple((k, slots[k]) for _, k, _, _ in Formatter().parse(t) if k)) for t in templates]


# Precomputed per (language, area) so that building a row's sentence pool is a few list joins.
_BY_AREA: dict[tuple[str, str], list[_Template]] = {
    (lang, area): [t for side in sides for t in _with_slots(templates[side], side)]
    for lang, sides in _SIDES.items()
    for area, templates in {**_AREAS, **_NEW_AREAS}.items()
}
_CONTEXT_BY_LANG: dict[str, list[_Template]] = {
    lang: [t for side in sides for t in _with_slots(_CONTEXT[side], side)] for lang, sides in _SIDES.items()
}
# English terms inside Japanese sentences, the way people actually type.
_CODE_SWITCHED: list[_Template] = _with_slots(_MIXED, 0)


def _fill(template: str, fields: tuple[tuple[str, tuple[str, ...]], ...], rng: random.Random) -> str:
    return template.format(**{k: rng.choice(v) for k, v in fields}) if fields else template


def _text(lang: str, rng: random.Random, names: list[str]) -> str:
    shape = rng.random()
    if shape < 0.35:  # one sentence
        areas, paragraphs, per_paragraph = rng.sample(names, 1), 1, (1, 1)
    elif shape < 0.8:  # one paragraph
        areas, paragraphs, per_paragraph = rng.sample(names, min(rng.randint(1, 2), len(names))), 1, (2, 5)
    else:  # a few paragraphs touching several areas
        areas = rng.sample(names, min(rng.randint(3, 5), len(names)))
        paragraphs, per_paragraph = rng.randint(2, 4), (3, 6)
    pool = [t for area in areas for t in _BY_AREA[lang, area]]
    if lang == "mixed" and names is _AREA_NAMES:  # the code-switched sentences are about the default areas
        pool += _CODE_SWITCHED
    if paragraphs > 1:  # context sentences only in long messages, so short ones stay on topic
        pool += _CONTEXT_BY_LANG[lang]
    # Sampling without replacement: nobody repeats the same sentence within one message.
    picked = rng.sample(pool, min(len(pool), sum(rng.randint(*per_paragraph) for _ in range(paragraphs))))
    sentences = [_fill(t, fields, rng) for t, fields in picked]
    side = 1 if lang == "ja" or (lang == "mixed" and rng.random() < 0.5) else 0
    joiner = "" if lang == "ja" else " "
    size = -(-len(sentences) // paragraphs)
    text = "\n\n".join(joiner.join(sentences[i : i + size]) for i in range(0, len(sentences), size))
    if paragraphs > 1 or rng.random() < 0.3:
        text = f"{rng.choice(_OPENERS[side])}{joiner}{text}{joiner}{rng.choice(_CLOSERS[side])}"
    if len(text) < _MIN_CHARS:
        text += joiner + rng.choice(_CLOSERS[side])
    if len(text) > _MAX_CHARS:
        # Cut at the last sentence end before the limit so the text still reads naturally.
        cut = max(text.rfind(mark, 0, _MAX_CHARS) for mark in ("。", ".", "！", "？"))
        text = text[: cut + 1] if cut > 0 else text[:_MAX_CHARS]
    return text


def generate_rows(n: int, seed: int = 0, topics: tuple[str, ...] | None = None, first_id: int = 1) -> Iterator[dict]:
    """Yield `n` feedback rows; the same arguments always give the same rows.

    topics: write only about these areas (e.g. NEW_TOPICS, for rows of a topic a later run adds);
    None: the default mix. first_id: the number of the first row's id, so added rows get new ids."""
    unknown = set(topics or ()) - set(_AREAS) - set(_NEW_AREAS)
    if unknown or topics == ():
        raise ValueError(f"topics must name some of {[*_AREAS, *_NEW_AREAS]}; unknown: {sorted(unknown)}")
    names = _AREA_NAMES if topics is None else list(topics)
    rng = random.Random(seed)
    last = first_id + n - 1
    width = max(6, len(str(last)))  # fixed width keeps string order equal to numeric order
    for i in range(first_id, last + 1):
        lang_pick = rng.random()
        lang = "ja" if lang_pick < 0.40 else "en" if lang_pick < 0.85 else "mixed"
        text_pick = rng.random()
        text: str | None
        if text_pick < 0.005:
            text = None
        elif text_pick < 0.01:
            text = rng.choice(_BLANKS)
        else:
            text = _text(lang, rng, names)
        created = _START + timedelta(seconds=rng.randrange(_SPAN_SECONDS))
        yield {
            "id": f"fb-{i:0{width}d}",
            "text": text,
            "lang": lang,
            "created_at": created.isoformat() + "Z",
        }


def _fillings(template: str, fields: tuple[tuple[str, tuple[str, ...]], ...]) -> Iterator[str]:
    for values in product(*(v for _, v in fields)):
        yield template.format(**dict(zip((k for k, _ in fields), values)))


def topic_sentences() -> Iterator[tuple[str, str]]:
    """(pool, sentence) for every sentence the generator can write, each slot filled every way, and
    (f"slot:{name}", value) for every slot value: the simulator learns from them which topic a
    phrase comes from (gemini_sim/vectors.py). Pools: an area (default or new), "mixed"
    (code-switched sentences), "context", "opener", "closer"."""
    for area, sides in {**_AREAS, **_NEW_AREAS}.items():
        for side, templates in enumerate(sides):
            for template, fields in _with_slots(templates, side):
                yield from ((area, sentence) for sentence in _fillings(template, fields))
    pools = {"mixed": ([], _MIXED), "context": _CONTEXT, "opener": _OPENERS, "closer": _CLOSERS}
    for pool, sides in pools.items():
        for side, templates in enumerate(sides):
            for template, fields in _with_slots(templates, side):
                yield from ((pool, sentence) for sentence in _fillings(template, fields))
    for slots in (_SLOTS_EN, _SLOTS_JA):
        for name, values in slots.items():
            yield from ((f"slot:{name}", value) for value in values)
