"""Kling's 46 TTS voice ids, each mapped to an espeak-ng voice and variant.

Kling's voices are recordings of people; espeak-ng is a formant synthesizer with a handful of
accents and voice variants (``voices/!v`` in its data). Each id is read for what it names
(``uk_`` a British speaker, ``laopopo`` 老婆婆 an old woman, ``mengwa`` 萌娃 a cute child,
``genshin_klee2`` the child Klee of Genshin Impact) and matched, as well as espeak allows, on:

- **accent** (``english``): espeak's British English ``en`` (or Received Pronunciation
  ``en-gb-x-rp``) for the ``uk_`` voices and Peppa Pig, American ``en-us`` for the rest. With
  ``voice_language="zh"`` every voice speaks espeak's Mandarin ``cmn``: espeak has no dialect
  voices, so the regional ones (Dongbei, Chongqing, Sichuan, Tianjin) keep only their
  gender and age.
- **gender and age** (``variant``): a male ``m1``-``m8`` or female ``f1``-``f5`` variant, or
  ``grandpa`` and ``grandma`` (slow, shaky) for the elderly. Children use a female variant
  (a short vocal tract has high formants, as a woman's does, only more so) at a high pitch.
- **pitch** and **pitch range** (espeak's 0-100 scale, 50 normal): low and flat for deep
  or calm voices, high and lively for children and cartoon characters.
- **tempo**: a factor on the rate for slow storytellers and the elderly; ``voice_speed``
  multiplies it.

The persona strings say how each id was read; ids that name no one (``chat_0407_5-1``) are
guesses, said so there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

Gender = Literal["male", "female"]
Age = Literal["child", "young", "adult", "elderly"]

#: espeak-ng voice names (files under ``espeak-ng-data/lang``) that every version resolves.
AMERICAN = "en-us"
BRITISH = "en"  # espeak's plain English is British
RECEIVED = "en-gb-x-rp"  # British Received Pronunciation
MANDARIN = "cmn"


@dataclass(frozen=True)
class KlingVoice:
    """One Kling voice id and the espeak-ng settings that stand in for it."""

    voice_id: str
    persona: str
    gender: Gender
    age: Age
    variant: str  # espeak variant file in voices/!v
    english: str = AMERICAN  # espeak voice for voice_language "en"
    pitch: int = 50  # espeakPITCH, 0-100
    pitch_range: int = 50  # espeakRANGE, 0-100
    tempo: float = 1.0  # times the rate that voice_speed asks for

    def espeak_voice(self, language: str) -> str:
        """The ``name+variant`` that ``espeak_SetVoiceByName`` takes for ``en`` or ``zh``."""
        base = MANDARIN if language == "zh" else self.english
        return f"{base}+{self.variant}"


def _v(
    voice_id: str,
    persona: str,
    gender: Gender,
    age: Age,
    variant: str,
    english: str = AMERICAN,
    pitch: int = 50,
    pitch_range: int = 50,
    tempo: float = 1.0,
) -> KlingVoice:
    return KlingVoice(voice_id, persona, gender, age, variant, english, pitch, pitch_range, tempo)


# fmt: off
_ALL = (
    # Kling's own order (fal's enum).
    _v("genshin_vindi2", "Genshin's Venti: a light, youthful male bard", "male", "young",
       "m3", pitch=64, pitch_range=65),
    _v("zhinen_xuesheng", "稚嫩学生, a tender-voiced boy student", "male", "young",
       "m3", pitch=72, pitch_range=60, tempo=1.05),
    _v("AOT", "Attack on Titan: an intense young man", "male", "young",
       "m1", pitch=55, pitch_range=70, tempo=1.05),
    _v("ai_shatang", "砂糖 (sugar): a sweet young woman", "female", "young",
       "f5", pitch=64, pitch_range=60),
    _v("genshin_klee2", "Genshin's Klee: a bubbly little girl", "female", "child",
       "f5", pitch=94, pitch_range=80, tempo=1.05),
    _v("genshin_kirara", "Genshin's Kirara: a cheerful young woman", "female", "young",
       "f3", pitch=70, pitch_range=65),
    _v("ai_kaiya", "凯亚, Genshin's Kaeya: a smooth adult man", "male", "adult",
       "m7", pitch=45, pitch_range=45),
    _v("oversea_male1", "an overseas (English-speaking) adult man", "male", "adult",
       "m1", pitch=46),
    _v("ai_chenjiahao_712", "陈嘉豪, a young man", "male", "young",
       "m6", pitch=54),
    _v("girlfriend_4_speech02", "a girlfriend: a soft young woman", "female", "young",
       "f2", pitch=62, pitch_range=55),
    _v("chat1_female_new-3", "a chatting woman, gentle", "female", "adult",
       "f1", pitch=56, pitch_range=45),
    _v("chat_0407_5-1", "a chat voice; read as a young woman (the id names no one)",
       "female", "young", "f4", pitch=58, pitch_range=55),
    _v("cartoon-boy-07", "a cartoon boy", "male", "child",
       "f2", pitch=86, pitch_range=80, tempo=1.05),
    _v("uk_boy1", "a British boy", "male", "child",
       "f2", BRITISH, pitch=80, pitch_range=65),
    _v("cartoon-girl-01", "a cartoon girl", "female", "child",
       "f5", pitch=96, pitch_range=85, tempo=1.05),
    _v("PeppaPig_platform", "Peppa Pig: a British little girl", "female", "child",
       "f5", BRITISH, pitch=90, pitch_range=75),
    _v("ai_huangzhong_712", "黄忠 Huang Zhong, a veteran general: an old, strong man",
       "male", "elderly", "grandpa", pitch=38, pitch_range=55, tempo=0.95),
    _v("ai_huangyaoshi_712", "黄药师 Huang Yaoshi, a martial-arts master: a deep adult man",
       "male", "adult", "m4", pitch=38, pitch_range=45),
    _v("ai_laoguowang_712", "老国王, an old king", "male", "elderly",
       "grandpa", pitch=34, pitch_range=45, tempo=0.9),
    _v("chengshu_jiejie", "成熟姐姐, a mature elder sister", "female", "adult",
       "f4", pitch=46, pitch_range=45),
    _v("you_pingjing", "平静, a calm woman", "female", "adult",
       "f1", pitch=48, pitch_range=35, tempo=0.95),
    _v("calm_story1", "a calm storyteller (man)", "male", "adult",
       "m2", pitch=44, pitch_range=40, tempo=0.9),
    _v("uk_man2", "a British man", "male", "adult",
       "m1", RECEIVED, pitch=46),
    _v("laopopo_speech02", "老婆婆, an old woman", "female", "elderly",
       "grandma", pitch=54, pitch_range=55, tempo=0.9),
    _v("heainainai_speech02", "和蔼奶奶, a kindly grandmother", "female", "elderly",
       "grandma", pitch=48, pitch_range=40, tempo=0.9),
    _v("reader_en_m-v1", "an English reader (man)", "male", "adult",
       "m2", pitch=46, pitch_range=45, tempo=0.95),
    _v("commercial_lady_en_f-v1", "an English commercial (advertising) woman", "female",
       "adult", "f2", pitch=56, pitch_range=65, tempo=1.05),
    _v("tiyuxi_xuedi", "体育系学弟, a sporty junior student (young man)", "male", "young",
       "m3", pitch=58, pitch_range=60, tempo=1.05),
    _v("tiexin_nanyou", "贴心男友, a caring boyfriend", "male", "young",
       "m7", pitch=50, pitch_range=45),
    _v("girlfriend_1_speech02", "a girlfriend: a young woman", "female", "young",
       "f2", pitch=66, pitch_range=60),
    _v("girlfriend_2_speech02", "a girlfriend: a young woman, softer", "female", "young",
       "f3", pitch=60, pitch_range=50),
    _v("zhuxi_speech02", "主席 (chairman): an authoritative older man", "male", "adult",
       "m4", pitch=40, pitch_range=40, tempo=0.95),
    _v("uk_oldman3", "a British old man", "male", "elderly",
       "grandpa", RECEIVED, pitch=38, pitch_range=45, tempo=0.9),
    _v("dongbeilaotie_speech02", "东北老铁, a hearty man from the Northeast", "male", "adult",
       "m1", pitch=48, pitch_range=65, tempo=1.05),
    _v("chongqingxiaohuo_speech02", "重庆小伙, a young man from Chongqing", "male", "young",
       "m3", pitch=56, pitch_range=60, tempo=1.05),
    _v("chuanmeizi_speech02", "川妹子, a young woman from Sichuan", "female", "young",
       "f5", pitch=68, pitch_range=65),
    _v("chaoshandashu_speech02", "潮汕大叔, a middle-aged man from Chaoshan", "male", "adult",
       "m4", pitch=42, pitch_range=50),
    _v("ai_taiwan_man2_speech02", "a man from Taiwan, soft-spoken", "male", "adult",
       "m6", pitch=52, pitch_range=45),
    _v("xianzhanggui_speech02", "西安掌柜, a shopkeeper from Xi'an (middle-aged man)", "male",
       "adult", "m2", pitch=44, pitch_range=55),
    _v("tianjinjiejie_speech02", "天津姐姐, an elder sister from Tianjin", "female", "adult",
       "f4", pitch=54, pitch_range=65),
    _v("diyinnansang_DB_CN_M_04-v2", "低音男嗓, a deep bass man", "male", "adult",
       "m8", pitch=24, pitch_range=35),
    _v("yizhipiannan-v1", "a young man (the id's 男); the rest of it is a guess", "male",
       "young", "m6", pitch=56, pitch_range=50),
    _v("guanxiaofang-v2", "关小芳, a young woman", "female", "young",
       "f1", pitch=60, pitch_range=55),
    _v("tianmeixuemei-v1", "甜美学妹, a sweet junior schoolgirl", "female", "young",
       "f5", pitch=76, pitch_range=65),
    _v("daopianyansang-v1", "刀片烟嗓, a raspy, smoky voice; read as a man", "male", "adult",
       "croak", pitch=42, pitch_range=45),
    _v("mengwa-v1", "萌娃, a cute small child", "female", "child",
       "f5", pitch=98, pitch_range=85, tempo=1.05),
)
# fmt: on

#: Every voice by id, in Kling's order.
VOICES: Mapping[str, KlingVoice] = MappingProxyType({v.voice_id: v for v in _ALL})
#: Kling's voice ids, in Kling's order (fal's ``voice_id`` enum).
VOICE_IDS: tuple[str, ...] = tuple(VOICES)
#: The TTS endpoint's default voice.
DEFAULT_VOICE_ID = "genshin_vindi2"
