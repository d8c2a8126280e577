"""Deterministic generator of the fictional sample source bundle in ``data/sample/``.

Run ``python -m data.generate_sample [--out DIR]``. Every organisation and person in the output is
invented; organisation names start with （サンプル）, personal data uses ``@example.jp`` and
``090-0000-xxxx``. Event figures follow the four cities' 2024 report.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import math
import random
import re
import unicodedata
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter

from common.calendar import wareki, wareki_short
from etl import sources
from warehouse import kml

SEED = 20250331
# Fixed stamps instead of "now": the xlsx and kmz bytes must not change between runs.
FIXED_DATETIME = dt.datetime(2025, 3, 31, 9, 0, 0)
ZIP_DATE_TIME = (2025, 3, 31, 9, 0, 0)
REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "warehouse" / "seeds"
DEFAULT_OUT = Path(__file__).resolve().parent / "sample"

SAMPLE_PREFIX = "（サンプル）"
CITIES = ("大和市", "海老名市", "座間市", "綾瀬市")
# The sheets, headers and sheet names the ETL reads (etl/sources), written as the ETL expects them.
SHEETS = tuple(sources.distribution.SHEETS)
OWN_LIST = "自主調査"
ORG_COUNT = {"大和市": 52, "海老名市": 38, "座間市": 37, "綾瀬市": 30}
ANSWER_COUNT = {"大和市": 19, "海老名市": 16, "座間市": 16, "綾瀬市": 12}
NO_ADDRESS_VOLUNTARY = 4
NO_ADDRESS_OWN_LIST_ONLY = 3
CITY_CENTRES = {
    "大和市": (35.4873, 139.4580),
    "海老名市": (35.4466, 139.3908),
    "座間市": (35.4886, 139.4077),
    "綾瀬市": (35.4372, 139.4267),
}
NEIGHBOURS = {
    "大和市": ("座間市", "綾瀬市"),
    "海老名市": ("座間市", "綾瀬市"),
    "座間市": ("大和市", "海老名市", "綾瀬市"),
    "綾瀬市": ("大和市", "海老名市", "座間市"),
}
OUTSIDE = "4市以外"
# Real town names with their highest 丁目; 0 = a 大字 addressed by lot number only.
TOWNS = {
    "座間市": (("相模が丘", 6), ("緑ケ丘", 6), ("入谷西", 5), ("栗原中央", 6), ("ひばりが丘", 5), ("相武台", 4)),
    "綾瀬市": (("深谷中", 9), ("寺尾本町", 3), ("大上", 9), ("早川", 0), ("落合北", 7), ("小園", 0)),
    "大和市": (("中央", 7), ("鶴間", 2), ("南林間", 9), ("上草柳", 9), ("下鶴間", 2), ("福田", 8), ("桜森", 3)),
    "海老名市": (("中央", 3), ("扇町", 0), ("国分南", 4), ("上今泉", 6), ("大谷北", 4), ("さつき町", 0)),
}
CITY_DEPARTMENTS = {
    "座間市": "座間市地域福祉課",
    "綾瀬市": "綾瀬市福祉総務課",
    "大和市": "大和市健康福祉総務課",
    "海老名市": "海老名市生活支援課",
}
POPULATIONS = (
    ("14213", "大和市", 244000),
    ("14215", "海老名市", 137000),
    ("14216", "座間市", 131000),
    ("14218", "綾瀬市", 84000),
)
POPULATION_DATE = "2024-01-01"

CONTENT_GROUPS = {
    "家庭": ("ひとり親", "子育て", "虐待", "DV", "ひきこもり", "身寄りがない人", "ヤングケアラー"),
    "こども・若者": ("不登校", "学習支援", "こども食堂", "若者支援"),
    "高齢者": ("介護", "認知症", "見守り"),
    "障害": ("障害者支援", "精神保健"),
    "生活困窮": ("生活困窮", "住まい", "食料支援"),
    "地域・多文化": ("外国人支援", "地域づくり", "文化・芸術"),
    "健康・いのち": ("自殺対策", "依存症"),
}
GROUP_OF = {cat: group for group, cats in CONTENT_GROUPS.items() for cat in cats}
CONTENT_ORDER = [cat for cats in CONTENT_GROUPS.values() for cat in cats]
# Organisations per content group and per support form among the 63 answers: the report says
# 家庭 is the most common group and forms rank 就労支援 > 生活サポート > 居場所づくり > the rest.
GROUP_TARGETS = {
    "家庭": 33,
    "こども・若者": 27,
    "生活困窮": 20,
    "高齢者": 17,
    "地域・多文化": 16,
    "障害": 15,
    "健康・いのち": 9,
}
FORM_ORDER = (
    "アウトリーチ",
    "相談窓口",
    "居場所づくり",
    "就労支援",
    "ボランティア・役割のある場",
    "自然や人と接する機会",
    "安全に時間を過ごせる場所",
    "生活サポート",
    "情報提供・啓発",
    "その他",
)
FORM_TARGETS = {
    "就労支援": 27,
    "生活サポート": 23,
    "居場所づくり": 20,
    "相談窓口": 16,
    "ボランティア・役割のある場": 12,
    "アウトリーチ": 10,
    "情報提供・啓発": 8,
    "安全に時間を過ごせる場所": 8,
    "自然や人と接する機会": 7,
    "その他": 2,
}
TARGET_ORDER = ("こども", "若者", "子育て世帯", "高齢者", "障害のある人", "外国籍の人", "生活困窮者", "誰でも")
INTENT_COUNTS = (("参加したい", 20), ("関心がある", 25), ("今は考えていない", 18))
# Seed aliases written into a few survey cells so the ETL's label mapping is exercised.
ALIAS_USES = {
    "content": (("ひきこもり", "引きこもり", 3), ("こども食堂", "子ども食堂", 3)),
    "form": (("居場所づくり", "居場所", 2),),
    "target": (("こども", "子ども", 3), ("障害のある人", "障がいのある人", 2)),
}

CHANNELS = (("メール", 0.60), ("郵送", 0.20), ("手渡し", 0.12), ("FAX", 0.08))
DISTRIBUTION_START = dt.date(2024, 12, 2)
DISTRIBUTION_END = dt.date(2025, 1, 10)
ANSWER_START = dt.date(2024, 12, 10)
ANSWER_END = dt.date(2025, 1, 31)
VERIFIED_END = dt.date(2025, 3, 15)
# 2024-10-01 is 181 days before 2025-03-31: the only date in the brief's range that is stale.
VERIFIED_STALE = dt.date(2024, 10, 1)
VERIFIED_FRESH_START = dt.date(2024, 10, 3)
STALE_SHARE = 0.1

WORDS = (
    "さくら",
    "ひまわり",
    "あおぞら",
    "みどり",
    "こもれび",
    "ひだまり",
    "にじいろ",
    "そよかぜ",
    "たんぽぽ",
    "つばさ",
    "わかば",
    "かがやき",
    "ぬくもり",
    "えがお",
    "はばたき",
    "きずな",
    "なごみ",
    "のぞみ",
    "あかり",
    "すずらん",
    "もみじ",
    "むすび",
    "よりそい",
    "やまびこ",
    "せせらぎ",
    "つむぎ",
    "はぐくみ",
    "ふたば",
    "いずみ",
    "あさひ",
    "ほたる",
    "こすもす",
    "すみれ",
    "かえで",
    "つくし",
    "どんぐり",
    "ゆりかご",
    "みらい",
    "おひさま",
    "はなみずき",
    "あじさい",
    "やまぶき",
    "なでしこ",
    "しらさぎ",
    "かもめ",
    "つばめ",
    "めだか",
    "ほしぞら",
    "ゆうやけ",
    "あけぼの",
    "みのり",
    "いろどり",
    "まどか",
    "ひかり",
    "はるかぜ",
    "あゆみ",
    "ともしび",
    "てのひら",
    "陽だまり",
    "青葉",
    "若竹",
    "緑風",
    "白梅",
    "木漏れ日",
    "虹の橋",
    "ふれんず",
    "らいむ",
    "ぽけっと",
    "まんまる",
    "ことり",
    "ぱれっと",
    "くすのき",
)
LATIN_WORDS = ("Link", "ONE", "Base", "Step", "Next")
FAMILY_NAMES = (
    ("見本", "mihon"),
    ("試験", "shiken"),
    ("仮野", "karino"),
    ("例田", "reida"),
    ("架空", "kakuu"),
    ("模擬", "mogi"),
    ("標本", "hyohon"),
    ("検証", "kensho"),
)
GIVEN_NAMES = (
    ("太郎", "taro"),
    ("花子", "hanako"),
    ("一郎", "ichiro"),
    ("陽子", "yoko"),
    ("健太", "kenta"),
    ("美咲", "misaki"),
    ("翔", "sho"),
    ("由美", "yumi"),
    ("大輔", "daisuke"),
    ("恵", "megumi"),
    ("直樹", "naoki"),
    ("彩", "aya"),
)
# Legal-form words the matching key drops (the formal ones; the seed's aliases are checked too).
CORE_LEGAL_WORDS = (
    "認定特定非営利活動法人",
    "特定非営利活動法人",
    "認定npo法人",
    "npo法人",
    "社会福祉法人",
    "(福)",
    "一般社団法人",
    "(一社)",
    "公益財団法人",
    "一般財団法人",
    "株式会社",
    "(株)",
    "合同会社",
    "有限会社",
    "医療法人",
    "労働者協同組合",
    "生活協同組合",
)

HOURS_KODOMO = ("毎月第2土曜 11:00-14:00", "毎週金曜 17:00-19:30", "毎月第1・第3水曜 16:30-19:00")
HOURS_WORK = ("平日 9:00-17:00", "月～金 9:30-16:00", "平日 10:00-16:00")
HOURS_OFFICE = ("平日 8:30-17:15", "平日 9:00-17:00", "月～土 9:00-17:00")
HOURS_SALON = ("毎週水曜 10:00-15:00", "毎週火・木曜 13:00-17:00", "毎月第3日曜 13:30-16:00")


@dataclass(frozen=True)
class Archetype:
    """A kind of organisation: how it is named and what it typically does."""

    key: str
    legal: str
    legal_cell: str
    templates: tuple[str, ...]
    contents: tuple[str, ...]
    forms: tuple[str, ...]
    targets: tuple[str, ...]
    hours: tuple[str, ...]
    count: int


ARCHETYPES = (
    Archetype(
        "kodomo_vol",
        "任意団体",
        "任意団体",
        ("{w}こども食堂", "こども食堂{w}", "{w}こども食堂・学習室"),
        ("こども食堂", "子育て", "食料支援", "ひとり親"),
        ("居場所づくり", "生活サポート", "ボランティア・役割のある場"),
        ("こども", "子育て世帯", "誰でも"),
        HOURS_KODOMO,
        12,
    ),
    Archetype(
        "kodomo_npo",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}こども食堂", "NPO法人 {w}子どもの居場所"),
        ("こども食堂", "学習支援", "ひとり親", "食料支援"),
        ("居場所づくり", "生活サポート", "安全に時間を過ごせる場所"),
        ("こども", "子育て世帯"),
        HOURS_KODOMO,
        6,
    ),
    Archetype(
        "houkatsu",
        "公的機関",
        "公的機関",
        ("{t}地域包括支援センター",),
        ("見守り", "介護", "認知症", "身寄りがない人"),
        ("相談窓口", "アウトリーチ", "情報提供・啓発"),
        ("高齢者",),
        ("平日 8:30-17:15",),
        11,
    ),
    Archetype(
        "public_other",
        "公的機関",
        "公的機関",
        ("{t}ふれあい交流センター", "{w}青少年相談室"),
        ("若者支援", "地域づくり", "不登校"),
        ("相談窓口", "情報提供・啓発", "居場所づくり"),
        ("若者", "こども", "誰でも"),
        ("平日 9:00-17:00", "火～日 9:00-21:00"),
        3,
    ),
    Archetype(
        "shuro_npo",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}ワークス", "NPO法人 就労支援センター{w}", "NPO法人 {w}・はたらく応援団"),
        ("若者支援", "ひきこもり", "障害者支援", "生活困窮"),
        ("就労支援", "相談窓口", "居場所づくり", "アウトリーチ"),
        ("若者", "障害のある人", "生活困窮者"),
        HOURS_WORK,
        12,
    ),
    Archetype(
        "shuro_company",
        "民間企業",
        "民間企業",
        ("株式会社{w}キャリアサポート", "株式会社{w}ファーム", "合同会社{w}ワークス"),
        ("障害者支援", "若者支援", "ひきこもり"),
        ("就労支援", "ボランティア・役割のある場", "自然や人と接する機会"),
        ("障害のある人", "若者"),
        HOURS_WORK,
        8,
    ),
    Archetype(
        "care_company",
        "民間企業",
        "民間企業",
        ("株式会社{w}ケアサービス", "株式会社{w}ライフサポート"),
        ("介護", "見守り", "身寄りがない人"),
        ("生活サポート", "アウトリーチ"),
        ("高齢者", "障害のある人"),
        ("平日 8:30-17:30", "毎日 8:00-18:00"),
        5,
    ),
    Archetype(
        "shafuku",
        "社会福祉法人",
        "社会福祉法人",
        ("社会福祉法人 {w}会", "社会福祉法人 {w}福祉会"),
        ("障害者支援", "介護", "生活困窮", "精神保健"),
        ("生活サポート", "就労支援", "相談窓口"),
        ("障害のある人", "高齢者", "生活困窮者"),
        HOURS_OFFICE,
        22,
    ),
    Archetype(
        "hikikomori_family",
        "任意団体",
        "任意団体",
        ("ひきこもり家族会 {w}の会", "{w}の会"),
        ("ひきこもり", "精神保健"),
        ("居場所づくり", "相談窓口"),
        ("若者", "子育て世帯"),
        ("毎月第3日曜 13:30-16:00", "毎月第1土曜 14:00-16:00"),
        7,
    ),
    Archetype(
        "hitorioya",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}ひとり親サポート",),
        ("ひとり親", "子育て", "生活困窮", "食料支援"),
        ("生活サポート", "相談窓口", "就労支援"),
        ("子育て世帯", "こども"),
        ("平日 10:00-16:00", "毎週土曜 10:00-15:00"),
        5,
    ),
    Archetype(
        "kosodate_vol",
        "任意団体",
        "任意団体",
        ("子育てサロン{w}", "子育てひろば・{w}"),
        ("子育て", "ひとり親"),
        ("居場所づくり", "自然や人と接する機会"),
        ("子育て世帯", "こども"),
        HOURS_SALON,
        5,
    ),
    Archetype(
        "kosodate_npo",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}子育てネット",),
        ("子育て", "虐待", "ひとり親"),
        ("居場所づくり", "相談窓口", "生活サポート"),
        ("子育て世帯", "こども"),
        HOURS_SALON,
        4,
    ),
    Archetype(
        "foodbank",
        "NPO法人",
        "NPO法人",
        ("NPO法人 フードバンク{w}", "NPO法人 {w}フードパントリー"),
        ("食料支援", "生活困窮", "ひとり親"),
        ("生活サポート", "ボランティア・役割のある場"),
        ("生活困窮者", "子育て世帯", "誰でも"),
        ("毎月第2・第4土曜 10:00-12:00", "平日 10:00-16:00"),
        3,
    ),
    Archetype(
        "coop_life",
        "協同組合",
        "協同組合",
        ("{w}生活協同組合",),
        ("食料支援", "見守り", "地域づくり"),
        ("生活サポート", "ボランティア・役割のある場"),
        ("誰でも", "高齢者"),
        ("平日 9:00-18:00",),
        2,
    ),
    Archetype(
        "coop_work",
        "協同組合",
        "労働者協同組合",
        ("労働者協同組合 {w}ワーカーズ",),
        ("若者支援", "生活困窮", "地域づくり"),
        ("就労支援", "ボランティア・役割のある場"),
        ("若者", "生活困窮者"),
        HOURS_WORK,
        3,
    ),
    Archetype(
        "kokusai",
        "財団法人",
        "公益財団法人",
        ("公益財団法人 {w}国際交流協会",),
        ("外国人支援", "学習支援", "地域づくり"),
        ("情報提供・啓発", "相談窓口", "居場所づくり"),
        ("外国籍の人", "こども"),
        ("火～日 9:00-17:00",),
        3,
    ),
    Archetype(
        "bunka",
        "財団法人",
        "一般財団法人",
        ("一般財団法人 {w}文化振興財団",),
        ("文化・芸術", "地域づくり"),
        ("ボランティア・役割のある場", "自然や人と接する機会", "情報提供・啓発"),
        ("誰でも",),
        ("火～日 9:00-21:00",),
        2,
    ),
    Archetype(
        "clinic",
        "医療法人",
        "医療法人",
        ("医療法人 {w}会", "医療法人 {w}メンタルクリニック"),
        ("精神保健", "依存症", "認知症"),
        ("相談窓口", "アウトリーチ", "就労支援"),
        ("障害のある人", "若者", "高齢者"),
        ("月～土 9:00-18:00", "平日 9:00-17:00"),
        7,
    ),
    Archetype(
        "gakushu",
        "一般社団法人",
        "一般社団法人",
        ("一般社団法人 {w}学習サポート", "一般社団法人 {w}まなびば"),
        ("学習支援", "不登校", "ひとり親"),
        ("居場所づくり", "安全に時間を過ごせる場所", "ボランティア・役割のある場"),
        ("こども", "若者"),
        ("毎週火・金曜 16:00-19:00", "毎週土曜 13:00-17:00"),
        6,
    ),
    Archetype(
        "youngcarer",
        "一般社団法人",
        "一般社団法人",
        ("一般社団法人 {w}ケアラーズネット",),
        ("ヤングケアラー", "若者支援"),
        ("相談窓口", "居場所づくり"),
        ("こども", "若者"),
        ("毎月第4日曜 13:00-16:00",),
        3,
    ),
    Archetype(
        "ibasho_npo",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}居場所ネット", "NPO法人 居場所カフェ・{w}"),
        ("ひきこもり", "身寄りがない人", "精神保健"),
        ("居場所づくり", "安全に時間を過ごせる場所", "ボランティア・役割のある場"),
        ("誰でも", "若者", "高齢者"),
        HOURS_SALON,
        5,
    ),
    Archetype(
        "ibasho_sha",
        "一般社団法人",
        "一般社団法人",
        ("一般社団法人 {w}・ほっとスペース",),
        ("身寄りがない人", "ひきこもり", "地域づくり"),
        ("居場所づくり", "安全に時間を過ごせる場所"),
        ("誰でも",),
        HOURS_SALON,
        2,
    ),
    Archetype(
        "inochi",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}いのちの相談室",),
        ("自殺対策", "精神保健"),
        ("相談窓口", "情報提供・啓発"),
        ("誰でも", "若者"),
        ("毎日 18:00-22:00",),
        3,
    ),
    Archetype(
        "dv",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}女性サポートネット",),
        ("DV", "虐待", "ひとり親"),
        ("相談窓口", "生活サポート", "アウトリーチ"),
        ("子育て世帯", "誰でも"),
        ("平日 10:00-17:00",),
        3,
    ),
    Archetype(
        "kyoju",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}住まいサポート",),
        ("住まい", "生活困窮", "身寄りがない人"),
        ("生活サポート", "相談窓口"),
        ("生活困窮者", "高齢者"),
        ("平日 9:00-17:00",),
        3,
    ),
    Archetype(
        "izonsho",
        "任意団体",
        "任意団体",
        ("{w}回復の会",),
        ("依存症", "精神保健"),
        ("居場所づくり", "相談窓口"),
        ("誰でも",),
        ("毎週月曜 19:00-21:00",),
        2,
    ),
    Archetype(
        "mimamori",
        "任意団体",
        "任意団体",
        ("{t}見守りボランティア", "{t}ふれあいサロン"),
        ("見守り", "地域づくり", "身寄りがない人"),
        ("ボランティア・役割のある場", "居場所づくり"),
        ("高齢者", "誰でも"),
        HOURS_SALON,
        5,
    ),
    Archetype(
        "nature",
        "NPO法人",
        "NPO法人",
        ("NPO法人 {w}里山クラブ", "NPO法人 {w}農園・里山クラブ"),
        ("地域づくり", "若者支援", "ひきこもり"),
        ("自然や人と接する機会", "ボランティア・役割のある場", "就労支援"),
        ("誰でも", "若者"),
        ("毎週日曜 9:00-12:00",),
        3,
    ),
    Archetype(
        "youth",
        "一般社団法人",
        "一般社団法人",
        ("一般社団法人 ユース{l}",),
        ("若者支援", "不登校", "ヤングケアラー"),
        ("居場所づくり", "就労支援", "相談窓口"),
        ("若者",),
        ("毎週水・土曜 13:00-18:00",),
        2,
    ),
)

# How the 14 duplicate rows are spelled on their second list, and what they write as 法人格.
DUPLICATE_VARIANTS = (
    "npo_long",
    "npo_long",
    "npo_long",
    "fuku",
    "fuku",
    "kabu",
    "kabu",
    "width",
    "width",
    "nospace",
    "nospace",
    "widespace",
    "dot",
    "dot",
)
SURVEY_VARIANTS = (("none", 0.65), ("nospace", 0.15), ("widespace", 0.1), ("width", 0.1))

LANGUAGE_SETS = (
    (("日本語",), 0.62),
    (("日本語", "やさしい日本語"), 0.14),
    (("日本語", "英語"), 0.12),
    (("日本語", "英語", "ベトナム語"), 0.06),
    (("日本語", "ポルトガル語"), 0.06),
)
ACCESSIBILITY_SETS = (
    (("車いす対応",), 0.2),
    (("車いす対応", "多目的トイレ"), 0.25),
    (("筆談対応",), 0.1),
    (("車いす対応", "筆談対応"), 0.15),
    (("なし",), 0.3),
)
REFERRAL_TEXTS = (
    "近隣で活動するこども食堂を紹介できます。",
    "同じ地区の見守りボランティアとつながりがあります。",
    "特になし",
    "市外で活動するフードバンクと連携しています。",
    "地域包括支援センターとは日頃から情報交換しています。",
    "就労支援に取り組む団体を紹介できます。",
    "不登校の子の居場所を運営している団体を知っています。",
    "",
)
IDEA_TEXTS = (
    "市域を超えて居場所の情報を共有できる仕組みがあるとよい。",
    "気軽に立ち寄れる場を地域に増やしたい。",
    "支援者同士が顔を合わせる機会を定期的に設けてほしい。",
    "若者が役割を持てる活動の場をつくりたい。",
    "アートや音楽など、福祉以外の入口を増やすことが大切だと思う。",
    "情報が届きにくい人に向けて、紙とWebの両方で発信するとよい。",
    "多言語での案内があると外国籍の方もつながりやすい。",
    "ひきこもりの家族向けに相談先の一覧があるとよい。",
    "",
)
DISTRIBUTION_NOTES = (
    "",
    "",
    "",
    "",
    "",
    "市の既存リストより",
    "返信用封筒を同封",
    "窓口で手渡し",
    "前年度の勉強会参加団体",
    "回答期限を電話で案内",
    "代表アドレス宛て",
)

DISTRIBUTION_HEADER = tuple(sources.distribution.COLUMNS)
SURVEY_HEADER = tuple(sources.survey.COLUMNS)
BAD_LEGAL_LABEL = "不明な法人格"  # not in warehouse/seeds/legal_form.csv: the ETL quarantines the cell
MAP_FIELDS = ("団体名", "住所", "電話番号", "活動時間", "最終確認日")
MAP_NAME = "4市 地域資源マップ（サンプル）"
# Google My Maps palette colour per layer (RRGGBB).
MAP_COLOURS = {"大和市": "0288D1", "海老名市": "097138", "座間市": "E65100", "綾瀬市": "9C27B0"}

BOLD = Font(bold=True)


@dataclass(frozen=True)
class Person:
    """An invented person; every field is unique to this person."""

    name: str
    email: str
    phone: str


@dataclass
class Org:
    """One fictional organisation and what the sample says about it."""

    city: str
    arch: Archetype
    name: str
    address: str | None = None
    phone: str | None = None
    fax: str | None = None
    contact: Person | None = None
    contact_email: bool = False
    contact_phone: bool = False
    channel: str = "メール"
    sent_on: dt.date = DISTRIBUTION_START
    hours: str = ""
    sheets: list[str] = field(default_factory=list)
    variant: str | None = None


@dataclass
class Answer:
    """One Google Forms answer of a responding organisation."""

    org: Org
    groups: set[str] = field(default_factory=set)
    contents: set[str] = field(default_factory=set)
    forms: set[str] = field(default_factory=set)
    targets: list[str] = field(default_factory=list)
    area: list[str] = field(default_factory=list)
    submitted_at: dt.datetime = FIXED_DATETIME


class People:
    """Hands out invented people with unique, obviously fake names, emails and phones."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._count = 0

    def new(self) -> Person:
        """Return a new person."""
        self._count += 1
        family, family_romaji = self._rng.choice(FAMILY_NAMES)
        given, given_romaji = self._rng.choice(GIVEN_NAMES)
        n = self._count
        return Person(
            name=f"{family} {given}{n:03d}",
            email=f"{given_romaji}.{family_romaji}{n:03d}@example.jp",
            phone=f"090-0000-{n:04d}",
        )


def _weighted(rng: random.Random, options):
    """Pick one value from (value, weight) pairs."""
    values = [value for value, _ in options]
    weights = [weight for _, weight in options]
    return rng.choices(values, weights=weights, k=1)[0]


def _random_date(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    """Pick a date uniformly in [start, end]."""
    return start + dt.timedelta(days=rng.randint(0, (end - start).days))


def _nfkc(text: str) -> str:
    """NFKC-normalise and casefold."""
    return unicodedata.normalize("NFKC", text).casefold()


def name_key(name: str, legal_words) -> str:
    """Matching key as the ETL documents it: NFKC, casefold, legal-form words, spaces, punctuation gone."""
    text = _nfkc(name)
    for word in legal_words:
        text = text.replace(word, "")
    return "".join(ch for ch in text if unicodedata.category(ch)[0] not in "PSZC")


def _read_seed(name: str) -> list[dict[str, str]]:
    """Rows of one vocabulary seed."""
    with (SEEDS_DIR / name).open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _seed_lookup(name: str, label_column: str = "ja") -> dict[str, str]:
    """Map every accepted spelling (label, en, code, aliases; NFKC) to the seed's label."""
    lookup = {}
    for row in _read_seed(name):
        spellings = [row[label_column], row.get("en", ""), row.get("code", "")]
        spellings += [alias for alias in row.get("aliases", "").split("|") if alias]
        for spelling in spellings:
            if spelling:
                lookup[_nfkc(spelling)] = row[label_column]
    return lookup


def _seed_legal_words() -> list[str]:
    """Every legal-form spelling in the seed, longest first, for the strict uniqueness check."""
    words = {_nfkc(spelling) for spelling in _seed_lookup("legal_form.csv")}
    return sorted(words, key=lambda word: (-len(word), word))


def _variant(name: str, kind: str) -> str:
    """Spell an organisation name the way another list (or the respondent) might."""
    head, body = name[: len(SAMPLE_PREFIX)], name[len(SAMPLE_PREFIX) :]
    if kind == "npo_long":
        body = body.replace("NPO法人", "特定非営利活動法人")
    elif kind == "fuku":
        body = body.replace("社会福祉法人 ", "（福）")
    elif kind == "kabu":
        body = body.replace("株式会社", "（株）")
    elif kind == "width":
        body = re.sub(r"[A-Za-z0-9]", lambda m: chr(ord(m.group()) + 0xFEE0), body)
    elif kind == "nospace":
        body = body.replace(" ", "")
    elif kind == "widespace":
        body = body.replace(" ", "　")
    elif kind == "dot":
        body = body.replace("・", "")
    return head + body


def _variant_applies(name: str, kind: str) -> bool:
    """Whether a variant changes this name at all."""
    return kind == "none" or _variant(name, kind) != name


def _variant_legal_cell(org: Org, kind: str) -> str:
    """法人格 as the second list writes it: another spelling of the same legal form."""
    if kind == "npo_long":
        return "特定非営利活動法人"
    if kind == "fuku":
        return "（福）"
    if kind == "kabu":
        return "株式会社"
    if kind == "width" and org.arch.legal == "NPO法人":
        return "ＮＰＯ法人"
    return org.arch.legal_cell


def _address(rng: random.Random, city: str, town: str) -> str:
    """A realistic-looking street address in a real town of the city."""
    highest = dict(TOWNS[city])[town]
    if highest == 0:
        return f"神奈川県{city}{town}{rng.randint(100, 3999)}"
    return f"神奈川県{city}{town}{rng.randint(1, highest)}-{rng.randint(1, 30)}-{rng.randint(1, 25)}"


def _public_number(rng: random.Random, used: set[str]) -> str:
    """An 046 number whose exchange starts with 0, so it cannot reach a real line."""
    while True:
        number = f"046-0{rng.randint(10, 99)}-{rng.randint(0, 9999):04d}"
        if number not in used:
            used.add(number)
            return number


def _point_near(rng: random.Random, centre: tuple[float, float], radius_km: float = 1.0):
    """A point uniformly distributed in a disc around the centre, rounded to 6 decimals."""
    lat0, lng0 = centre
    radius = radius_km * math.sqrt(rng.random())
    theta = 2 * math.pi * rng.random()
    lat = lat0 + radius * math.sin(theta) / 110.574
    lng = lng0 + radius * math.cos(theta) / (111.320 * math.cos(math.radians(lat0)))
    return round(lat, 6), round(lng, 6)


def build_organisations(rng: random.Random, people: People) -> list[Org]:
    """Create the 157 organisations with names, addresses, lists and distribution details."""
    kinds = [arch for arch in ARCHETYPES for _ in range(arch.count)]
    assert len(kinds) == sum(ORG_COUNT.values())
    rng.shuffle(kinds)
    core_words = CORE_LEGAL_WORDS
    seed_words = _seed_legal_words()
    used_core: set[str] = set()
    used_seed: set[str] = set()
    used_numbers: set[str] = set()
    orgs: list[Org] = []
    position = 0
    for city in CITIES:
        for arch in kinds[position : position + ORG_COUNT[city]]:
            for _ in range(1000):
                town = rng.choice(TOWNS[city])[0]
                name = SAMPLE_PREFIX + rng.choice(arch.templates).format(
                    w=rng.choice(WORDS), t=town, l=rng.choice(LATIN_WORDS)
                )
                core, strict = name_key(name, core_words), name_key(name, seed_words)
                if core not in used_core and strict not in used_seed:
                    break
            else:
                raise RuntimeError(f"no unique name for {arch.key} in {city}")
            used_core.add(core)
            used_seed.add(strict)
            org = Org(city=city, arch=arch, name=name)
            org.address = _address(rng, city, town)
            org.phone = _public_number(rng, used_numbers)
            if rng.random() < 0.4:
                org.fax = _public_number(rng, used_numbers)
            org.hours = rng.choice(arch.hours)
            orgs.append(org)
        position += ORG_COUNT[city]

    voluntary = [org for org in orgs if org.arch.legal == "任意団体"]
    no_address = rng.sample(voluntary, NO_ADDRESS_VOLUNTARY)
    others = [org for org in orgs if org.arch.legal not in ("任意団体", "公的機関")]
    own_list_only = rng.sample(others, NO_ADDRESS_OWN_LIST_ONLY)
    for org in no_address + own_list_only:
        org.address = None
        # Small groups without an office often have no public phone either.
        if org in no_address:
            org.phone = None
            org.fax = None
    for org in own_list_only:
        org.sheets = [OWN_LIST]

    _choose_duplicates(rng, [org for org in orgs if org.address and not org.sheets])
    for org in orgs:
        if not org.sheets:
            org.sheets = [org.city if rng.random() < 0.78 else OWN_LIST]
    for org in orgs:
        _distribution_details(rng, people, org, used_numbers)
    _check_names(orgs, core_words, seed_words)
    return orgs


def _choose_duplicates(rng: random.Random, candidates: list[Org]) -> None:
    """Put 14 organisations on a second list, each spelled differently there."""
    pool = list(candidates)
    rng.shuffle(pool)
    for kind in DUPLICATE_VARIANTS:
        org = next(org for org in pool if org.variant is None and _variant_applies(org.name, kind))
        org.variant = kind
        second = OWN_LIST if rng.random() < 0.55 else rng.choice(NEIGHBOURS[org.city])
        org.sheets = sorted({org.city, second}, key=SHEETS.index)


def _distribution_details(rng: random.Random, people: People, org: Org, used_numbers: set[str]) -> None:
    """Channel, date and contact person of one organisation's questionnaire."""
    if org.address is None:
        org.channel = rng.choice(("メール", "手渡し"))
    else:
        org.channel = _weighted(rng, CHANNELS)
    if org.channel == "FAX" and org.fax is None:
        org.fax = _public_number(rng, used_numbers)
    org.sent_on = _random_date(rng, DISTRIBUTION_START, DISTRIBUTION_END)
    if org.channel == "メール" or rng.random() < 0.8:
        org.contact = people.new()
        org.contact_email = org.channel == "メール" or rng.random() < 0.5
        org.contact_phone = org.phone is None or rng.random() < 0.55


def _check_names(orgs: list[Org], core_words, seed_words) -> None:
    """Assert name keys: equal for the two spellings of one organisation, distinct across organisations."""
    for words in (core_words, seed_words):
        keys = [name_key(org.name, words) for org in orgs]
        assert len(set(keys)) == len(orgs), "two organisations share a name key"
        for org in orgs:
            if org.variant:
                spelled = _variant(org.name, org.variant)
                assert spelled != org.name
                assert name_key(spelled, words) == name_key(org.name, words), spelled
    legal_forms = _seed_lookup("legal_form.csv")
    for org in orgs:
        assert org.name.startswith(SAMPLE_PREFIX)
        assert legal_forms[_nfkc(org.arch.legal_cell)] == org.arch.legal
        if org.variant:
            assert legal_forms[_nfkc(_variant_legal_cell(org, org.variant))] == org.arch.legal
    assert sum(len(org.sheets) for org in orgs) == 171
    assert sum(1 for org in orgs if org.variant) == 14
    assert Counter(org.city for org in orgs) == Counter(ORG_COUNT)


def distribution_rows(rng: random.Random, orgs: list[Org], bad_legal_share: float = 0.0) -> dict[str, list[list]]:
    """Rows of every sheet of distribution_list.xlsx, shuffled within each sheet.

    With bad_legal_share, that share of rows carries a 法人格 outside the vocabulary (BAD_LEGAL_LABEL):
    the scale bundles' quarantine load; the sample has none.
    """
    entries: dict[str, list[tuple[Org, bool]]] = {sheet: [] for sheet in SHEETS}
    for org in orgs:
        for position, sheet in enumerate(org.sheets):
            entries[sheet].append((org, position > 0))
    sheets = {}
    for sheet in SHEETS:
        listed = entries[sheet]
        rng.shuffle(listed)
        rows = []
        for number, (org, is_second) in enumerate(listed, start=1):
            name = _variant(org.name, org.variant) if is_second else org.name
            legal = _variant_legal_cell(org, org.variant) if is_second else org.arch.legal_cell
            if bad_legal_share and rng.random() < bad_legal_share:
                legal = BAD_LEGAL_LABEL
            city = org.city
            # The survey firm's own list sometimes writes the city without 市.
            if sheet == OWN_LIST and rng.random() < 0.12:
                city = city.removesuffix("市")
            contact = org.contact
            date_style = _weighted(rng, (("cell", 0.5), ("wareki", 0.3), ("short", 0.2)))
            sent = {
                "cell": org.sent_on,
                "wareki": wareki(org.sent_on),
                "short": wareki_short(org.sent_on),
            }[date_style]
            rows.append(
                [
                    number,
                    name,
                    legal,
                    city,
                    org.address,
                    org.phone,
                    org.fax,
                    contact.name if contact else None,
                    contact.email if contact and org.contact_email else None,
                    contact.phone if contact and org.contact_phone else None,
                    org.channel,
                    sent,
                    rng.choice(DISTRIBUTION_NOTES) or None,
                ]
            )
        sheets[sheet] = rows
    return sheets


def _fill(rng, answers, attr, targets, affinity, cap) -> None:
    """Give labels to answers until each label reaches its exact organisation count."""
    for label in sorted(targets, key=lambda lab: (-targets[lab], lab)):
        held = [answer for answer in answers if label in getattr(answer, attr)]
        need = targets[label] - len(held)
        assert need >= 0, f"{label} over target"
        candidates = [a for a in answers if label not in getattr(a, attr) and len(getattr(a, attr)) < cap]
        ties = {id(a): rng.random() for a in candidates}
        # Answers still without any label first, then the ones whose archetype fits, then the least loaded.
        candidates.sort(
            key=lambda a: (
                len(getattr(a, attr)) > 0,
                -affinity(a, label),
                len(getattr(a, attr)),
                ties[id(a)],
            )
        )
        assert len(candidates) >= need, f"cannot place {label}"
        for answer in candidates[:need]:
            getattr(answer, attr).add(label)


def _group_affinity(answer: Answer, group: str) -> int:
    """2 for the archetype's main content group, 1 for its other groups."""
    groups = [GROUP_OF[cat] for cat in answer.org.arch.contents]
    return 2 if groups[0] == group else int(group in groups)


def _form_affinity(answer: Answer, form: str) -> int:
    """2 for the archetype's main support form, 1 for its other forms."""
    forms = answer.org.arch.forms
    return 2 if forms[0] == form else int(form in forms)


def build_answers(rng: random.Random, orgs: list[Org]) -> list[Answer]:
    """Choose the 63 responding organisations and what each answered."""
    answers = []
    for city in CITIES:
        city_orgs = [org for org in orgs if org.city == city]
        answers += [Answer(org=org) for org in rng.sample(city_orgs, ANSWER_COUNT[city])]

    for answer in answers:
        main_group = GROUP_OF[answer.org.arch.contents[0]]
        if sum(main_group in a.groups for a in answers) < GROUP_TARGETS[main_group]:
            answer.groups.add(main_group)
    _fill(rng, answers, "groups", GROUP_TARGETS, _group_affinity, cap=3)
    for answer in answers:
        answer.contents = _pick_contents(rng, answer)

    for answer in answers:
        main_form = answer.org.arch.forms[0]
        if sum(main_form in a.forms for a in answers) < FORM_TARGETS[main_form]:
            answer.forms.add(main_form)
    _fill(rng, answers, "forms", FORM_TARGETS, _form_affinity, cap=3)

    for answer in answers:
        answer.targets = _pick_targets(rng, answer.org.arch)
        answer.area = _pick_area(rng, answer.org.city)
        start = max(answer.org.sent_on + dt.timedelta(days=1), ANSWER_START)
        day = _random_date(rng, start, ANSWER_END)
        moment = dt.time(rng.randint(8, 22), rng.randint(0, 59), rng.randint(0, 59))
        answer.submitted_at = dt.datetime.combine(day, moment)
    _check_answers(answers)
    return answers


def _pick_contents(rng: random.Random, answer: Answer) -> set[str]:
    """1–5 content categories inside the answer's groups, preferring the archetype's own."""
    own = answer.org.arch.contents
    chosen: set[str] = set()
    for group in sorted(answer.groups, key=list(CONTENT_GROUPS).index):
        preferred = [cat for cat in own if GROUP_OF[cat] == group]
        chosen.add(preferred[0] if preferred else rng.choice(CONTENT_GROUPS[group]))
    for group in sorted(answer.groups, key=list(CONTENT_GROUPS).index):
        if len(chosen) < 5 and rng.random() < 0.3:
            chosen.add(rng.choice(CONTENT_GROUPS[group]))
    return chosen


def _pick_targets(rng: random.Random, arch: Archetype) -> list[str]:
    """1–3 target groups, starting with the archetype's main one."""
    targets = {arch.targets[0]}
    for extra in arch.targets[1:]:
        if len(targets) < 3 and rng.random() < 0.5:
            targets.add(extra)
    if len(targets) < 3 and rng.random() < 0.12:
        targets.add("誰でも")
    return sorted(targets, key=TARGET_ORDER.index)


def _pick_area(rng: random.Random, city: str) -> list[str]:
    """Own city, often one or two neighbours, sometimes outside the four cities."""
    area = {city}
    roll = rng.random()
    extra = 2 if roll < 0.15 else 1 if roll < 0.7 else 0
    area.update(rng.sample(NEIGHBOURS[city], extra))
    ordered = sorted(area, key=CITIES.index)
    if rng.random() < 0.1:
        ordered.append(OUTSIDE)
    return ordered


def _check_answers(answers: list[Answer]) -> None:
    """Assert the report's shape: 家庭 leads the groups, 就労支援 > 生活サポート > 居場所づくり > rest."""
    assert len({id(a.org) for a in answers}) == 63
    assert Counter(a.org.city for a in answers) == Counter(ANSWER_COUNT)
    groups = Counter(g for a in answers for g in a.groups)
    assert groups == Counter(GROUP_TARGETS)
    top, *rest = groups.most_common()
    assert top[0] == "家庭" and top[1] > rest[0][1]
    forms = Counter(f for a in answers for f in a.forms)
    assert forms == Counter(FORM_TARGETS)
    others = max(count for form, count in forms.items() if form not in ("就労支援", "生活サポート", "居場所づくり"))
    assert forms["就労支援"] > forms["生活サポート"] > forms["居場所づくり"] > others
    for answer in answers:
        assert 1 <= len(answer.contents) <= 5
        assert 1 <= len(answer.forms) <= 3
        assert 1 <= len(answer.targets) <= 3
        assert {GROUP_OF[cat] for cat in answer.contents} == answer.groups
        assert answer.submitted_at.date() > answer.org.sent_on


def survey_bytes(rng: random.Random, people: People, answers: list[Answer]) -> bytes:
    """survey_answers.csv as Google Forms exports it for Excel: CP932, CRLF."""
    intents = [label for label, count in INTENT_COUNTS for _ in range(count)]
    rng.shuffle(intents)
    ordered = sorted(answers, key=lambda a: a.submitted_at)
    selected = {
        "content": [a.contents for a in ordered],
        "form": [a.forms for a in ordered],
        "target": [a.targets for a in ordered],
    }
    aliased: set[tuple[int, str, str]] = set()
    for kind, uses in ALIAS_USES.items():
        for label, _, count in uses:
            holders = [i for i, labels in enumerate(selected[kind]) if label in labels]
            assert len(holders) >= count, f"too few answers with {label}"
            aliased.update((i, kind, label) for i in rng.sample(holders, count))
    alias_of = {(kind, label): alias for kind, uses in ALIAS_USES.items() for label, alias, _ in uses}

    def spell(position: int, kind: str, labels: list[str]) -> str:
        """Join a multi-answer cell, writing the chosen labels as their seed alias."""
        return ", ".join(alias_of[(kind, label)] if (position, kind, label) in aliased else label for label in labels)

    rows = []
    for position, (answer, intent) in enumerate(zip(ordered, intents)):
        rows.append(survey_row(rng, people, answer.org, answer.submitted_at, intent, lambda position=position, answer=answer: [
            spell(position, "content", sorted(answer.contents, key=CONTENT_ORDER.index)),
            spell(position, "form", sorted(answer.forms, key=FORM_ORDER.index)),
            spell(position, "target", answer.targets),
            ", ".join(answer.area),
        ]))  # fmt: skip
    buffer = io.StringIO()
    write_survey(rows, buffer)
    return buffer.getvalue().encode("cp932")


def survey_row(rng: random.Random, people: People, org, submitted: dt.datetime, intent: str, choices) -> list:
    """One Google Forms answer as its CSV row; choices() gives the content, form, target and area cells.

    choices is called where those cells stand, so any draws it makes come in the row's order.
    """
    kind = _weighted(rng, SURVEY_VARIANTS)
    name = _variant(org.name, kind) if _variant_applies(org.name, kind) else org.name
    respondent = org.contact if org.contact and rng.random() < 0.4 else people.new()
    return [
        submitted.strftime("%Y/%m/%d %H:%M:%S"),
        name, org.city, org.arch.legal_cell,
        respondent.name, respondent.email, respondent.phone if rng.random() < 0.7 else "",
        *choices(),
        org.hours,
        ", ".join(_weighted(rng, LANGUAGE_SETS)),
        ", ".join(_weighted(rng, ACCESSIBILITY_SETS)),
        "はい" if rng.random() < (0.9 if intent != "今は考えていない" else 0.55) else "いいえ",
        intent,
        rng.choice(REFERRAL_TEXTS),
        rng.choice(IDEA_TEXTS),
    ]  # fmt: skip


def write_survey(rows: list[list], handle) -> None:
    """survey_answers.csv's text as Google Forms exports it for Excel (CRLF) into a handle opened as CP932."""
    writer = csv.writer(handle, lineterminator="\r\n")
    writer.writerow(SURVEY_HEADER)
    writer.writerows(rows)


def map_pin(org, latitude: float, longitude: float, verified: dt.date, forms) -> kml.Pin:
    """An organisation's My Maps pin: the fields My Maps exports and a popup of address, phone and forms."""
    values = (org.name, org.address, org.phone or "", org.hours, verified.strftime("%Y/%m/%d"))
    return kml.Pin(
        name=org.name,
        latitude=latitude,
        longitude=longitude,
        fields=tuple(zip(MAP_FIELDS, values)),
        popup=(("住所", org.address), ("電話", org.phone or "なし"), ("形態", "、".join(forms))),
    )


def map_layers(pins) -> list[kml.Layer]:
    """One My Maps layer per city in CITIES order, in the city's colour; pins(city) yields its pins."""
    return [kml.Layer(city, f"#{MAP_COLOURS[city]}", pins(city)) for city in CITIES]


def kml_text(rng: random.Random, orgs: list[Org], answers: list[Answer]) -> tuple[str, int]:
    """doc.kml in Google My Maps style: one folder per city, one pin per organisation with an address."""
    forms_of = {id(a.org): sorted(a.forms, key=FORM_ORDER.index) for a in answers}
    counts = Counter()

    def pins(city: str):
        """The city's pins, drawn from rng as the file is written."""
        for org in (o for o in orgs if o.city == city and o.address):
            lat, lng = _point_near(rng, CITY_CENTRES[city])
            assert 35.40 <= lat <= 35.54 and 139.35 <= lng <= 139.50
            stale = rng.random() < STALE_SHARE
            verified = VERIFIED_STALE if stale else _random_date(rng, VERIFIED_FRESH_START, VERIFIED_END)
            counts.update(pins=1, stale=stale)
            yield map_pin(org, lat, lng, verified, forms_of.get(id(org), list(org.arch.forms[:2])))

    description = "架空の団体による見本データです。/ Fictional sample data."
    text = "".join(kml.kml_chunks(MAP_NAME, description, map_layers(pins), my_maps=True))
    assert counts["stale"] >= 5
    return text, counts["pins"]


def _split_total(rng: random.Random, total: int, weights: list[float]) -> list[int]:
    """Split a total into integer parts proportional to jittered weights, summing exactly."""
    raw = [weight * rng.uniform(0.85, 1.15) for weight in weights]
    exact = [total * value / sum(raw) for value in raw]
    parts = [int(value) for value in exact]
    order = sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return parts


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    """Every date from start to end inclusive."""
    return [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]


# 2025-02-23 天皇誕生日 fell on a Sunday, so Monday 2025-02-24 was a substitute holiday.
HOLIDAYS = {dt.date(2025, 2, 23), dt.date(2025, 2, 24)}
EXHIBITIONS = (
    ("EX-EBINA", dt.date(2025, 2, 21), dt.date(2025, 2, 28), 2345),
    ("EX-ZAMA", dt.date(2025, 2, 21), dt.date(2025, 3, 2), 853),
)
# (event, session, date, start, end, participants, consultees)
WORKSHOP_SESSIONS = (
    ("WS-1", 1, dt.date(2024, 12, 26), "14:00", "16:00", 23, 17),
    ("WS-2", 1, dt.date(2025, 2, 18), "13:00", "16:00", 21, 9),
    ("WS-2", 2, dt.date(2025, 2, 19), "13:00", "16:00", 20, 8),
    ("WS-3", 1, dt.date(2024, 12, 17), "14:00", "17:00", 16, 6),
    ("WS-3", 2, dt.date(2025, 1, 8), "14:00", "17:00", 11, 5),
    ("WS-3", 3, dt.date(2025, 1, 27), "14:00", "17:00", 11, 5),
)
# Who attended which session, by consultee (C) and general (G) person number. WS-2's two days and
# WS-3's three sessions share most of their people; a few Ayase people came to WS-1 and WS-3.
ATTENDANCE = {
    ("WS-1", 1): ("C", range(1, 18), "G", range(1, 7)),
    ("WS-2", 1): ("C", range(22, 31), "G", range(15, 27)),
    ("WS-2", 2): ("C", [*range(22, 29), 31], "G", [*range(15, 24), 27, 28, 29]),
    ("WS-3", 1): ("C", [15, 16, 17, 18, 19, 20], "G", [1, 2, 3, *range(7, 14)]),
    ("WS-3", 2): ("C", [15, 16, 18, 19, 21], "G", [1, 2, 7, 8, 9, 14]),
    ("WS-3", 3): ("C", [15, 16, 18, 19, 20], "G", [1, 2, 7, 8, 10, 14]),
}
SURVEY_CHOICES = ("すごく感じた", "感じた", "あまり感じなかった", "感じなかった", "無回答")
SURVEY_TALLIES = (
    ("EX-EBINA", "展示を通じて孤独・孤立について考えるきっかけになりましたか", (98, 112, 19, 5, 6)),
    ("EX-ZAMA", "展示を通じて孤独・孤立について考えるきっかけになりましたか", (61, 46, 8, 2, 3)),
    ("SYM", "孤独・孤立支援にアートにできることがあると感じましたか", (38, 34, 5, 1, 2)),
)
COMMENTS = (
    (
        "EX-EBINA",
        "海老名会場",
        "会場では地図パンフレットを持って、展示を探している方に何人もすれ違った。特にお互い言葉をかわしたり、"
        "交流があったわけではないが、、同好の士という感じを持ち、孤独・孤立対策の文脈に「ぴったり」はまっていた。",
    ),
    (
        "EX-EBINA",
        "海老名会場",
        "目が離せなくなるようなイタズラで、楽しさと日常に紛れている小さな違和感におもしろさを感じた。",
    ),
    (
        "EX-ZAMA",
        "座間会場",
        "展示から、生きているだけで他者に影響を与えている可能性が十分にあることや、人を頼ることについての謙虚さと"
        "ポジティブさを感じた。",
    ),
    (
        "EX-ZAMA",
        "座間会場",
        "市役所という、ふだん事務的なことでしか訪れないような場所にいながら、時間も距離も超えたどこかに意識を"
        "飛ばせるはじめての体験だった。",
    ),
    (
        "EX-ZAMA",
        "座間会場",
        "「寄り添う」という言葉と現実のギャップの難しさ、立場の取り方など、戸惑うことばかりだけど時間や力をかけて"
        "変わっていくことはあるんだなと思った。アートの力で越境できたところが大いにあったと思う。みなさんの葛藤に"
        "触れて、励まされるわけでもなく、自分の孤独孤立や、つながることのむずかしさ、つながりの大切さを認識できた。",
    ),
    (
        "EX-ZAMA",
        "座間会場",
        "昨今溢れる地域おこしのための芸術祭とは異なり、座間市に存在した特徴的な福祉の存在から始まり、地続きの流れから"
        "職員の方を通して美術につながることの価値が、とてつもなく貴重で、美術の世界にとって大事な要素だと感じている。",
    ),
    (
        "SYM",
        "大和市保健福祉センター",
        "行政・福祉・アートそれぞれの立場から話を聞き、孤独・孤立を自分ごととして考えるきっかけになった。",
    ),
    ("SYM", "大和市保健福祉センター", "市の境界を越えた連携の必要性がよく分かった。近隣市の取組も知りたいと思った。"),
)


def events_sheets(rng: random.Random, people: People) -> dict[str, tuple[tuple[str, ...], list[list]]]:
    """All sheets of events.xlsx with the report's figures."""
    events = [
        [
            "EX-EBINA",
            "展示",
            "海老名会場",
            "WS参加者の作品による街中展示",
            "海老名市",
            "海老名中央公園・ビナウォーク",
            None,
            dt.date(2025, 2, 21),
            wareki(dt.date(2025, 2, 28)),
            8,
        ],
        [
            "EX-ZAMA",
            "展示",
            "座間会場",
            "WSから生まれた表現と記録の展示、ギャラリーツアー・トークイベント",
            "座間市",
            "座間市役所",
            None,
            wareki(dt.date(2025, 2, 21)),
            dt.date(2025, 3, 2),
            10,
        ],
        [
            "WS-1",
            "ワークショップ",
            "みんなで貝を食べる 食べた貝で、目を閉じる",
            "キュンチョメ",
            "綾瀬市",
            "綾瀬市保健福祉プラザ調理室",
            None,
            wareki(dt.date(2024, 12, 26)),
            wareki(dt.date(2024, 12, 26)),
            1,
        ],
        [
            "WS-2",
            "ワークショップ",
            "0人もしくは、1人以上の観客に向けて",
            "飯川雄大",
            "海老名市",
            "ビナSUNホール",
            "神奈川県海老名市中央1-4-1 ビナウォーク3番館",
            dt.date(2025, 2, 18),
            dt.date(2025, 2, 19),
            2,
        ],
        [
            "WS-3",
            "ワークショップ",
            "写真と日記のワークショップ",
            "金川晋吾",
            "綾瀬市",
            "綾瀬市保健福祉プラザ",
            None,
            wareki(dt.date(2024, 12, 17)),
            wareki(dt.date(2025, 1, 27)),
            3,
        ],
        [
            "SYM",
            "シンポジウム",
            "孤独・孤立にアートができること",
            "第一部「孤独・孤立とアートの力」／第二部「孤独・孤立支援における広域／多職種連携の必要性」",
            "大和市",
            "大和市保健福祉センター",
            "神奈川県大和市鶴間1-31-7",
            dt.date(2025, 2, 21),
            dt.date(2025, 2, 21),
            1,
        ],
    ]

    sessions = []
    for event_id, start, end, total in EXHIBITIONS:
        days = _days(start, end)
        weights = [1.7 if day.weekday() >= 5 or day in HOLIDAYS else 1.0 for day in days]
        for number, (day, visitors) in enumerate(zip(days, _split_total(rng, total, weights)), start=1):
            shown = day if number % 2 else wareki(day)
            sessions.append([event_id, number, shown, "9:00", "17:00", None, None, visitors])
    for event_id, number, day, start_time, end_time, participants, consultees in WORKSHOP_SESSIONS:
        shown = wareki(day) if number % 2 else day
        sessions.append([event_id, number, shown, start_time, end_time, participants, consultees, None])
    sessions.append(["SYM", 1, wareki(dt.date(2025, 2, 21)), "13:00", "17:00", 126, None, None])

    participants, attendance = _participants(rng, people)

    tallies = [
        [event_id, question, choice, order, count]
        for event_id, question, counts in SURVEY_TALLIES
        for order, (choice, count) in enumerate(zip(SURVEY_CHOICES, counts), start=1)
    ]
    contracts = [
        [
            "C-ART",
            "アート事業（シンポジウム・展示・ワークショップ）",
            "株式会社Little Barrel",
            7700000,
            "令和6年11月",
            "令和7年3月",
        ],
        [
            "C-RES",
            "リソース調査・地域資源マップの作成",
            "一般社団法人市民連帯経済つながるかながわ",
            299000,
            "令和6年12月",
            "令和7年2月",
        ],
    ]
    rows = {
        sources.events.EVENTS: events,
        sources.events.SESSIONS: sessions,
        sources.events.PARTICIPANTS: participants,
        sources.events.ATTENDANCE: attendance,
        sources.events.SURVEY: tallies,
        sources.events.COMMENTS: [list(row) for row in COMMENTS],
        sources.events.CONTRACTS: contracts,
    }
    return {sheet: (tuple(header), rows[sheet]) for sheet, header in sources.events.SHEETS.items()}


def _participants(rng: random.Random, people: People) -> tuple[list[list], list[list]]:
    """The 60 workshop participants and their 102 attendances."""
    members = sorted(
        {
            (kind, n)
            for c_kind, cs, g_kind, gs in ATTENDANCE.values()
            for kind, numbers in ((c_kind, cs), (g_kind, gs))
            for n in numbers
        }
    )
    rng.shuffle(members)
    ids = {member: f"P{position:03d}" for position, member in enumerate(members, start=1)}
    roster = sorted([ids[m], people.new().name, "相談者" if m[0] == "C" else "一般"] for m in members)
    attendance = []
    consultee_visits = 0
    for event_id, number, _, _, _, participants, consultees in WORKSHOP_SESSIONS:
        c_kind, cs, g_kind, gs = ATTENDANCE[(event_id, number)]
        present = [ids[(c_kind, n)] for n in cs] + [ids[(g_kind, n)] for n in gs]
        assert len(set(present)) == participants and len(cs) == consultees
        consultee_visits += len(cs)
        attendance += [[pid, event_id, number] for pid in sorted(present)]
    assert len(roster) == 60 and len(attendance) == 102 and consultee_visits == 50
    return roster, attendance


STEPS = ("①", "②", "③", "④-1", "④-2", "⑤", "⑥", "⑦", "⑧", "⑨")
STEP_STATUS = {
    "①": ("完了", "R6年度8月~"),
    "②": ("完了", "R6年度8月~"),
    "③": ("完了", "R6年度11月~"),
    "④-1": ("完了", "R6年度10月~"),
    "④-2": ("進行中", "R6年度2月~"),
    "⑤": ("進行中", "R6年度11月~"),
    "⑥": ("進行中", "R6年度12月~"),
    "⑦": ("未着手", "R7年度~"),
    "⑧": ("未定", "未定"),
    "⑨": ("未着手", "R7年度~"),
}
STEP_DONE = {
    "①": {city: "R6年度10月" for city in CITIES},
    "②": {city: "R6年度10月" for city in CITIES},
    "③": {"座間市": "R6年度1月", "大和市": "R6年度1月", "綾瀬市": "R6年度2月", "海老名市": "R6年度2月"},
    "④-1": {city: "R6年度11月" for city in CITIES},
}
# 座間市's notes quote the report's section D; the other cities' are short adaptations.
STEP_NOTES = {
    "座間市": {
        "①": "座間市では昨年度より地域福祉課が継続的に担当。他3市の担当者も、主にひきこもり相談支援に携わる部署で元々連携があり、声掛けはスムーズであった。",
        "②": "他市への声掛けはスムーズだったものの、4市での意思決定が難しかった。何度か会議を開催して、各市の課題や本事業にて成し遂げたいことについて話し合いを行った。",
        "③": "リソース調査を企画・実施。配布団体の連絡先は各市から募ることで、把握する団体の幅を広げることができた。また、資源マップの作成もつながった。",
        "④-1": "福祉×アートを専門とするキュレーターに相談しながら、WS・シンポジウム・展示それぞれの目的を定めて実施。",
        "④-2": "4市連携を基盤に県の事業（つながりサポーター養成講座）に参加。4市連携のバックアップ協力を県にも依頼したい所存。",
        "⑤": "昨年度本事業の勉強会に参加された団体が今年度のリソース調査の回答者にもなっており、2年継続したことによってネットワークが強化された。",
        "⑥": "様々な手法（WS、シンポジウム、展示）でアート事業を展開したため、市民の目に触れる機会が増えた。",
        "⑦": "かながわつながりネットワークの会議に出席。リソース調査でPF構築に前向きな団体を推薦することを考えている。",
        "⑧": "生活圏での建付けと、地域協議会の関係が難しく、広域連携での地域協議会での立ち上げに関しては、別途研究が必要。",
        "⑨": "単発で終わらせるつもりはなく、現場担当者の意見も聞いて今後について設計したい。市で区切るのではなく、生活圏での連携が重要。",
    },
    "綾瀬市": {
        "①": "福祉総務課が主担当。",
        "②": "4市会議に参加し、市の課題を共有。",
        "③": "市が保有する団体リストを提供。",
        "④-1": "ワークショップ（綾瀬市保健福祉プラザ）の担当に決定。",
        "④-2": "リソース調査の結果を踏まえて検討中。",
        "⑤": "はたらっく・あやせ等の関係先に声掛け。",
        "⑥": "WSの参加者募集を支援員経由で実施。",
        "⑦": "R7年度に4市で協議予定。",
        "⑧": "広域での設置方法は未定。",
        "⑨": "R7年度以降に検討。",
    },
    "大和市": {
        "①": "健康福祉総務課が主担当。",
        "②": "こもりびと支援窓口と連携して初動。",
        "③": "市が保有する団体リストを提供。",
        "④-1": "シンポジウム（大和市保健福祉センター）の担当に決定。",
        "④-2": "リソース調査の結果を踏まえて検討中。",
        "⑤": "社会福祉協議会と連携して候補団体を確認中。",
        "⑥": "シンポジウムの広報を実施。",
        "⑦": "R7年度に4市で協議予定。",
        "⑧": "広域での設置方法は未定。",
        "⑨": "R7年度以降に検討。",
    },
    "海老名市": {
        "①": "生活支援課が主担当。",
        "②": "アウトリーチ支援の委託先と情報共有。",
        "③": "市が保有する団体リストを提供。",
        "④-1": "展示（海老名会場）とWSの担当に決定。",
        "④-2": "リソース調査の結果を踏まえて検討中。",
        "⑤": "包括連携協定を結ぶ企業にも声掛け。",
        "⑥": "街中展示で市民へ周知。",
        "⑦": "R7年度に4市で協議予定。",
        "⑧": "広域での設置方法は未定。",
        "⑨": "R7年度以降に検討。",
    },
}
# 座間市 writes ④-1/④-2 with the report's hyphen (U+2010), a seed alias.
STEP_SPELLING = {"座間市": {"④-1": "④‐1", "④-2": "④‐2"}}
PF_CITY_ORDER = ("座間市", "綾瀬市", "大和市", "海老名市")
PF_NOTES = (
    (
        "座間市",
        dt.date(2024, 8, 30),
        "取り組み課題",
        "４市での、アート事業及び広域連携に向けた意思決定の難しさ（本質的な方向性は4市で概ね一致しているものの、意思決定の際は、各市のニーズ、想いなどが異なるため、すり合わせに時間を要した）",
    ),
    (
        "座間市",
        dt.date(2024, 10, 15),
        "ブレイクスルー要因",
        "キュレーターとの話し合いを重ね、昨年度の座間市による経験も踏まえてアート事業で何を行うかが明確になり、各市で担当するイベントを決めたこと",
    ),
    (
        "座間市",
        dt.date(2024, 10, 28),
        "ブレイクスルー要因",
        "各市が抱えている課題について話し合うことで、「市域を超えて活動している団体について把握が難しい」等の共通項を見つけることができたこと",
    ),
    (
        "座間市",
        dt.date(2024, 12, 20),
        "その後の変化",
        "その後企画・実施したリソース調査に関しても、共通項である課題を解決しようと４市協力して進めることができた",
    ),
    (
        "綾瀬市",
        dt.date(2024, 9, 20),
        "取り組み課題",
        "4市での意思決定に時間を要し、市の担当イベントがなかなか決まらなかった。",
    ),
    (
        "綾瀬市",
        dt.date(2024, 10, 15),
        "ブレイクスルー要因",
        "担当イベントを役割分担し、綾瀬市はワークショップを担当することになった。",
    ),
    (
        "綾瀬市",
        dt.date(2024, 12, 26),
        "その後の変化",
        "同じ目的・方向性を掲げつつ、担当イベントを役割分担することによって、各市が主体的に動くことができた",
    ),
    (
        "大和市",
        dt.date(2024, 10, 28),
        "ブレイクスルー要因",
        "「市域を超えて活動している団体について把握が難しい」という共通項を4市で確認できた。",
    ),
    (
        "大和市",
        dt.date(2025, 2, 21),
        "その後の変化",
        "市同士で個別に情報交換や課題解決に向けた方向性を探る取り組みを行った（公共職業安定所を巻き込んだ他管轄者の利用検討、市域に限らないひきこもり・居場所の提供事業の活用、各市の事業の他市在住者の参加等）",
    ),
    ("海老名市", dt.date(2024, 9, 10), "取り組み課題", "各市のニーズや想いが異なり、すり合わせに時間を要した。"),
    (
        "海老名市",
        dt.date(2024, 10, 15),
        "ブレイクスルー要因",
        "アート事業で何を行うかが明確になり、海老名市は街中展示とWSを担当することになった。",
    ),
    (
        "海老名市",
        dt.date(2025, 1, 20),
        "その後の変化",
        "リソース調査を4市協力で進め、市外で活動する団体の情報も得られた。",
    ),
)


def progress_sheets() -> dict[str, tuple[tuple[str, ...], list[list]]]:
    """Both sheets of pf_progress.xlsx."""
    rows = []
    for city in PF_CITY_ORDER:
        for step in STEPS:
            status, start = STEP_STATUS[step]
            done = STEP_DONE.get(step, {}).get(city) if status == "完了" else None
            label = STEP_SPELLING.get(city, {}).get(step, step)
            note = STEP_NOTES[city][step]
            rows.append([city, label, status, start, done, note, CITY_DEPARTMENTS[city], "令和7年3月31日"])
    notes = [
        [city, day if position % 2 else wareki(day), kind, text]
        for position, (city, day, kind, text) in enumerate(PF_NOTES)
    ]
    sheets = {sources.progress.PROGRESS: rows, sources.progress.NOTES: notes}
    return {sheet: (tuple(header), sheets[sheet]) for sheet, header in sources.progress.SHEETS.items()}


def _workbook(sheets: dict[str, tuple[tuple[str, ...], list[list]]]) -> Workbook:
    """An openpyxl workbook with fixed document properties and one sheet per entry."""
    workbook = dated_workbook("Tsunagari sample generator")
    for title, (header, rows) in sheets.items():
        sheet = workbook.create_sheet(title)
        sheet.append(list(header))
        for cell in sheet[1]:
            cell.font = BOLD
        for row in rows:
            sheet.append(row)
        for row in sheet.iter_rows(min_row=2):
            for cell in row:
                if isinstance(cell.value, (dt.date, dt.datetime)):
                    cell.number_format = "yyyy/m/d"
        sheet.freeze_panes = "A2"
        for (header_cell,) in sheet.iter_cols(min_row=1, max_row=1):
            letter = header_cell.column_letter
            longest = max((len(str(c.value)) for c in sheet[letter] if c.value is not None), default=4)
            sheet.column_dimensions[letter].width = min(60, max(6, longest * 1.8))
    return workbook


def dated_workbook(creator: str, write_only: bool = False) -> Workbook:
    """An empty workbook whose document properties carry FIXED_DATETIME instead of the clock."""
    workbook = Workbook(write_only=write_only)
    if not write_only:
        workbook.remove(workbook.active)
    workbook.properties.creator = creator
    workbook.properties.created = FIXED_DATETIME
    workbook.properties.modified = FIXED_DATETIME
    return workbook


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    """A zip with fixed timestamps and no compression, so bytes do not depend on zlib's build."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members:
            archive.writestr(zip_info(name, zipfile.ZIP_STORED), data)
    return buffer.getvalue()


def zip_info(name: str, compress_type: int) -> zipfile.ZipInfo:
    """A zip member header with a fixed timestamp and Unix permissions, so bytes do not depend on the clock."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE_TIME)
    info.compress_type = compress_type
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def workbook_bytes(workbook: Workbook) -> bytes:
    """Serialise a workbook without openpyxl's "now" timestamps."""
    buffer = io.BytesIO()
    # ExcelWriter directly: save_workbook() would overwrite properties.modified with the clock.
    archive = zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED)
    ExcelWriter(workbook, archive).save()
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as written:
        members = [(info.filename, written.read(info)) for info in written.infolist()]
    return _zip_bytes(members)


def cities_bytes() -> bytes:
    """cities.csv (UTF-8)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(sources.cities.COLUMNS)
    writer.writerows((code, name, population, POPULATION_DATE) for code, name, population in POPULATIONS)
    return buffer.getvalue().encode("utf-8")


# (KPI as a manager writes it: code or Japanese name, 市 or blank = 4市全体, 目標値, 単位, 設定者, 設定日)
KPI_TARGETS = (
    ("展示会来場者数", "", "3,000", "名", CITY_DEPARTMENTS["海老名市"], "令和6年11月15日"),
    ("exhibition_visitors_per_day", "座間市", "100", "名/日", CITY_DEPARTMENTS["座間市"], "2024/11/15"),
    ("WS参加者数（実人数）", "", "50", "名", CITY_DEPARTMENTS["綾瀬市"], "令和6年11月20日"),
    ("symposium_participants", "大和市", "150", "名", CITY_DEPARTMENTS["大和市"], "2024-11-20"),
    ("survey_positive_pct", "", "80", "%", CITY_DEPARTMENTS["座間市"], "2024-11-20"),
    ("cost_per_contact_yen", "4市全体", "2,500", "円", CITY_DEPARTMENTS["座間市"], "令和6年11月20日"),
)


def targets_bytes() -> bytes:
    """kpi_targets.csv (UTF-8): a few targets for the art-project KPIs."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(sources.targets.COLUMNS)
    writer.writerows(KPI_TARGETS)
    return buffer.getvalue().encode("utf-8")


def _check_vocabulary(distribution: dict[str, list[list]], survey: bytes, progress) -> None:
    """Assert every categorical label written is a seed label or alias."""
    lookups = {
        "legal": _seed_lookup("legal_form.csv"),
        "city": _seed_lookup("city.csv"),
        "channel": _seed_lookup("channel.csv"),
        "content": _seed_lookup("taxonomy_content.csv"),
        "form": _seed_lookup("taxonomy_form.csv"),
        "target": _seed_lookup("taxonomy_target.csv"),
        "intent": _seed_lookup("pf_intent.csv"),
        "status": _seed_lookup("pf_status.csv"),
        "step": _seed_lookup("pf_step.csv", "label"),
    }

    def known(kind: str, value: str) -> None:
        assert _nfkc(value) in lookups[kind], f"{value!r} is not in the {kind} seed"

    for rows in distribution.values():
        for row in rows:
            known("legal", row[2])
            known("city", row[3])
            known("channel", row[10])
    reader = csv.reader(io.StringIO(survey.decode("cp932"), newline=""))
    next(reader)
    for row in reader:
        known("city", row[2])
        known("legal", row[3])
        for column, kind in ((7, "content"), (8, "form"), (9, "target")):
            for label in row[column].split(", "):
                known(kind, label)
        for label in row[10].split(", "):
            if label != OUTSIDE:
                known("city", label)
        known("intent", row[15])
    for row in progress[sources.progress.PROGRESS][1]:
        known("city", row[0])
        known("step", row[1])
        known("status", row[2])


def generate(out_dir: Path) -> dict[str, object]:
    """Write the whole sample bundle into out_dir and return its key figures."""
    rng = random.Random(SEED)
    people = People(rng)
    orgs = build_organisations(rng, people)
    distribution = distribution_rows(rng, orgs)
    answers = build_answers(rng, orgs)
    survey = survey_bytes(rng, people, answers)
    kml, pins = kml_text(rng, orgs, answers)
    events = events_sheets(rng, people)
    progress = progress_sheets()
    _check_vocabulary(distribution, survey, progress)

    files = {
        "distribution_list.xlsx": workbook_bytes(
            _workbook({sheet: (DISTRIBUTION_HEADER, rows) for sheet, rows in distribution.items()})
        ),
        "survey_answers.csv": survey,
        "resource_map.kmz": _zip_bytes([("doc.kml", kml.encode("utf-8"))]),
        "events.xlsx": workbook_bytes(_workbook(events)),
        "pf_progress.xlsx": workbook_bytes(_workbook(progress)),
        "cities.csv": cities_bytes(),
        "kpi_targets.csv": targets_bytes(),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out_dir / name).write_bytes(data)
    return {
        "organisations": len(orgs),
        "distribution_rows": sum(len(rows) for rows in distribution.values()),
        "rows_per_sheet": {sheet: len(rows) for sheet, rows in distribution.items()},
        "organisations_per_city": dict(Counter(org.city for org in orgs)),
        "answers_per_city": dict(Counter(a.org.city for a in answers)),
        "content_groups": dict(Counter(g for a in answers for g in a.groups).most_common()),
        "support_forms": dict(Counter(f for a in answers for f in a.forms).most_common()),
        "pins": pins,
    }


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Write the fictional sample source bundle.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: data/sample)")
    args = parser.parse_args(argv)
    figures = generate(args.out)
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
